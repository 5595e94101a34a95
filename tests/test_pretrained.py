"""The encoders shipped in the package give the accuracy their cards record."""

import pytest

from siamese_tutorial import available_pretrained, load_pretrained
from siamese_tutorial.omniglot import load_one_shot_runs
from siamese_tutorial.evaluation import one_shot_accuracy

CARDS = available_pretrained()


def test_the_book_s_two_encoders_are_shipped():
    assert {"triplet", "contrastive"} <= set(CARDS)


@pytest.mark.parametrize("name", sorted(CARDS))
def test_shipped_encoder_gives_its_recorded_accuracy(name):
    card = CARDS[name]
    encoder = load_pretrained(name)
    runs = load_one_shot_runs(image_size=card["config"]["image_size"], download=False)
    result = one_shot_accuracy(encoder, runs, shifts=card["runs"].get("shifts", 0))
    assert result.total == card["runs"]["total"] == 400
    assert result.correct == card["runs"]["correct"]
    assert card["command"].startswith("python -m siamese_tutorial train ")


def test_unknown_name_lists_the_shipped_ones():
    with pytest.raises(ValueError, match=r"No pretrained encoder named 'resnet' in .*weights; there are \['contrastive'"):
        load_pretrained("resnet")
