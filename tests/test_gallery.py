"""Tests of siamese_tutorial.gallery: enrolling, identifying, verifying, saving, and the open-set threshold."""

import re

import pytest
import torch
from torch import nn

from siamese_tutorial.data import LabelledImages
from siamese_tutorial.gallery import (
    UNKNOWN,
    Gallery,
    calibrate_open_set,
    encoder_fingerprint,
)
from siamese_tutorial.models import ConvEncoder
from siamese_tutorial.open_set import calibrate_open_set_sizes


class Pixels(nn.Module):
    """An 'encoder' whose embedding is the image's first 4 pixels: distances are easy to work out."""

    in_channels, image_size, normalize = 1, 4, False

    def forward(self, x):
        return x.flatten(1)[:, :4]


class CountingPixels(Pixels):
    """Pixels that counts the images it embeds."""

    images = 0

    def forward(self, x):
        self.images += len(x)
        return super().forward(x)


def image(*values):
    x = torch.zeros(1, 4, 4)
    x.view(-1)[: len(values)] = torch.tensor(values, dtype=torch.float32)
    return x


def test_enrol_identify_verify_by_hand():
    gallery = Gallery(Pixels(), threshold=1.0)
    gallery.enrol(
        "a", torch.stack([image(0, 0), image(2, 0)])
    )  # prototype (1, 0): the mean embedding
    gallery.enrol("b", image(10, 0))
    assert (
        gallery.names == ["a", "b"]
        and gallery.counts == [2, 1]
        and len(gallery) == 2
        and "a" in gallery
    )
    queries = torch.stack(
        [image(1, 0.5), image(9.5, 0), image(5, 0), image(1.9, 0)]
    )
    torch.testing.assert_close(
        gallery.distances(queries)[:, 0], torch.tensor([0.5, 8.5, 4.0, 0.9])
    )
    assert gallery.identify(queries) == ["a", "b", UNKNOWN, "a"]
    assert gallery.nearest(queries)[0] == [
        "a",
        "b",
        "a",
        "a",
    ]  # whatever the threshold
    assert gallery.verify(queries, "a").tolist() == [True, False, False, True]
    assert gallery.verify(image(1, 1), "a").tolist() == [
        True
    ]  # at the threshold: accepted
    gallery.remove("a")
    assert gallery.names == ["b"] and gallery.identify(image(1, 0)) == [
        UNKNOWN
    ]


def test_enrolling_changes_nothing_in_the_encoder():
    torch.manual_seed(0)
    encoder = ConvEncoder(
        width=4, blocks=2, embedding_dim=6, normalize=True, image_size=8
    )
    before = encoder_fingerprint(encoder)
    gallery = Gallery(encoder, threshold=0.5)
    gallery.enrol("x", torch.rand(3, 1, 8, 8))
    assert (
        encoder_fingerprint(encoder) == before and encoder.training
    )  # mode restored too


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda g: g.enrol("", image(1)), "non-empty string"),
        (lambda g: g.enrol("a", image(1)), "'a' is already enrolled"),
        (lambda g: g.enrol(UNKNOWN, image(1)), "the answer for strangers"),
        (lambda g: g.enrol("c", torch.zeros(0, 1, 4, 4)), "non-empty stack"),
        (
            lambda g: g.enrol("c", torch.zeros(2, 1, 8, 8)),
            r"have shape \(1, 8, 8\) but the encoder takes \(1, 4, 4\)",
        ),
        (
            lambda g: g.enrol("c", torch.zeros(2, 3, 4, 4)),
            "resize them to 4 x 4",
        ),
        (
            lambda g: g.verify(image(1), "z"),
            r"'z' is not enrolled; the gallery has \['a'\]",
        ),
    ],
)
def test_bad_input_gets_a_clear_error(call, message):
    gallery = Gallery(Pixels(), threshold=1.0)
    gallery.enrol("a", image(1))
    with pytest.raises(ValueError, match=message):
        call(gallery)


def test_an_empty_gallery_or_no_threshold_says_what_to_do():
    with pytest.raises(
        ValueError, match="the gallery is empty; enrol a class first"
    ):
        Gallery(Pixels(), threshold=1.0).identify(image(1))
    gallery = Gallery(Pixels())
    gallery.enrol("a", image(1))
    with pytest.raises(
        ValueError, match="no threshold; set one from calibrate_open_set"
    ):
        gallery.identify(image(1))


