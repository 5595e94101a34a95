"""siamese_tutorial.data: labelled image sets, P x K batches, pairs, triplets, episodes, augmentation."""

import math
from collections import Counter

import pytest
import torch

from siamese_tutorial.data import (
    PKSampler,
    affine,
    random_affine,
    random_pairs,
    random_triplets,
    with_reflections,
    with_rotations,
)
from siamese_tutorial.omniglot import load_omniglot
from siamese_tutorial.recipe import TrainConfig

# ----------------------------------------------------------------------------- sampling


def test_pk_sampler_batches():
    labels = torch.arange(10).repeat_interleave(
        torch.tensor([5, 5, 5, 5, 5, 5, 5, 5, 2, 3])
    )
    sampler = PKSampler(labels, p=4, k=3, num_batches=50, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 50
    for batch in batches:
        assert len(batch) == 12 and len(set(batch)) == 12
        counts = Counter(labels[batch].tolist())
        assert len(counts) == 4 and set(counts.values()) == {3}
        assert 8 not in counts  # class 8 has only 2 images
    # Every eligible class gets drawn, and the same seed gives the same batches.
    assert {c for b in batches for c in labels[b].tolist()} == set(
        range(10)
    ) - {8}
    assert list(PKSampler(labels, p=4, k=3, num_batches=50, seed=1)) == batches
    assert list(PKSampler(labels, p=4, k=3, num_batches=50, seed=2)) != batches


@pytest.mark.parametrize("p, groups_per_batch", [(4, 1), (6, 2), (8, 2)])
def test_pk_sampler_with_groups_draws_from_as_few_groups_as_possible(
    p, groups_per_batch
):
    labels = torch.arange(12).repeat_interleave(3)  # 12 classes of 3 images
    groups = torch.tensor(
        [7, 7, 7, 7, 2, 2, 2, 2, 5, 5, 5, 5]
    )  # 3 groups of 4 classes
    batches = list(
        PKSampler(
            labels, p=p, k=2, num_batches=60, seed=0, class_groups=groups
        )
    )
    seen_groups = set()
    for batch in batches:
        classes = set(labels[batch].tolist())
        batch_groups = Counter(groups[c].item() for c in classes)
        assert len(classes) == p and len(batch_groups) == groups_per_batch
        assert sorted(batch_groups.values())[1:] == [4] * (
            groups_per_batch - 1
        )  # all but one group whole
        seen_groups.update(batch_groups)
    assert seen_groups == {2, 5, 7}
    with pytest.raises(ValueError, match="an entry for every label 0 .. 11"):
        PKSampler(labels, p=4, k=2, num_batches=1, class_groups=groups[:5])


def test_pk_sampler_errors():
    labels = torch.tensor([0, 0, 1, 1, 2])
    with pytest.raises(
        ValueError,
        match="needs 3 classes with at least 2 images each, but only 2",
    ):
        PKSampler(labels, p=3, k=2, num_batches=1)
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        PKSampler(labels, p=0, k=2, num_batches=1)


def test_random_pairs_are_balanced_and_labelled_like_hadsell():
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3])
    g = torch.Generator().manual_seed(0)
    i, j, y = random_pairs(labels, 1001, generator=g)
    assert (y == 0).sum() == 501 and (y == 1).sum() == 500
    assert torch.equal(
        y, (labels[i] != labels[j]).long()
    )  # 0 = similar, 1 = dissimilar
    assert (i != j).all()
    assert (
        5 not in i[y == 0].tolist()
    )  # class 2 has one image: never in a similar pair


def test_random_triplets_are_valid():
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    a, p, n = random_triplets(
        labels, 500, generator=torch.Generator().manual_seed(0)
    )
    assert (labels[a] == labels[p]).all() and (a != p).all()
    assert (labels[a] != labels[n]).all()
    assert set(n.tolist()) == set(range(6))


def test_sampling_errors():
    with pytest.raises(ValueError, match="no positive"):
        random_pairs(torch.tensor([0, 1, 2]), 4)
    with pytest.raises(ValueError, match="no negative"):
        random_triplets(torch.tensor([3, 3, 3]), 4)
    with pytest.raises(ValueError, match="1-D"):
        random_pairs(torch.zeros(2, 2, dtype=torch.long), 4)


# ----------------------------------------------------------------------------- augmentation


