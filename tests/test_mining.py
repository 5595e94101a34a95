"""Tests of siamese_tutorial.mining: hand-built 1-D cases, brute-force loops, pytorch-metric-learning oracles."""

from __future__ import annotations

import math

import pytest
import torch
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.miners import BatchHardMiner, TripletMarginMiner

from siamese_tutorial import data, mining
from siamese_tutorial.distances import euclidean_distance
from siamese_tutorial.losses import batch_contrastive_loss, contrastive_loss
from siamese_tutorial.mining import (
    all_pairs,
    all_valid_triplets,
    batch_hard_triplets,
    hard_negative_pairs,
    pair_statistics,
    semi_hard_triplets,
    triplet_statistics,
)


def labelled_batch(seed: int, n: int = 14, d: int = 3, classes: int = 4):
    """Random float64 embeddings (no distance ties) and labels, every class at least twice."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.cat(
        [
            torch.arange(classes).repeat(2),
            torch.randint(classes, (n - 2 * classes,), generator=g),
        ]
    )
    return torch.randn(n, d, generator=g, dtype=torch.float64), labels


def dist(x: torch.Tensor, i: int, j: int, squared: bool = False) -> float:
    s = sum((float(u) - float(v)) ** 2 for u, v in zip(x[i], x[j]))
    return s if squared else math.sqrt(s)


def as_list(*tensors: torch.Tensor) -> list[tuple[int, ...]]:
    return list(zip(*(t.tolist() for t in tensors)))


def column(values) -> torch.Tensor:
    """1-D positions as (N, 1) embeddings: distances can be read off the number line."""
    return torch.tensor(values, dtype=torch.float64).unsqueeze(1)


def test_each_selection_has_one_home():
    # random triplets are drawn from labels (data), the masks and the miners live here, losses use them
    assert not hasattr(mining, "random_triplets") and hasattr(
        data, "random_triplets"
    )
    from siamese_tutorial import losses

    assert not {
        "all_pairs",
        "positive_mask",
        "hardest_triplets",
        "pairwise_distances",
    } & set(losses.__all__)


def test_all_valid_triplets_matches_loop():
    labels = torch.tensor([0, 1, 0, 2, 1, 0])
    n = len(labels)
    expected = [
        (a, p, q)
        for a in range(n)
        for p in range(n)
        for q in range(n)
        if a != p and labels[a] == labels[p] and labels[q] != labels[a]
    ]
    assert as_list(*all_valid_triplets(labels)) == expected
    assert len(expected) == 3 * 2 * 3 + 2 * 1 * 4


def test_all_pairs_is_shared_with_losses():
    assert mining.all_pairs is all_pairs
    assert as_list(*all_pairs(torch.tensor([1, 1, 2]))) == [
        (0, 1, 0),
        (0, 2, 1),
        (1, 2, 1),
    ]


# ------------------------------------------------------------------------------ semi-hard


def test_semi_hard_hand_built():
    # anchor 0 at x=0 and its positive 1 at x=1 (d_ap = 1, margin 0.5: semi-hard band (1, 1.5)).
    # negatives at 0.5 (hard: closer than the positive), 1.2 and 1.4 (semi-hard), 2.8 (easy).
    x = column([0.0, 1.0, 0.5, 1.2, 1.4, 2.8])
    labels = torch.tensor([0, 0, 1, 2, 3, 4])
    # (0, 1): hardest semi-hard negative is 3 (x=1.2); (1, 0): negatives at 0.5, 0.2, 0.4, 1.8
    # from x=1, none in (1, 1.5): skipped.
    assert as_list(*semi_hard_triplets(x, labels, margin=0.5)) == [(0, 1, 3)]
    # a wider margin admits x=2.8 for anchor 1 (d = 1.8 in (1, 2.0))
    assert as_list(*semi_hard_triplets(x, labels, margin=1.0)) == [
        (0, 1, 3),
        (1, 0, 5),
    ]


def test_semi_hard_squared_uses_squared_distances():
    x = column([0.0, 1.0, 1.3])
    labels = torch.tensor([0, 0, 1])
    # plain: d_an = 1.3 in (1, 1.5); squared: 1.69 not in (1, 1.5)
    assert as_list(*semi_hard_triplets(x, labels, margin=0.5)) == [(0, 1, 2)]
    a, p, n = semi_hard_triplets(x, labels, margin=0.5, squared=True)
    assert len(a) == len(p) == len(n) == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("squared", [False, True])
def test_semi_hard_matches_loop(seed, squared):
    x, labels = labelled_batch(seed)
    margin = 0.8
    expected = []
    for a in range(len(labels)):
        for p in range(len(labels)):
            if a == p or labels[a] != labels[p]:
                continue
            d_ap = dist(x, a, p, squared)
            band = [
                (dist(x, a, q, squared), q)
                for q in range(len(labels))
                if labels[q] != labels[a]
                and d_ap < dist(x, a, q, squared) < d_ap + margin
            ]
            if band:
                expected.append((a, p, min(band)[1]))
    assert 0 < len(expected)
    assert as_list(*semi_hard_triplets(x, labels, margin, squared)) == expected


def test_semi_hard_agrees_with_pytorch_metric_learning():
    x, labels = labelled_batch(3, n=16)
    margin = 0.6
    oracle = TripletMarginMiner(
        margin,
        type_of_triplets="semihard",
        distance=LpDistance(normalize_embeddings=False),
    )
    candidates: dict[tuple[int, int], list[tuple[float, int]]] = {}
    for a, p, n in as_list(*oracle(x, labels)):
        candidates.setdefault((a, p), []).append((dist(x, a, n), n))
    mined = {
        (a, p): n
        for a, p, n in as_list(*semi_hard_triplets(x, labels, margin))
    }
    assert set(mined) == set(candidates)
    assert all(mined[pair] == min(candidates[pair])[1] for pair in mined)


def test_semi_hard_errors():
    x, labels = labelled_batch(0)
    with pytest.raises(ValueError, match="margin must be a finite number > 0"):
        semi_hard_triplets(x, labels, margin=0.0)
    with pytest.raises(ValueError, match="one entry per embedding"):
        semi_hard_triplets(x, labels[:-1], margin=0.5)


# ------------------------------------------------------------------------------ batch hard


def test_batch_hard_hand_built():
    x = column([0.0, 1.0, 3.0, 1.5, 4.0, 10.0])
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    # anchor 0: positives at 1, 3 -> hardest 2;  negatives at 1.5, 4, 10 -> nearest 3
    # anchor 1: positives at 1, 2 -> 2;  negatives at 0.5, 3, 9 -> 3
    # anchor 2: positives at 3, 2 -> 0;  negatives at 1.5, 1.0, 7 -> 4
    # anchor 3: positive 4 (2.5);  nearest negative 1 (0.5);  anchor 4: positive 3, negative 2
    # anchor 5: no positive -> left out
    expected = [(0, 2, 3), (1, 2, 3), (2, 0, 4), (3, 4, 1), (4, 3, 2)]
    assert as_list(*batch_hard_triplets(x, labels)) == expected
    assert as_list(*batch_hard_triplets(x, labels, squared=True)) == expected


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_batch_hard_matches_loop_and_pytorch_metric_learning(seed):
    x, labels = labelled_batch(seed)
    labels[-1] = 99  # an anchor with no positive
    expected = []
    for a in range(len(labels)):
        pos = [
            (dist(x, a, p), p)
            for p in range(len(labels))
            if p != a and labels[p] == labels[a]
        ]
        neg = [
            (dist(x, a, q), q)
            for q in range(len(labels))
            if labels[q] != labels[a]
        ]
        if pos and neg:
            expected.append((a, max(pos)[1], min(neg)[1]))
    mined = as_list(*batch_hard_triplets(x, labels))
    assert mined == expected
    oracle = BatchHardMiner(distance=LpDistance(normalize_embeddings=False))
    assert sorted(as_list(*oracle(x, labels))) == mined


def test_batch_hard_returns_no_gradient():
    x, labels = labelled_batch(0)
    x.requires_grad_(True)
    a, p, n = batch_hard_triplets(x, labels)
    assert a.dtype == p.dtype == n.dtype == torch.int64 and not a.requires_grad


# ------------------------------------------------------------------------------ pairs


def test_hard_negative_pairs_hand_built():
    x = column([0.0, 0.5, 3.0, 0.8])
    labels = torch.tensor([0, 0, 1, 1])
    # i<j: (0,1) similar keep; (0,2) D=3 >= 1 drop; (0,3) D=0.8 keep; (1,2) D=2.5 drop;
    # (1,3) D=0.3 keep; (2,3) similar keep (even far apart: D=2.2)
    expected = [(0, 1, 0), (0, 3, 1), (1, 3, 1), (2, 3, 0)]
    assert as_list(*hard_negative_pairs(x, labels, margin=1.0)) == expected
    # squared: 0.8^2 = 0.64 and 0.3^2 = 0.09 < 0.7, 2.5^2 and 3^2 are not
    assert (
        as_list(*hard_negative_pairs(x, labels, margin=0.7, squared=True))
        == expected
    )
    assert as_list(*hard_negative_pairs(x, labels, margin=0.7)) == [
        (0, 1, 0),
        (1, 3, 1),
        (2, 3, 0),
    ]


def test_hard_negative_pairs_keep_every_nonzero_contrastive_loss():
    x, labels = labelled_batch(5, n=20, classes=3)
    margin = 1.5
    i, j, y = all_pairs(labels)
    per_pair = contrastive_loss(
        euclidean_distance(x[i], x[j]), y, margin, reduction="none"
    )
    mined = hard_negative_pairs(x, labels, margin)
    assert 0 < len(mined[0]) < len(i)
    kept = set(as_list(*mined))
    assert {
        t for t, loss in zip(as_list(i, j, y), per_pair.tolist()) if loss > 0
    } == kept
    total = batch_contrastive_loss(x, labels, margin, pairs=mined) * len(
        mined[0]
    )
    torch.testing.assert_close(total, per_pair.sum())


def test_hard_negative_pairs_errors():
    x, labels = labelled_batch(0)
    with pytest.raises(
        ValueError, match="margin must be a finite number > 0; got -1"
    ):
        hard_negative_pairs(x, labels, margin=-1)
    with pytest.raises(ValueError, match="embeddings must be a 2-D tensor"):
        hard_negative_pairs(x[:, 0], labels, margin=1)


# ------------------------------------------------------------------------------ statistics


def test_triplet_statistics_hand_built():
    x = column([0.0, 1.0, 1.8, 2.3])
    labels = torch.tensor([0, 0, 1, 1])
    # 8 valid triplets, margin 0.5; active: (1,0,2): 1-0.8+.5, (1,0,3): 1-1.3+.5, (2,3,1): .5-.8+.5
    stats = triplet_statistics(x.requires_grad_(True), labels, margin=0.5)
    assert set(stats) == {
        "active_fraction",
        "mean_positive_distance",
        "mean_negative_distance",
    }
    # 0-d tensors, so that a training step reads nothing from the device
    assert all(
        isinstance(v, torch.Tensor) and v.dim() == 0 and not v.requires_grad
        for v in stats.values()
    )
    assert stats["active_fraction"] == pytest.approx(3 / 8)
    assert stats["mean_positive_distance"] == pytest.approx((1.0 + 0.5) / 2)
    assert stats["mean_negative_distance"] == pytest.approx(
        (1.8 + 2.3 + 0.8 + 1.3) / 4
    )
    squared = triplet_statistics(x, labels, margin=0.5, squared=True)
    assert squared["mean_positive_distance"] == pytest.approx((1.0 + 0.25) / 2)


def test_statistics_reveal_collapse():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    collapsed = torch.ones(6, 4)
    stats = triplet_statistics(collapsed, labels, margin=0.2)
    assert {k: float(v) for k, v in stats.items()} == {
        "active_fraction": 1.0,
        "mean_positive_distance": 0.0,
        "mean_negative_distance": 0.0,
    }
    pairs = pair_statistics(collapsed, labels, margin=1.0)
    assert {k: float(v) for k, v in pairs.items()} == {
        "active_fraction": 1.0,
        "mean_positive_distance": 0.0,
        "mean_negative_distance": 0.0,
    }


def test_pair_statistics_hand_built():
    x = column([0.0, 1.0, 1.8, 2.3])
    labels = torch.tensor([0, 0, 1, 1])
    # dissimilar pairs at 1.8, 2.3, 0.8, 1.3: two inside the margin 1.5
    stats = pair_statistics(x, labels, margin=1.5)
    assert all(
        isinstance(v, torch.Tensor) and v.dim() == 0 for v in stats.values()
    )
    assert stats["active_fraction"] == pytest.approx(0.5)
    assert stats["mean_positive_distance"] == pytest.approx(0.75)
    assert stats["mean_negative_distance"] == pytest.approx(1.55)


@pytest.mark.parametrize("statistics", [triplet_statistics, pair_statistics])
def test_statistics_errors(statistics):
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match=r"no positive pair.*P x K sampler"):
        statistics(x, torch.tensor([0, 1, 2, 3]), 0.5)
    with pytest.raises(ValueError, match=r"only one class.*P x K sampler"):
        statistics(x, torch.tensor([0, 0, 0, 0]), 0.5)
    with pytest.raises(ValueError, match="margin must be"):
        statistics(x, torch.tensor([0, 0, 1, 1]), -0.5)


@pytest.mark.parametrize(
    "convert",
    [lambda y: y.tolist(), lambda y: y.numpy()],
    ids=["list", "numpy"],
)
def test_miners_accept_labels_as_a_list_or_a_numpy_array(convert):
    x, labels = labelled_batch(3)
    for miner in (
        all_pairs,
        all_valid_triplets,
        mining.positive_mask,
        mining.negative_mask,
    ):
        assert all(
            torch.equal(a, b)
            for a, b in zip(miner(convert(labels)), miner(labels))
        )
    for miner in (
        batch_hard_triplets,
        lambda e, y: semi_hard_triplets(e, y, 0.5),
        lambda e, y: hard_negative_pairs(e, y, 1.0),
    ):
        assert all(
            torch.equal(a, b)
            for a, b in zip(miner(x, convert(labels)), miner(x, labels))
        )
    for statistics in (triplet_statistics, pair_statistics):
        assert statistics(x, convert(labels), 0.5) == statistics(
            x, labels, 0.5
        )
    with pytest.raises(ValueError, match="labels must be class indices"):
        batch_hard_triplets(x, [object()] * len(x))


def test_hard_negative_pairs_in_pytorch_metric_learning_pair_form():
    from pytorch_metric_learning.losses import ContrastiveLoss

    x, labels = labelled_batch(4)
    i, j, y = hard_negative_pairs(x, labels, margin=1.0)
    a1, p, a2, n = mining.pml_pairs((i, j, y))
    assert (labels[a1] == labels[p]).all() and (labels[a2] != labels[n]).all()
    assert len(a1) + len(a2) == len(i) and len(a1) == int((y == 0).sum())
    # PML's contrastive loss (squared hinge like Hadsell's, over the pairs given) sees the same pairs.
    pml = ContrastiveLoss(pos_margin=0, neg_margin=1.0)(
        x, labels, (a1, p, a2, n)
    )
    assert torch.isfinite(pml)
    with pytest.raises(ValueError, match="pairs must be"):
        mining.pml_pairs((i, j))