def test_save_and_load_round_trip_and_refuse_another_encoder(tmp_path):
    torch.manual_seed(0)
    encoder = ConvEncoder(
        width=4, blocks=2, embedding_dim=6, normalize=True, image_size=8
    )
    gallery = Gallery(encoder, threshold=0.7, shifts=1)
    gallery.enrol("x", torch.rand(2, 1, 8, 8))
    gallery.enrol("y", torch.rand(1, 1, 8, 8))
    gallery.save(tmp_path / "g.pt")
    loaded = Gallery.load(tmp_path / "g.pt", encoder)
    assert (
        loaded.names == ["x", "y"]
        and loaded.threshold == 0.7
        and loaded.shifts == 1
    )
    queries = torch.rand(4, 1, 8, 8)
    assert loaded.identify(queries) == gallery.identify(queries)
    other = ConvEncoder(
        width=4, blocks=2, embedding_dim=6, normalize=True, image_size=8
    )
    with pytest.raises(ValueError, match="was made with another encoder"):
        Gallery.load(tmp_path / "g.pt", other)
    (tmp_path / "bad.pt").write_bytes(b"not a gallery")
    with pytest.raises(
        ValueError, match="is not a gallery written by siamese_tutorial"
    ):
        Gallery.load(tmp_path / "bad.pt", encoder)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="is not a gallery"):
        Gallery.load(tmp_path / "other.pt", encoder)
    with pytest.raises(FileNotFoundError, match="no gallery at"):
        Gallery.load(tmp_path / "missing.pt", encoder)


def clusters(classes=12, per_class=5, spread=0.1, seed=0):
    """Classes at random points of the plane (embedding = the first pixels), drawings scattered around them."""
    generator = torch.Generator().manual_seed(seed)
    centres = 10 * torch.rand(classes, 2, generator=generator)
    labels = torch.arange(classes).repeat_interleave(per_class)
    points = centres[labels] + spread * torch.randn(
        len(labels), 2, generator=generator
    )
    images = torch.zeros(len(labels), 1, 4, 4)
    images.view(len(labels), -1)[:, :2] = points
    return LabelledImages(
        images,
        labels,
        [f"c{c}" for c in range(classes)],
        ["all"],
        torch.zeros(classes, dtype=torch.int64),
    )


def test_calibration_on_separable_classes_finds_a_threshold_with_no_errors():
    calibration = calibrate_open_set(
        Pixels(), clusters(spread=0.05), gallery_size=5, trials=10
    )
    assert calibration.rates == {
        "false_accept": 0.0,
        "false_reject": 0.0,
        "misidentified": 0.0,
    }
    assert (
        calibration.curve.num_genuine == 10 * 5 * 4
        and calibration.curve.num_strangers == 10 * 7 * 5
    )
    # the threshold sits between the genuine distances (< 0.4) and the strangers' (the nearest other class)
    assert 0.1 < calibration.threshold < 3


def test_calibration_trades_false_accepts_for_false_rejects():
    data = clusters(spread=0.6, seed=1)
    balanced = calibrate_open_set(Pixels(), data, gallery_size=6, trials=20)
    strict = calibrate_open_set(
        Pixels(), data, gallery_size=6, trials=20, max_false_accept=0.01
    )
    assert strict.threshold < balanced.threshold
    assert (
        strict.rates["false_accept"] <= 0.01 < balanced.rates["false_accept"]
    )
    assert strict.rates["false_reject"] > balanced.rates["false_reject"]


def test_calibration_of_several_sizes_is_each_size_calibrated_alone():
    """Embedding once for all sizes changes nothing: each is what its own call chooses."""
    data = clusters(spread=0.6, seed=2)
    counted = CountingPixels()
    chosen = calibrate_open_set_sizes(
        counted, data, [1, 3, 6], trials=8, seed=4
    )
    assert list(chosen) == [1, 3, 6] and counted.images == len(data.labels)
    for size, calibration in chosen.items():
        alone = calibrate_open_set(
            Pixels(), data, gallery_size=size, trials=8, seed=4
        )
        assert calibration.gallery_size == size
        assert calibration.threshold == alone.threshold
        assert calibration.rates == alone.rates
    with pytest.raises(ValueError, match="more than gallery_size=12 classes"):
        calibrate_open_set_sizes(Pixels(), clusters(classes=12), [2, 12])


def test_calibration_needs_strangers():
    with pytest.raises(ValueError, match="more than gallery_size=12 classes"):
        calibrate_open_set(Pixels(), clusters(classes=12), gallery_size=12)