def test_with_rotations():
    ds = load_omniglot("background_small1", image_size=28, download=False)
    rotated = with_rotations(ds)
    assert rotated.num_classes == 4 * ds.num_classes and len(
        rotated
    ) == 4 * len(ds)
    n, c = len(ds), ds.num_classes
    torch.testing.assert_close(
        rotated.images[2 * n + 7], torch.rot90(ds.images[7], 2, dims=(1, 2))
    )
    assert rotated.labels[2 * n + 7] == ds.labels[7] + 2 * c
    assert rotated.class_names[c + 3] == ds.class_names[3] + "@rot90"
    a = len(ds.group_names)
    assert torch.equal(rotated.group_labels[3 * n :], ds.group_labels + 3 * a)
    assert rotated.group_names[a + 1] == ds.group_names[1] + "@rot90"


def test_with_reflections_then_rotations_gives_the_8_symmetries_of_the_square():
    ds = load_omniglot("background_small1", image_size=28, download=False)
    n, c, a = len(ds), ds.num_classes, len(ds.group_names)
    mirrored = with_reflections(ds)
    assert mirrored.num_classes == 2 * c and len(mirrored) == 2 * n
    torch.testing.assert_close(mirrored.images[n + 5], ds.images[5].flip(-1))
    torch.testing.assert_close(mirrored.images[:n], ds.images)
    assert mirrored.labels[n + 5] == ds.labels[5] + c
    assert mirrored.class_names[c + 3] == ds.class_names[3] + "@mirror"
    assert mirrored.group_names[a + 1] == ds.group_names[1] + "@mirror"
    assert torch.equal(mirrored.drawers, ds.drawers.repeat(2))
    square = with_rotations(mirrored)
    assert square.num_classes == 8 * c
    # copy r * 2 + m of the data set: character 0 mirrored m times, then rotated r quarter turns
    image = ds.images[0]
    for r in range(4):
        for m in range(2):
            copy = (r * 2 + m) * n
            torch.testing.assert_close(
                square.images[copy],
                torch.rot90(image.flip(-1) if m else image, r, dims=(1, 2)),
            )
            assert square.labels[copy] == ds.labels[0] + (r * 2 + m) * c
    assert (
        len({tuple(square.images[t * n].flatten().tolist()) for t in range(8)})
        == 8
    )  # 8 distinct pictures


def test_random_affine():
    images = torch.zeros(6, 1, 28, 28)
    images[:, :, 10:18, 12:16] = 1
    g = torch.Generator().manual_seed(0)
    out = random_affine(images, generator=g)
    assert out.shape == images.shape
    assert not torch.allclose(out, images)
    assert out.min() >= 0 and out.max() <= 1
    # The ink is moved, not created: its total changes only by the zoom (at most 10% per axis).
    ratio = out.sum(dim=(1, 2, 3)) / images.sum(dim=(1, 2, 3))
    assert ((ratio > 0.75) & (ratio < 1.3)).all()
    identity = random_affine(
        images, max_rotation=0, max_shear=0, scale=(1, 1), max_translation=0
    )
    torch.testing.assert_close(identity, images)
    assert (
        random_affine(torch.zeros(2, 1, 8, 8)).abs().sum() == 0
    )  # blank paper stays blank
    with pytest.raises(ValueError, match=r"\(B, C, S, S\)"):
        random_affine(torch.zeros(28, 28))


def test_affine_moves_the_drawing_as_documented():
    images = torch.zeros(1, 1, 11, 11)
    images[0, 0, 1, 5] = 1  # one dot at the top, in the middle
    quarter_turn = affine(
        images, angle=90
    )  # counter-clockwise as drawn: the dot goes to the left
    torch.testing.assert_close(
        quarter_turn, torch.rot90(images, 1, dims=(2, 3)), atol=1e-5, rtol=0
    )
    assert (quarter_turn[0, 0] > 0.5).nonzero().tolist() == [[5, 1]]
    # positive shifts move the drawing left and up, by that fraction of the side
    for kwargs, expected in [
        ({"shift_x": 1 / 11}, torch.roll(images, -1, 3)),
        ({"shift_y": -1 / 11}, torch.roll(images, 1, 2)),
    ]:
        torch.testing.assert_close(
            affine(images, **kwargs), expected, atol=1e-5, rtol=0
        )
    larger = affine(images, zoom=1.2)  # away from the centre
    assert larger[0, 0, :1].sum() > 0 and larger[0, 0, 2:].sum() == 0
    torch.testing.assert_close(affine(images), images, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match=r"\(B, C, S, S\)"):
        affine(torch.zeros(11, 11))
    # non-finite or impossible parameters are refused, never turned into blank or NaN pictures
    for kwargs, message in [
        ({"angle": float("nan")}, "angle must be finite"),
        ({"shift_x": torch.tensor([float("inf")])}, "shift_x must be finite"),
        ({"zoom": 0.0}, "zoom must be finite and above 0"),
        (
            {"shear": torch.zeros(3)},
            r"shear must be a number or one per image, shape \(1,\)",
        ),
        (
            {"zoom": torch.tensor([1e-50], dtype=torch.float64)},
            "zoom must be finite and above 0 "
            r"in the images' dtype \(torch.float32\)",
        ),
    ]:  # 0 in float32
        with pytest.raises(ValueError, match=message):
            affine(images, **kwargs)


