"""Tests of siamese_tutorial.verification: ROC, AUC, EER, thresholds, and open-set rates."""

import math

import numpy as np
import pytest
import sklearn.metrics
import torch

from siamese_tutorial.verification import (
    balanced_accuracy,
    choose_open_set_threshold,
    choose_threshold,
    equal_error_rate,
    open_set_curve,
    roc_auc,
    roc_curve,
    verification_accuracy,
)

# ------------------------------------------------------------------------------------ verification metrics


def test_roc_curve_of_a_hand_worked_example():
    distances = [0.1, 0.35, 0.4, 0.8]
    labels = [0, 1, 0, 1]  # similar pairs at 0.1 and 0.4
    fpr, tpr, thresholds = roc_curve(distances, labels)
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    np.testing.assert_allclose(thresholds, [-np.inf, 0.1, 0.35, 0.4, 0.8])
    assert roc_auc(distances, labels) == pytest.approx(
        0.75
    )  # 3 of the 4 (similar, dissimilar) pairs ordered


def test_roc_curve_and_auc_match_sklearn_with_ties():
    generator = np.random.default_rng(0)
    labels = generator.integers(0, 2, 200)
    distances = np.round(
        generator.normal(loc=labels.astype(float), scale=1.0), 1
    )  # rounding makes ties
    fpr, tpr, thresholds = roc_curve(
        torch.tensor(distances), torch.tensor(labels)
    )
    sk_fpr, sk_tpr, sk_thresholds = sklearn.metrics.roc_curve(
        labels == 0, -distances, drop_intermediate=False
    )
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thresholds, -sk_thresholds)
    assert roc_auc(distances, labels) == pytest.approx(
        sklearn.metrics.roc_auc_score(labels == 0, -distances)
    )


def test_auc_extremes():
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == 0.0
    assert roc_auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == 0.5


@pytest.mark.parametrize(
    "similar, dissimilar, eer",
    [
        ([0.1, 0.2], [0.5, 0.6], 0.0),  # separable
        (
            [0.1, 0.4],
            [0.35, 0.8],
            0.5,
        ),  # the ROC meets FPR = FNR at a point: (0.5, 0.5)
        (
            [1, 2, 3],
            [2.5, 4],
            1 / 3,
        ),  # on the segment (0, 1/3) -> (0.5, 1/3) of FNR: interpolated
    ],
)
def test_equal_error_rate_of_hand_worked_examples(similar, dissimilar, eer):
    distances = similar + dissimilar
    labels = [0] * len(similar) + [1] * len(dissimilar)
    assert equal_error_rate(distances, labels) == pytest.approx(eer)


def test_verification_accuracy_counts_distance_equal_to_threshold_as_similar():
    assert verification_accuracy(
        [0.1, 0.5, 0.5, 0.9], [0, 0, 1, 1], threshold=0.5
    ) == pytest.approx(0.75)
    assert (
        verification_accuracy(
            torch.tensor([0.1, 0.9]), torch.tensor([0, 1]), threshold=0.5
        )
        == 1.0
    )


def test_choose_threshold_of_a_hand_worked_example():
    distances = [0.1, 0.2, 0.5, 0.4, 0.6, 0.7]
    labels = [0, 0, 0, 1, 1, 1]
    # Cuts after 0.2 and after 0.5 both get 5 of 6 right; the smaller wins, at the midpoint of 0.2 and 0.4.
    assert choose_threshold(distances, labels) == pytest.approx(0.3)
    assert verification_accuracy(distances, labels, 0.3) == pytest.approx(
        5 / 6
    )


def test_choose_threshold_maximises_accuracy_against_a_dense_search():
    generator = np.random.default_rng(1)
    labels = generator.integers(0, 2, 100)
    distances = generator.normal(loc=labels.astype(float), scale=0.8)
    threshold = choose_threshold(distances, labels)
    best_on_grid = max(
        verification_accuracy(distances, labels, t)
        for t in np.linspace(-3, 4, 5001)
    )
    assert verification_accuracy(distances, labels, threshold) >= best_on_grid


def test_choose_threshold_at_the_ends():
    # Best: call everything dissimilar (3 of 4 right), i.e. a threshold below the smallest distance.
    low = choose_threshold([0.9, 0.1, 0.2, 0.3], [0, 1, 1, 1])
    assert (
        low < 0.1
        and verification_accuracy([0.9, 0.1, 0.2, 0.3], [0, 1, 1, 1], low)
        == 0.75
    )
    # Best: call everything similar (3 of 4 right).
    high = choose_threshold([0.1, 0.2, 0.3, 0.05], [0, 0, 0, 1])
    assert high == pytest.approx(0.3)
    assert (
        verification_accuracy([0.1, 0.2, 0.3, 0.05], [0, 0, 0, 1], high)
        == 0.75
    )