# ----------------------------------------------------------------------------- nothing saved that cannot load


@pytest.mark.parametrize(
    "value, message",
    [
        (
            lambda: __import__("pathlib").Path("/data/pics"),
            r"gallery.meta\['source'\] is a pathlib.*PosixPath",
        ),
        (
            lambda: __import__("numpy").float64(0.25),
            r"gallery.meta\['source'\] is a numpy.float64",
        ),
        (
            lambda: {"rates": [0.1, float("nan")]},
            r"gallery.meta\['source'\]\['rates'\]\[1\] is nan",
        ),
        (lambda: {1: "a"}, "has the key 1, a int; keys must be strings"),
    ],
)
def test_a_meta_that_would_not_load_back_is_refused_and_the_good_file_kept(
    tmp_path, value, message
):
    # Before: saved, replacing the good file, then refused by Gallery.load (UnpicklingError).
    gallery = Gallery(Pixels(), threshold=1.0, meta={"model": "m.pt"})
    gallery.enrol("a", image(1))
    gallery.save(tmp_path / "g.pt")
    before = (tmp_path / "g.pt").read_bytes()
    gallery.meta["source"] = value()
    with pytest.raises(ValueError, match=message):
        gallery.save(tmp_path / "g.pt")
    assert (tmp_path / "g.pt").read_bytes() == before
    assert Gallery.load(tmp_path / "g.pt", Pixels()).meta == {"model": "m.pt"}


def test_a_numpy_threshold_is_kept_as_a_plain_float(tmp_path):
    import numpy as np

    gallery = Gallery(Pixels(), threshold=np.float32(0.5), shifts=0)
    gallery.enrol("a", image(1))
    gallery.save(tmp_path / "g.pt")
    loaded = Gallery.load(tmp_path / "g.pt", Pixels())
    assert type(loaded.threshold) is float and loaded.threshold == 0.5


# ----------------------------------------------------------------------------- never silently wrong


@pytest.mark.parametrize(
    "threshold", [float("nan"), float("inf"), -1.0, "0.5"]
)
def test_a_threshold_must_be_a_finite_distance(threshold):
    # Before: NaN rejected everyone and inf accepted everyone, without a word.
    with pytest.raises(
        ValueError, match="the threshold must be a finite number >= 0"
    ):
        Gallery(Pixels(), threshold=threshold)
    gallery = Gallery(Pixels(), threshold=1.0)
    with pytest.raises(
        ValueError, match="the threshold must be a finite number"
    ):
        gallery.threshold = threshold
    assert gallery.threshold == 1.0


@pytest.mark.parametrize(
    "name",
    [
        "Unknown",
        "UNKNOWN",
        " unknown",
        "unknown ",
        "alice\nbob",
        "tab\there",
        " alice",
    ],
)
def test_names_that_read_like_the_strangers_answer_or_break_lines_are_refused(
    name,
):
    gallery = Gallery(Pixels(), threshold=1.0)
    with pytest.raises(
        ValueError,
        match="reads like 'unknown'|spaces around it or characters that do not print",
    ):
        gallery.enrol(name, image(1))
    assert not gallery.names
    gallery.enrol(
        "Ünknöwn-α/2", image(1)
    )  # any other printable name is fine, slashes too: it is no path


def test_integer_images_are_refused_with_what_to_pass():
    # Before: uint8 images 0..255 were embedded as is; the same picture as floats was then "unknown".
    gallery = Gallery(Pixels(), threshold=1.0)
    with pytest.raises(
        ValueError,
        match=r"the images of 'a' are uint8; pass floats in \[0, 1\] \(e.g. images / 255",
    ):
        gallery.enrol("a", (255 * image(1)).to(torch.uint8))
    gallery.enrol("a", image(1))
    with pytest.raises(ValueError, match="the images are int64; pass floats"):
        gallery.identify(torch.ones(1, 4, 4, dtype=torch.int64))


def test_nan_images_or_embeddings_are_errors_not_unknown():
    gallery = Gallery(Pixels(), threshold=1.0)
    with pytest.raises(
        FloatingPointError, match="the images of 'a': 1 of 16 values are NaN"
    ):
        gallery.enrol("a", image(float("nan")))
    assert not gallery.names
    gallery.enrol("a", image(1))
    with pytest.raises(
        FloatingPointError, match="the images: 1 of 16 values are NaN"
    ):
        gallery.identify(image(float("nan")))

    class Broken(Pixels):
        def forward(self, x):
            return torch.full((len(x), 4), float("nan"))

    broken = Gallery(Broken(), threshold=1.0)
    with pytest.raises(
        FloatingPointError,
        match="the encoder's embeddings: 4 of 4 values are NaN",
    ):
        broken.enrol("a", image(1))


