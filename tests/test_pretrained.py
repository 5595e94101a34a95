"""The encoders shipped in the package give the accuracy their cards record, and belong to their cards."""

import shutil

import pytest

from siamese_tutorial import available_pretrained, load_pretrained
from siamese_tutorial.evaluation import one_shot_accuracy
from siamese_tutorial.omniglot import load_one_shot_runs
from siamese_tutorial.pretrained import PRETRAINED_DIR

CARDS = available_pretrained()


def test_the_book_s_encoders_are_shipped():
    assert {"triplet", "contrastive", "triplet_long"} <= set(CARDS)


@pytest.mark.parametrize("name", sorted(CARDS))
def test_shipped_encoder_gives_its_recorded_accuracy(name):
    card = CARDS[name]
    encoder = load_pretrained(name)
    runs = load_one_shot_runs(
        image_size=card["config"]["image_size"], download=False
    )
    result = one_shot_accuracy(encoder, runs, shifts=card["runs"]["shifts"])
    assert result.total == card["runs"]["total"] == 400
    assert result.correct == card["runs"]["correct"]
    assert (
        card["command"].startswith("python -m siamese_tutorial train ")
        and "--minutes" not in card["command"]
    )
    assert (
        card["steps_trained"] == card["config"]["steps"]
    )  # step-bounded: the schedule ran to its end


def test_unknown_name_lists_the_shipped_ones():
    with pytest.raises(
        ValueError,
        match=r"No pretrained encoder named 'resnet' in .*weights; there are \['contrastive'",
    ):
        load_pretrained("resnet")
    with pytest.raises(ValueError, match="plain name"):
        load_pretrained("../weights/triplet")


def test_weights_that_are_not_their_card_s_are_refused(tmp_path):
    for suffix in (".pt", ".json"):
        shutil.copy(
            PRETRAINED_DIR / f"triplet{suffix}", tmp_path / f"mine{suffix}"
        )
    load_pretrained("mine", tmp_path)
    shutil.copy(PRETRAINED_DIR / "contrastive.pt", tmp_path / "mine.pt")
    with pytest.raises(
        ValueError, match="is not the checkpoint its card mine.json describes"
    ):
        load_pretrained("mine", tmp_path)
    (tmp_path / "mine.pt").unlink()
    with pytest.raises(ValueError, match="is missing beside its card"):
        load_pretrained("mine", tmp_path)