def test_verification_metrics_reject_bad_inputs():
    with pytest.raises(ValueError, match="same length"):
        roc_curve([0.1, 0.2], [0])
    with pytest.raises(ValueError, match="same length"):
        roc_auc(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(
        ValueError, match=r"0 \(similar pair\) or 1 \(dissimilar pair\)"
    ):
        verification_accuracy([0.1, 0.2], [0, 2], threshold=0.5)
    with pytest.raises(ValueError, match="both similar .* and dissimilar"):
        equal_error_rate([0.1, 0.2], [0, 0])
    with pytest.raises(ValueError, match="both similar .* and dissimilar"):
        choose_threshold([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="NaN"):
        roc_curve([0.1, math.nan], [0, 1])


# ------------------------------------------------------------------------------------ balanced accuracy, open set


def test_balanced_accuracy_does_not_depend_on_the_base_rate():
    distances = [0.1, 0.2, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    labels = [0, 0, 1, 1, 1, 1, 1, 1]  # 2 similar, 6 dissimilar
    assert balanced_accuracy(distances, labels, threshold=0.3) == 1.0
    assert (
        balanced_accuracy(distances, labels, threshold=0.0) == 0.5
    )  # "always different": chance
    assert (
        verification_accuracy(distances, labels, threshold=0.0) == 0.75
    )  # the base rate, not skill
    assert balanced_accuracy(
        distances, labels, threshold=0.45
    ) == pytest.approx((1 + 5 / 6) / 2)
    with pytest.raises(ValueError, match="needs both similar"):
        balanced_accuracy([0.1, 0.2], [1, 1], 0.5)


def test_open_set_curve_of_a_hand_worked_example():
    # genuine queries at 0.1 (right), 0.3 (wrong name), 0.5 (right); strangers at 0.2 and 0.6
    curve = open_set_curve([0.1, 0.3, 0.5], [True, False, True], [0.2, 0.6])
    assert curve.thresholds.tolist() == [-np.inf, 0.1, 0.2, 0.3, 0.5, 0.6]
    assert curve.false_accept.tolist() == [0, 0, 0.5, 0.5, 0.5, 1.0]
    np.testing.assert_allclose(
        curve.false_reject, [1, 2 / 3, 2 / 3, 1 / 3, 0, 0]
    )
    np.testing.assert_allclose(
        curve.misidentified, [0, 0, 0, 1 / 3, 1 / 3, 1 / 3]
    )
    assert curve.at(0.25) == {
        "false_accept": 0.5,
        "false_reject": pytest.approx(2 / 3),
        "misidentified": 0.0,
    }
    assert (curve.num_genuine, curve.num_strangers) == (3, 2)


def test_choose_open_set_threshold_balanced_and_with_a_false_accept_limit():
    curve = open_set_curve([0.1, 0.3, 0.5], [True, False, True], [0.2, 0.6])
    # balanced error FAR + FRR + MIR at each threshold: 1, 2/3, 7/6, 7/6, 5/6, 4/3: best at 0.1, cut half-way to 0.2
    assert choose_open_set_threshold(curve) == pytest.approx(0.15)
    assert choose_open_set_threshold(
        curve, max_false_accept=0.0
    ) == pytest.approx(0.15)
    assert choose_open_set_threshold(
        curve, max_false_accept=0.5
    ) == pytest.approx(0.55)
    everyone = open_set_curve([0.1, 0.2], [True, True], [0.9])
    assert choose_open_set_threshold(everyone) == pytest.approx(0.55)
    with pytest.raises(
        ValueError, match="max_false_accept must be a fraction"
    ):
        choose_open_set_threshold(curve, max_false_accept=2.0)


def test_open_set_curve_rejects_bad_inputs():
    with pytest.raises(
        ValueError, match="needs genuine queries and strangers"
    ):
        open_set_curve([0.1], [True], [])
    with pytest.raises(ValueError, match="1-D of one length"):
        open_set_curve([0.1, 0.2], [True], [0.3])
    with pytest.raises(ValueError, match="NaN or infinite"):
        open_set_curve([0.1], [True], [math.nan])


@pytest.mark.parametrize("threshold", [math.nan, "0.5", None])
def test_a_threshold_that_is_not_a_number_is_refused_not_read_as_all_dissimilar(
    threshold,
):
    distances, labels = [0.1, 0.2, 0.6], [0, 1, 1]
    for accuracy in (verification_accuracy, balanced_accuracy):
        with pytest.raises(
            ValueError, match="threshold must be a finite number"
        ):
            accuracy(distances, labels, threshold)
    curve = open_set_curve(
        torch.tensor([0.1, 0.3]),
        torch.tensor([True, False]),
        torch.tensor([0.4, 0.6]),
    )
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        curve.at(threshold)
    assert (
        curve.at(math.inf)["false_reject"] == 0
        and curve.at(-math.inf)["false_accept"] == 0
    )