@pytest.mark.parametrize(
    "damage, message",
    [
        ("nan threshold", "threshold must be a finite number"),
        ("nan prototype", "its prototypes hold NaN or infinite values"),
        (
            "names and prototypes",
            "its names, counts and prototypes do not match",
        ),
    ],
)
def test_a_damaged_gallery_file_does_not_answer(tmp_path, damage, message):
    # Before: a gallery with a NaN threshold or prototype still answered (always "unknown").
    gallery = Gallery(Pixels(), threshold=1.0)
    gallery.enrol("a", image(1))
    gallery.enrol("b", image(5))
    gallery.save(tmp_path / "g.pt")
    content = torch.load(tmp_path / "g.pt", weights_only=True)
    if damage == "nan threshold":
        content["threshold"] = float("nan")
    elif damage == "nan prototype":
        content["prototypes"][1, 0] = float("nan")
    else:
        content["names"] = ["a"]
    torch.save(content, tmp_path / "g.pt")
    with pytest.raises(
        ValueError,
        match=f"g.pt is damaged .*{message}.*; delete it and enrol again",
    ):
        Gallery.load(tmp_path / "g.pt", Pixels())


@pytest.mark.parametrize(
    "names, counts, message",
    [
        (
            [
                "alice",
                "bob: unknown (nearest 'x' at 0.100; threshold 0.500)\nmallory",
            ],
            [1, 1],
            "characters that do not print",
        ),
        (["alice", "unknown"], [1, 1], "reads like 'unknown'"),
        (["alice", 2], [1, 1], "non-empty string; got 2"),
        (["alice", "alice"], [1, 1], "the name(s) 'alice' more than once"),
        (["alice", "bob"], [1, -3], "enrolled from -3 pictures"),
        (["alice", "bob"], [1, True], "enrolled from True pictures"),
        ("ab", [1, 1], "do not match"),
    ],
)
def test_a_gallery_file_whose_names_were_edited_does_not_answer(
    tmp_path, names, counts, message
):
    # Issue 36, 6: a name with a line break forged an output line, a name 'unknown' printed an enrolled match as a
    # stranger, and integer or repeated names and negative counts were answered as if they were fine.
    gallery = Gallery(Pixels(), threshold=1.0)
    gallery.enrol("alice", image(1))
    gallery.enrol("bob", image(5))
    gallery.save(tmp_path / "g.pt")
    content = torch.load(tmp_path / "g.pt", weights_only=True)
    content["names"], content["counts"] = names, counts
    torch.save(content, tmp_path / "g.pt")
    with pytest.raises(
        ValueError,
        match=rf"g.pt is damaged or was edited \(.*{re.escape(message)}.*\); delete it",
    ):
        Gallery.load(tmp_path / "g.pt", Pixels())


def test_a_gallery_of_a_newer_version_says_to_upgrade_not_to_delete_it(
    tmp_path,
):
    gallery = Gallery(Pixels(), threshold=1.0)
    gallery.enrol("alice", image(1))
    gallery.save(tmp_path / "g.pt")
    content = torch.load(tmp_path / "g.pt", weights_only=True)
    content["format"] = "siamese_tutorial.gallery/2"
    torch.save(content, tmp_path / "g.pt")
    with pytest.raises(
        ValueError,
        match=r"a gallery of a newer format \(siamese_tutorial.gallery/2\) than .* reads "
        r"\(siamese_tutorial.gallery/1\); upgrade siamese_tutorial to use it",
    ):
        Gallery.load(tmp_path / "g.pt", Pixels())
    content["format"] = "siamese_tutorial.gallery/0"
    torch.save(content, tmp_path / "g.pt")
    with pytest.raises(
        ValueError,
        match=r"an older format .* no longer reads; delete it and enrol again",
    ):
        Gallery.load(tmp_path / "g.pt", Pixels())


def test_a_long_gallery_is_never_listed_whole_in_a_message():
    gallery = Gallery(Pixels(), threshold=1.0)
    for i in range(2000):
        gallery.names.append(f"class{i:04d}")
    with pytest.raises(ValueError) as refused:
        gallery.index("nobody")
    assert (
        "'class0009' and 1,990 more" in str(refused.value)
        and len(str(refused.value)) < 250
    )