def test_affine_takes_one_parameter_per_image_and_random_affine_draws_them():
    images = torch.rand(3, 1, 16, 16)
    angles = torch.tensor([0.0, 90.0, -90.0])
    turned = affine(images, angle=angles)
    for image, angle in zip(range(3), angles.tolist()):
        torch.testing.assert_close(
            turned[image], affine(images[image : image + 1], angle=angle)[0]
        )
    # random_affine draws angle, shear, zoom and the two shifts, in that order, then applies affine
    g = torch.Generator().manual_seed(4)
    u = torch.rand(5, 3, generator=g)
    by_hand = affine(
        images,
        -10 + 20 * u[0],
        -0.15 + 0.3 * u[1],
        0.9 + 0.2 * u[2],
        -0.1 + 0.2 * u[3],
        -0.1 + 0.2 * u[4],
    )
    torch.testing.assert_close(
        random_affine(images, torch.Generator().manual_seed(4)), by_hand
    )


def test_random_affine_strength_multiplies_every_range():
    images = torch.zeros(6, 1, 28, 28)
    images[:, :, 10:18, 12:16] = 1
    torch.testing.assert_close(random_affine(images, strength=0), images)
    stronger = random_affine(
        images, torch.Generator().manual_seed(3), strength=1.5
    )
    by_hand = random_affine(
        images,
        torch.Generator().manual_seed(3),
        max_rotation=15,
        max_shear=0.225,
        scale=(0.85, 1.15),
        max_translation=0.15,
    )
    torch.testing.assert_close(stronger, by_hand)
    assert not torch.allclose(
        stronger, random_affine(images, torch.Generator().manual_seed(3))
    )
    with pytest.raises(ValueError, match="scales must stay above 0"):
        random_affine(images, strength=11)
    for kwargs, name in [
        ({"max_rotation": math.inf}, "max_rotation"),
        ({"max_translation": math.nan}, "max_translation"),
        ({"scale": (0.9, math.inf)}, "the highest scale"),
    ]:
        with pytest.raises(
            ValueError, match=f"{name} must be a finite number"
        ):
            random_affine(images, **kwargs)
    with pytest.raises(
        ValueError, match="distortion must be a finite number >= 0 and < 10"
    ):
        TrainConfig(distortion=10)


def test_a_pk_sampler_without_num_batches_is_endless_and_feeds_a_data_loader():
    from itertools import islice

    from torch.utils.data import DataLoader

    labels = torch.arange(4).repeat_interleave(3)
    sampler = PKSampler(labels, p=2, k=2, seed=0)
    assert len(list(islice(sampler, 25))) == 25
    loader = DataLoader(
        torch.arange(12), batch_sampler=PKSampler(labels, p=2, k=2, seed=0)
    )
    batch = next(iter(loader))
    assert batch.shape == (4,) and len(set(labels[batch].tolist())) == 2
    with pytest.raises(TypeError, match="without num_batches"):
        len(sampler)


def test_a_pk_sampler_takes_labels_as_a_list_or_array_and_refuses_a_missing_device():
    labels = torch.arange(4).repeat_interleave(3)
    first = next(iter(PKSampler(labels, p=2, k=2, num_batches=1)))
    assert (
        next(iter(PKSampler(labels.tolist(), p=2, k=2, num_batches=1)))
        == first
    )
    assert (
        next(iter(PKSampler(labels.numpy(), p=2, k=2, num_batches=1))) == first
    )
    assert random_pairs(labels.tolist(), 4)[2].tolist().count(0) == 2
    if not torch.cuda.is_available():
        with pytest.raises(
            ValueError, match="device 'cuda' is not available on this machine"
        ):
            PKSampler(labels, p=2, k=2, device="cuda")
    with pytest.raises(ValueError, match="is not a device"):
        PKSampler(labels, p=2, k=2, device="gpu")


def test_a_negative_number_of_pairs_or_triplets_is_refused_in_one_line():
    labels = torch.arange(3).repeat_interleave(2)
    with pytest.raises(
        ValueError, match="num_pairs must be an integer >= 0; got -2"
    ):
        random_pairs(labels, -2)
    with pytest.raises(
        ValueError, match="num_triplets must be an integer >= 0; got 1.5"
    ):
        random_triplets(labels, 1.5)
