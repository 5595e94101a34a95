"""Tests of siamese_tutorial.baselines: the Modified Hausdorff Distance and raw pixels."""

import itertools
import math

import numpy as np
import pytest
import torch

from siamese_tutorial.baselines import (
    ink_coordinates,
    mhd_cost,
    modified_hausdorff_distance,
    pixel_nearest_neighbour_cost,
)
from siamese_tutorial.evaluation import one_shot_accuracy_from_cost


def brute_force_mhd(a, b):
    """Modified Hausdorff Distance with plain Python loops (Dubuisson & Jain, 1994)."""
    a, b = a.tolist(), b.tolist()
    a_to_b = sum(min(math.dist(p, q) for q in b) for p in a) / len(a)
    b_to_a = sum(min(math.dist(p, q) for p in a) for q in b) / len(b)
    return max(a_to_b, b_to_a)


# ------------------------------------------------------------------------------------ baselines


def test_ink_coordinates_are_row_col_centred_on_their_mean():
    image = torch.zeros(1, 5, 5)
    image[0, 1, 1] = image[0, 1, 3] = image[0, 3, 2] = 1.0
    expected = torch.tensor(
        [[1, 1], [1, 3], [3, 2]], dtype=torch.float64
    ) - torch.tensor([5 / 3, 2.0])
    assert torch.allclose(ink_coordinates(image), expected)
    assert torch.allclose(ink_coordinates(image[0]), expected)


def test_ink_coordinates_rejects_blank_and_badly_shaped_images():
    with pytest.raises(ValueError, match="no ink"):
        ink_coordinates(torch.zeros(1, 5, 5))
    with pytest.raises(ValueError, match=r"\(S, S\) or \(1, S, S\)"):
        ink_coordinates(torch.ones(2, 5, 5))


def test_mhd_of_hand_built_point_sets():
    a = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=torch.float64)
    # A -> B: 0; B -> A: (0 + 5) / 2.
    assert modified_hausdorff_distance(a, b).item() == pytest.approx(2.5)
    assert modified_hausdorff_distance(b, a).item() == pytest.approx(2.5)
    assert modified_hausdorff_distance(b, b).item() == 0.0


def test_mhd_matches_a_brute_force_loop():
    generator = torch.Generator().manual_seed(0)
    for n, m in [(1, 7), (6, 6), (13, 4)]:
        a = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        b = 3 * torch.randn(m, 2, generator=generator, dtype=torch.float64) + 1
        assert modified_hausdorff_distance(a, b).item() == pytest.approx(
            brute_force_mhd(a, b), abs=1e-12
        )


def test_mhd_rejects_empty_or_badly_shaped_point_sets():
    with pytest.raises(ValueError, match="a must be a non-empty"):
        modified_hausdorff_distance(torch.zeros(0, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="b must be a non-empty"):
        modified_hausdorff_distance(torch.zeros(3, 2), torch.zeros(3))


def test_mhd_cost_matches_the_pairwise_definition_on_random_ink():
    generator = torch.Generator().manual_seed(1)
    test = (torch.rand(4, 1, 12, 12, generator=generator) > 0.8).float()
    train = (torch.rand(5, 1, 12, 12, generator=generator) > 0.7).float()
    train[0] = 0.0
    train[0, 0, 0, 11] = 1.0  # a single pixel in a corner; most rows blank
    test[0, 0, :, 0] = 1.0  # a full column at the border
    cost = mhd_cost(test, train)
    assert cost.shape == (4, 5) and cost.dtype == torch.float64
    for i, c in itertools.product(range(4), range(5)):
        expected = brute_force_mhd(
            ink_coordinates(test[i]), ink_coordinates(train[c])
        )
        assert cost[i, c].item() == pytest.approx(expected, abs=1e-12)


def test_mhd_cost_matches_the_pairwise_definition_on_real_characters(
    one_shot_runs,
):
    run = one_shot_runs[0]
    cost = mhd_cost(run.test_images[:2], run.train_images)
    for i, c in itertools.product(range(2), range(20)):
        a, b = (
            ink_coordinates(run.test_images[i]),
            ink_coordinates(run.train_images[c]),
        )
        assert cost[i, c].item() == pytest.approx(
            modified_hausdorff_distance(a, b).item(), abs=1e-9
        )


def test_mhd_cost_rejects_mismatched_or_badly_shaped_images():
    with pytest.raises(ValueError, match="same size"):
        mhd_cost(torch.ones(2, 1, 5, 5), torch.ones(2, 1, 6, 6))
    with pytest.raises(
        ValueError, match=r"train_images must have shape \(N, 1, S, S\)"
    ):
        mhd_cost(torch.ones(2, 1, 5, 5), torch.ones(2, 5, 5))


def test_mhd_reproduces_the_official_38_8_percent_error(one_shot_runs):
    """The demo of brendenlake/omniglot prints an average error of 38.75% (rounded to 38.8% in its comments)."""
    result = one_shot_accuracy_from_cost(mhd_cost, one_shot_runs)
    assert (result.correct, result.total) == (245, 400)
    assert result.error_percent == pytest.approx(38.75)
    assert np.mean(
        [100 * (1 - a) for a in result.run_accuracies]
    ) == pytest.approx(38.75)


def test_pixel_nearest_neighbour_is_a_much_weaker_baseline(one_shot_runs):
    result = one_shot_accuracy_from_cost(
        pixel_nearest_neighbour_cost, one_shot_runs
    )
    assert 1 / 20 < result.accuracy < 0.3


def test_pixel_nearest_neighbour_cost_is_the_euclidean_distance_of_pixels():
    generator = torch.Generator().manual_seed(0)
    test, train = (
        torch.rand(3, 1, 4, 4, generator=generator),
        torch.rand(2, 1, 4, 4, generator=generator),
    )
    cost = pixel_nearest_neighbour_cost(test, train)
    for i, c in itertools.product(range(3), range(2)):
        assert cost[i, c].item() == pytest.approx(
            torch.linalg.norm(test[i] - train[c]).item(), abs=1e-5
        )
