"""Tests of siamese_tutorial.losses: brute-force loops, hand-worked values, gradcheck, oracles."""

from __future__ import annotations

import math

import pytest
import torch
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.losses import TripletMarginLoss
from pytorch_metric_learning.miners import BatchHardMiner
from pytorch_metric_learning.reducers import MeanReducer

from siamese_tutorial.distances import euclidean_distance, pairwise_distances
from siamese_tutorial.losses import (
    ContrastiveLoss,
    TripletLoss,
    batch_all_triplet_loss,
    batch_contrastive_loss,
    batch_hard_triplet_loss,
    contrastive_loss,
    semi_hard_triplet_loss,
    triplet_loss,
)
from siamese_tutorial.mining import (
    all_pairs,
    check_triplet_batch,
    negative_mask,
    positive_mask,
    semi_hard_triplets,
    triplet_mask,
)

DTYPES = [torch.float32, torch.float64]


def tolerance(dtype: torch.dtype) -> dict[str, float]:
    return (
        {"rtol": 1e-4, "atol": 1e-4}
        if dtype == torch.float32
        else {"rtol": 1e-10, "atol": 1e-10}
    )


def brute_distance(
    u: torch.Tensor, v: torch.Tensor, squared: bool = False
) -> float:
    s = sum((float(ui) - float(vi)) ** 2 for ui, vi in zip(u, v))
    return s if squared else math.sqrt(s)


def labelled_batch(
    seed: int, n: int = 12, d: int = 4, classes: int = 3, dtype=torch.float64
):
    """Random embeddings and labels with every class present at least twice."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.cat(
        [
            torch.arange(classes).repeat(2),
            torch.randint(classes, (n - 2 * classes,), generator=g),
        ]
    )
    return torch.randn(n, d, generator=g, dtype=dtype), labels


def brute_triplet_terms(x, labels, margin, squared=False):
    """Hinge terms of every valid triplet, by triple loop."""
    n = len(labels)
    terms = []
    for a in range(n):
        for p in range(n):
            for q in range(n):
                if (
                    a != p
                    and labels[a] == labels[p]
                    and labels[a] != labels[q]
                ):
                    d_ap = brute_distance(x[a], x[p], squared)
                    d_an = brute_distance(x[a], x[q], squared)
                    terms.append(max(d_ap - d_an + margin, 0.0))
    return terms


def brute_batch_hard(x, labels, margin, squared=False, soft=False):
    n = len(labels)
    losses = []
    for a in range(n):
        pos = [
            brute_distance(x[a], x[p], squared)
            for p in range(n)
            if p != a and labels[p] == labels[a]
        ]
        neg = [
            brute_distance(x[a], x[q], squared)
            for q in range(n)
            if labels[q] != labels[a]
        ]
        if pos and neg:
            diff = max(pos) - min(neg)
            losses.append(
                math.log1p(math.exp(diff)) if soft else max(diff + margin, 0.0)
            )
    return sum(losses) / len(losses)


def pml_distance(squared: bool) -> LpDistance:
    return LpDistance(
        normalize_embeddings=False, p=2, power=2 if squared else 1
    )


# ------------------------------------------------------------------------------ distances


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("squared", [False, True])
def test_pairwise_distances_matches_double_loop(dtype, squared):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, generator=g, dtype=dtype)
    y = torch.randn(4, 3, generator=g, dtype=dtype)
    for a, b in [(x, y), (x, None)]:
        d = pairwise_distances(a, b, squared=squared)
        other = a if b is None else b
        expected = torch.tensor(
            [[brute_distance(u, v, squared) for v in other] for u in a],
            dtype=dtype,
        )
        assert d.dtype == dtype and d.shape == expected.shape
        torch.testing.assert_close(d, expected, **tolerance(dtype))


def test_pairwise_distances_diagonal_is_exactly_zero():
    x = 100.0 * torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    assert torch.all(pairwise_distances(x).diagonal() == 0)


@pytest.mark.parametrize("squared", [False, True])
def test_pairwise_distances_gradient_finite_at_zero_distance(squared):
    x = torch.tensor([[1.0, 2.0], [1.0, 2.0], [0.0, -1.0]], requires_grad=True)
    pairwise_distances(x, squared=squared).sum().backward()
    assert torch.isfinite(x.grad).all()
    y = (
        x.detach().clone().requires_grad_(True)
    )  # identical rows off the diagonal
    pairwise_distances(x, y, squared=squared).sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()


def test_pairwise_distances_gradcheck():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b: pairwise_distances(a, b), (x, y)
    )
    assert torch.autograd.gradcheck(lambda a: pairwise_distances(a), (x,))


def test_pairwise_distances_errors():
    with pytest.raises(
        ValueError, match=r"x must be a 2-D tensor of shape \(N, D\)"
    ):
        pairwise_distances(torch.zeros(5))
    with pytest.raises(ValueError, match="y must be a 2-D tensor"):
        pairwise_distances(torch.zeros(5, 2), torch.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="same embedding dimension D"):
        pairwise_distances(torch.zeros(5, 2), torch.zeros(3, 4))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("squared", [False, True])
def test_euclidean_distance_matches_loop(dtype, squared):
    g = torch.Generator().manual_seed(3)
    a, b = (
        torch.randn(6, 5, generator=g, dtype=dtype),
        torch.randn(6, 5, generator=g, dtype=dtype),
    )
    expected = torch.tensor(
        [brute_distance(u, v, squared) for u, v in zip(a, b)], dtype=dtype
    )
    torch.testing.assert_close(
        euclidean_distance(a, b, squared=squared), expected, **tolerance(dtype)
    )


def test_euclidean_distance_gradient_finite_for_identical_rows():
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    b = torch.tensor([[1.0, 2.0], [0.0, 0.0]], requires_grad=True)
    d = euclidean_distance(a, b)
    d.sum().backward()
    assert d[0] == 0 and d[1] == 5
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()
    torch.testing.assert_close(a.grad[0], torch.zeros(2))


def test_euclidean_distance_errors():
    with pytest.raises(ValueError, match="same shape"):
        euclidean_distance(torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="a must be a 2-D tensor"):
        euclidean_distance(torch.zeros(3), torch.zeros(3))


# ------------------------------------------------------------------------------ masks


def test_masks_hand_built():
    labels = torch.tensor([0, 1, 0, 2])
    pos = positive_mask(labels)
    neg = negative_mask(labels)
    assert pos.nonzero().tolist() == [[0, 2], [2, 0]]
    assert neg.tolist() == [
        [False, True, False, True],
        [True, False, True, True],
        [False, True, False, True],
        [True, True, True, False],
    ]
    # valid triplets: anchors 0 and 2, each with 2 negatives (1 and 3)
    assert triplet_mask(labels).nonzero().tolist() == [
        [0, 2, 1],
        [0, 2, 3],
        [2, 0, 1],
        [2, 0, 3],
    ]


def test_all_pairs_hand_built():
    i, j, y = all_pairs(torch.tensor([5, 5, 7]))
    assert list(zip(i.tolist(), j.tolist(), y.tolist())) == [
        (0, 1, 0),
        (0, 2, 1),
        (1, 2, 1),
    ]
    assert y.dtype == torch.int64


def test_label_errors():
    with pytest.raises(ValueError, match="labels must be a 1-D tensor"):
        positive_mask(torch.zeros(2, 2))
    with pytest.raises(
        ValueError,
        match="one entry per embedding: got 3 labels for 4 embeddings",
    ):
        batch_hard_triplet_loss(torch.zeros(4, 2), torch.tensor([0, 0, 1]))


def test_check_triplet_batch_errors():
    with pytest.raises(
        ValueError, match=r"no positive pair .*P x K sampler.*K >= 2"
    ):
        check_triplet_batch(torch.tensor([0, 1, 2]))
    with pytest.raises(
        ValueError, match=r"only one class.*P x K sampler.*P >= 2"
    ):
        check_triplet_batch(torch.tensor([3, 3, 3]))
    check_triplet_batch(torch.tensor([0, 0, 1]))


# ------------------------------------------------------------------------------ contrastive


def test_contrastive_loss_hand_worked():
    distance = torch.tensor([0.5, 0.5, 2.0, 2.0])
    label = torch.tensor(
        [0, 1, 1, 0]
    )  # similar, dissimilar, dissimilar, similar
    per_pair = contrastive_loss(distance, label, margin=1.0, reduction="none")
    torch.testing.assert_close(
        per_pair, torch.tensor([0.125, 0.125, 0.0, 2.0])
    )
    torch.testing.assert_close(
        contrastive_loss(distance, label), torch.tensor(2.25 / 4)
    )
    torch.testing.assert_close(
        contrastive_loss(distance, label, reduction="sum"), torch.tensor(2.25)
    )
    # a larger margin reaches the dissimilar pair at D = 2: 0.5 * (3 - 2)^2
    torch.testing.assert_close(
        contrastive_loss(distance, label, margin=3.0, reduction="none")[2],
        torch.tensor(0.5),
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_contrastive_loss_matches_loop(dtype):
    g = torch.Generator().manual_seed(4)
    distance = 2 * torch.rand(50, generator=g, dtype=dtype)
    label = torch.randint(2, (50,), generator=g)
    margin = 1.3
    expected = [
        0.5 * d**2 if y == 0 else 0.5 * max(0.0, margin - d) ** 2
        for d, y in zip(distance.tolist(), label.tolist())
    ]
    loss = contrastive_loss(distance, label, margin, reduction="none")
    assert loss.dtype == dtype
    torch.testing.assert_close(
        loss, torch.tensor(expected, dtype=dtype), **tolerance(dtype)
    )
    torch.testing.assert_close(
        contrastive_loss(distance, label.bool(), margin),
        torch.tensor(sum(expected) / 50, dtype=dtype),
        **tolerance(dtype),
    )


def test_contrastive_loss_gradcheck():
    g = torch.Generator().manual_seed(5)
    distance = torch.tensor(
        [0.2, 0.7, 1.5, 0.4, 2.0], dtype=torch.float64, requires_grad=True
    )
    label = torch.tensor([0, 1, 1, 1, 0])
    assert torch.autograd.gradcheck(
        lambda d: contrastive_loss(d, label, margin=1.0), (distance,)
    )
    a = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    margin = 10.0  # far from every distance: away from the kink at D = m
    assert torch.autograd.gradcheck(
        lambda u, v: contrastive_loss(
            euclidean_distance(u, v),
            torch.tensor([0, 1, 0, 1]),
            margin,
            "none",
        ),
        (a, b),
    )


def test_contrastive_loss_module_matches_function():
    distance, label = torch.tensor([0.3, 0.9, 1.4]), torch.tensor([1, 0, 1])
    module = ContrastiveLoss(margin=1.2, reduction="sum")
    torch.testing.assert_close(
        module(distance, label), contrastive_loss(distance, label, 1.2, "sum")
    )
    assert "margin=1.2" in repr(module)


@pytest.mark.parametrize(
    ("label", "message"),
    [
        (
            torch.tensor([0.0, 0.5]),
            r"0 \(similar pair.*1 \(dissimilar pair.*got the value 0.5",
        ),
        (
            torch.tensor([0, 2]),
            r"0 \(similar pair.*1 \(dissimilar pair.*got the value 2",
        ),
        (torch.tensor([-1, 0]), "got the value -1"),
    ],
)
def test_contrastive_loss_label_errors(label, message):
    with pytest.raises(ValueError, match=message):
        contrastive_loss(torch.tensor([0.1, 0.2]), label)


def test_contrastive_loss_other_errors():
    with pytest.raises(ValueError, match="same shape"):
        contrastive_loss(torch.zeros(3), torch.zeros(2))
    with pytest.raises(
        ValueError, match="margin must be a finite number > 0; got 0"
    ):
        contrastive_loss(torch.zeros(2), torch.zeros(2), margin=0)
    with pytest.raises(
        ValueError, match="margin must be a finite number > 0; got -1"
    ):
        ContrastiveLoss(margin=-1)
    with pytest.raises(ValueError, match="unknown reduction 'avg'"):
        contrastive_loss(torch.zeros(2), torch.zeros(2), reduction="avg")
    with pytest.raises(ValueError, match="unknown reduction 'avg'"):
        ContrastiveLoss(reduction="avg")


# ------------------------------------------------------------------------------ triplet


def test_triplet_loss_hand_worked():
    anchor = torch.tensor([[0.0], [0.0], [0.0]])
    positive = torch.tensor([[1.0], [2.0], [1.0]])
    negative = torch.tensor([[3.0], [1.0], [1.1]])
    # d_ap - d_an + 0.5: 1 - 3 + .5 = -1.5 -> 0;  2 - 1 + .5 = 1.5;  1 - 1.1 + .5 = 0.4
    torch.testing.assert_close(
        triplet_loss(anchor, positive, negative, margin=0.5, reduction="none"),
        torch.tensor([0.0, 1.5, 0.4]),
    )
    # squared: 1 - 9 + .5 -> 0;  4 - 1 + .5 = 3.5;  1 - 1.21 + .5 = 0.29
    torch.testing.assert_close(
        triplet_loss(
            anchor,
            positive,
            negative,
            margin=0.5,
            squared=True,
            reduction="none",
        ),
        torch.tensor([0.0, 3.5, 0.29]),
    )
    torch.testing.assert_close(
        triplet_loss(anchor, positive, negative, margin=0.5),
        torch.tensor(1.9 / 3),
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("squared", [False, True])
def test_triplet_loss_matches_loop(dtype, squared):
    g = torch.Generator().manual_seed(6)
    a, p, n = (torch.randn(20, 4, generator=g, dtype=dtype) for _ in range(3))
    margin = 0.7
    expected = [
        max(
            brute_distance(a[i], p[i], squared)
            - brute_distance(a[i], n[i], squared)
            + margin,
            0.0,
        )
        for i in range(20)
    ]
    assert (
        0 < sum(e > 0 for e in expected) < 20
    )  # both branches of the hinge are exercised
    loss = triplet_loss(a, p, n, margin, squared, reduction="sum")
    assert loss.dtype == dtype
    torch.testing.assert_close(
        loss, torch.tensor(sum(expected), dtype=dtype), **tolerance(dtype)
    )
    torch.testing.assert_close(
        TripletLoss(margin, squared, "sum")(a, p, n), loss
    )


@pytest.mark.parametrize("squared", [False, True])
def test_triplet_loss_gradcheck(squared):
    g = torch.Generator().manual_seed(7)
    a, p, n = (
        torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
        for _ in range(3)
    )
    margin = 0.5
    hinge = (
        euclidean_distance(a, p, squared)
        - euclidean_distance(a, n, squared)
        + margin
    )
    assert hinge.abs().min() > 1e-3  # away from the kink
    assert torch.autograd.gradcheck(
        lambda *t: triplet_loss(*t, margin=margin, squared=squared), (a, p, n)
    )


def test_triplet_loss_errors():
    with pytest.raises(
        ValueError,
        match="anchor, positive and negative must have the same shape",
    ):
        triplet_loss(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(2, 2))
    with pytest.raises(
        ValueError, match="margin must be a finite number >= 0; got -0.1"
    ):
        triplet_loss(
            torch.zeros(3, 2),
            torch.zeros(3, 2),
            torch.zeros(3, 2),
            margin=-0.1,
        )
    with pytest.raises(
        ValueError, match="margin must be a finite number >= 0; got nan"
    ):
        TripletLoss(margin=math.nan)
    with pytest.raises(ValueError, match="unknown reduction 'max'"):
        TripletLoss(reduction="max")


# ------------------------------------------------------------------------------ batch losses


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("squared", [False, True])
def test_batch_all_matches_triple_loop(seed, squared):
    x, labels = labelled_batch(seed)
    margin = 0.5
    terms = brute_triplet_terms(x, labels, margin, squared)
    active = [t for t in terms if t > 0]
    assert 0 < len(active) < len(terms)
    loss = batch_all_triplet_loss(x, labels, margin, squared)
    torch.testing.assert_close(
        loss, torch.tensor(sum(active) / len(active), dtype=torch.float64)
    )


def test_batch_all_float32_and_no_active_triplet():
    x, labels = labelled_batch(3, dtype=torch.float32)
    loss = batch_all_triplet_loss(x, labels, margin=0.5)
    assert loss.dtype == torch.float32
    terms = [t for t in brute_triplet_terms(x, labels, 0.5) if t > 0]
    torch.testing.assert_close(
        loss.item(), sum(terms) / len(terms), rtol=1e-4, atol=1e-5
    )
    # well separated classes: no active triplet, loss 0 (not NaN) and still differentiable
    separated = (10.0 * labels.float()).unsqueeze(1).requires_grad_(True)
    loss = batch_all_triplet_loss(separated, labels, margin=0.5)
    loss.backward()
    assert loss.item() == 0 and torch.all(separated.grad == 0)


@pytest.mark.parametrize("squared", [False, True])
def test_batch_all_matches_pytorch_metric_learning(squared):
    x, labels = labelled_batch(4, n=16, d=5, classes=4)
    oracle = TripletMarginLoss(
        margin=0.3, distance=pml_distance(squared)
    )  # all triplets, AvgNonZero
    torch.testing.assert_close(
        batch_all_triplet_loss(x, labels, 0.3, squared), oracle(x, labels)
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("soft", [False, True])
def test_batch_hard_matches_loop(seed, squared, soft):
    x, labels = labelled_batch(seed)
    labels[-1] = 99  # a singleton: an anchor with no positive, left out
    loss = batch_hard_triplet_loss(
        x, labels, margin=0.5, squared=squared, soft=soft
    )
    expected = brute_batch_hard(
        x, labels, margin=0.5, squared=squared, soft=soft
    )
    torch.testing.assert_close(
        loss, torch.tensor(expected, dtype=torch.float64)
    )


def test_batch_hard_soft_margin_ignores_margin():
    x, labels = labelled_batch(5)
    soft = batch_hard_triplet_loss(x, labels, margin=0.1, soft=True)
    torch.testing.assert_close(
        soft, batch_hard_triplet_loss(x, labels, margin=5.0, soft=True)
    )
    assert not torch.allclose(
        soft, batch_hard_triplet_loss(x, labels, margin=0.1)
    )


@pytest.mark.parametrize("squared", [False, True])
def test_batch_hard_matches_pytorch_metric_learning(squared):
    x, labels = labelled_batch(6, n=16, d=5, classes=4)
    distance = pml_distance(squared)
    miner = BatchHardMiner(distance=distance)
    oracle = TripletMarginLoss(
        margin=0.3, distance=distance, reducer=MeanReducer()
    )
    expected = oracle(x, labels, miner(x, labels))
    torch.testing.assert_close(
        batch_hard_triplet_loss(x, labels, 0.3, squared), expected
    )
    # the soft margin is pml's smooth loss with margin 0
    smooth = TripletMarginLoss(
        margin=0.0, smooth_loss=True, distance=distance, reducer=MeanReducer()
    )
    torch.testing.assert_close(
        batch_hard_triplet_loss(x, labels, squared=squared, soft=True),
        smooth(x, labels, miner(x, labels)),
    )


def test_batch_hard_float32():
    x, labels = labelled_batch(7, dtype=torch.float32)
    loss = batch_hard_triplet_loss(x, labels, margin=0.5)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(
        loss.item(), brute_batch_hard(x, labels, 0.5), rtol=1e-4, atol=1e-5
    )


def small_distinct_batch():
    """6 float64 points, 3 classes: every hinge argument is away from 0 (checked by the tests)."""
    g = torch.Generator().manual_seed(8)
    return torch.randn(6, 3, generator=g, dtype=torch.float64), torch.tensor(
        [0, 0, 1, 1, 2, 2]
    )


def test_batch_all_gradcheck():
    x, labels = small_distinct_batch()
    margin = 0.5
    d = pairwise_distances(x)
    hinge = (d.unsqueeze(2) - d.unsqueeze(1) + margin)[triplet_mask(labels)]
    assert hinge.abs().min() > 1e-3 and (hinge > 0).any()
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda e: batch_all_triplet_loss(e, labels, margin), (x,)
    )
    assert torch.autograd.gradcheck(
        lambda e: batch_all_triplet_loss(e, labels, margin, squared=True), (x,)
    )


@pytest.mark.parametrize("soft", [False, True])
def test_batch_hard_gradcheck(soft):
    x, labels = small_distinct_batch()
    margin = 0.5
    d = pairwise_distances(x)
    hardest_pos = (
        d.masked_fill(~positive_mask(labels), -math.inf).max(1).values
    )
    hardest_neg = d.masked_fill(~negative_mask(labels), math.inf).min(1).values
    assert (hardest_pos - hardest_neg + margin).abs().min() > 1e-3
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda e: batch_hard_triplet_loss(e, labels, margin, soft=soft), (x,)
    )


def brute_semi_hard(x, labels, margin, squared=False):
    """FaceNet's rule with loops: per positive pair, the closest negative beyond d(a, p) but inside the margin."""
    terms = []
    n = len(labels)
    for a in range(n):
        for p in range(n):
            if p == a or labels[p] != labels[a]:
                continue
            d_ap = brute_distance(x[a], x[p], squared)
            inside = [
                brute_distance(x[a], x[k], squared)
                for k in range(n)
                if labels[k] != labels[a]
                and d_ap < brute_distance(x[a], x[k], squared) < d_ap + margin
            ]
            if inside:
                terms.append(d_ap - min(inside) + margin)
    return sum(terms) / max(len(terms), 1), len(terms)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("squared", [False, True])
def test_semi_hard_triplet_loss_matches_loop_and_the_miner(seed, squared):
    x, labels = labelled_batch(seed)
    expected, count = brute_semi_hard(x, labels, 0.8, squared)
    assert count > 0
    loss = semi_hard_triplet_loss(x, labels, 0.8, squared)
    torch.testing.assert_close(
        loss, torch.tensor(expected, dtype=torch.float64)
    )
    a, p, n = semi_hard_triplets(x, labels, 0.8, squared)
    assert len(a) == count
    torch.testing.assert_close(
        loss, triplet_loss(x[a], x[p], x[n], 0.8, squared)
    )


def test_semi_hard_triplet_loss_gradcheck_and_empty_batch():
    x, labels = small_distinct_batch()
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda e: semi_hard_triplet_loss(e, labels, 1.0), (x,)
    )
    # every negative far beyond the margin: no semi-hard triplet, loss 0 with a zero gradient
    far = (10.0 * labels.double()).unsqueeze(1).requires_grad_(True)
    loss = semi_hard_triplet_loss(far, labels, 0.5)
    loss.backward()
    assert loss.item() == 0 and torch.all(far.grad == 0)


@pytest.mark.parametrize(
    "loss_fn",
    [
        lambda x, y, check: batch_hard_triplet_loss(x, y, 0.2, check=check),
        lambda x, y, check: batch_hard_triplet_loss(
            x, y, 0.2, soft=True, check=check
        ),
        lambda x, y, check: semi_hard_triplet_loss(x, y, 0.2, check=check),
        lambda x, y, check: batch_all_triplet_loss(x, y, 0.2, check=check),
        lambda x, y, check: batch_contrastive_loss(x, y, 1.0, check=check),
        lambda x, y, check: batch_contrastive_loss(
            x, y, 1.0, pairs=all_pairs(y), check=check
        ),
        lambda x, y, check: triplet_loss(
            x[:4], x[4:8], x[8:], 0.2, check=check
        ),
        lambda x, y, check: contrastive_loss(
            pairwise_distances(x)[0], (y != y[0]).long(), check=check
        ),
    ],
)
def test_a_nan_embedding_is_an_error_or_makes_the_loss_nan_never_a_margin_or_zero(
    loss_fn,
):
    # A NaN distance once became 0 (NaN > eps is False), so losses came out as the margin or 0 and
    # training went on with NaN weights. Checked (the default), it is an error that says so; unchecked
    # (a training loop, which checks at its log steps), it must reach the loss, where the loop sees it.
    x, labels = labelled_batch(11, dtype=torch.float32)
    x[3, 0] = math.nan
    with pytest.raises(
        FloatingPointError, match="given to the loss: .* NaN or infinite"
    ):
        loss_fn(x, labels, True)
    assert torch.isnan(loss_fn(x, labels, False))
    x[3, 0] = math.inf
    with pytest.raises(FloatingPointError, match="NaN or infinite"):
        loss_fn(x, labels, True)


def test_an_empty_batch_gives_a_loss_of_0_with_a_gradient_not_nan():
    empty = torch.zeros(0, 3, requires_grad=True)
    for loss in (
        triplet_loss(empty, empty, empty),
        contrastive_loss(empty.sum(1), torch.zeros(0)),
    ):
        loss.backward()
        assert loss.item() == 0 and loss.requires_grad
    assert empty.grad is not None and empty.grad.shape == (0, 3)
    assert triplet_loss(empty, empty, empty, reduction="none").shape == (0,)


@pytest.mark.parametrize(
    "convert",
    [lambda y: y.tolist(), lambda y: y.numpy()],
    ids=["list", "numpy"],
)
def test_labels_as_a_list_or_a_numpy_array_are_accepted(convert):
    x, labels = labelled_batch(11, dtype=torch.float32)
    for loss_fn in (
        batch_hard_triplet_loss,
        semi_hard_triplet_loss,
        batch_all_triplet_loss,
        batch_contrastive_loss,
    ):
        assert loss_fn(x, convert(labels)) == loss_fn(x, labels)
    d, y = pairwise_distances(x)[0], (labels != labels[0]).long()
    assert contrastive_loss(d, convert(y)) == contrastive_loss(d, y)
    with pytest.raises(
        ValueError, match="labels must be class indices.*got a list"
    ):
        batch_hard_triplet_loss(x, ["a"] * 11)


def test_nan_stays_nan_in_distances():
    x = torch.tensor([[0.0, 0.0], [math.nan, 1.0], [3.0, 4.0]])
    d = pairwise_distances(x)
    assert torch.isnan(d[1]).all() and torch.isnan(d[:, 1]).all()
    assert d[0, 0] == 0 and d[0, 2] == 5
    assert torch.isnan(euclidean_distance(x[:2], x[1:])[0])


@pytest.mark.parametrize(
    "loss_fn",
    [batch_all_triplet_loss, batch_hard_triplet_loss, semi_hard_triplet_loss],
)
def test_batch_triplet_losses_errors(loss_fn):
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match=r"no positive pair.*P x K sampler"):
        loss_fn(x, torch.tensor([0, 1, 2, 3]), 0.2)
    with pytest.raises(ValueError, match=r"only one class.*P x K sampler"):
        loss_fn(x, torch.tensor([1, 1, 1, 1]), 0.2)
    with pytest.raises(
        ValueError, match="margin must be a finite number >?=? 0"
    ):
        loss_fn(x, torch.tensor([0, 0, 1, 1]), -0.2)
    with pytest.raises(ValueError, match="embeddings must be a 2-D tensor"):
        loss_fn(torch.randn(4), torch.tensor([0, 0, 1, 1]), 0.2)


# ------------------------------------------------------------------------------ batch contrastive


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_contrastive_loss_all_pairs_matches_loop(dtype):
    x, labels = labelled_batch(9, dtype=dtype)
    margin = 2.0
    expected = []
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            d = brute_distance(x[i], x[j])
            expected.append(
                0.5 * d**2
                if labels[i] == labels[j]
                else 0.5 * max(0.0, margin - d) ** 2
            )
    loss = batch_contrastive_loss(x, labels, margin)
    assert loss.dtype == dtype
    torch.testing.assert_close(
        loss,
        torch.tensor(sum(expected) / len(expected), dtype=dtype),
        **tolerance(dtype),
    )


def test_batch_contrastive_loss_default_is_all_pairs():
    # the default path works on the whole distance matrix; it must equal the explicit list of pairs
    x, labels = labelled_batch(12, dtype=torch.float64)
    x.requires_grad_(True)
    default = batch_contrastive_loss(x, labels, 1.5)
    (grad_default,) = torch.autograd.grad(default, x)
    explicit = batch_contrastive_loss(x, labels, 1.5, pairs=all_pairs(labels))
    (grad_explicit,) = torch.autograd.grad(explicit, x)
    torch.testing.assert_close(default, explicit)
    torch.testing.assert_close(grad_default, grad_explicit)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_batch_contrastive_loss_default_is_all_pairs_at_zero_distance(dtype):
    # duplicated embeddings: a similar pair (0, 1) and a dissimilar pair (2, 3) at distance 0, where
    # the hand-written backward must give finite gradients equal to autograd's on the explicit pairs
    x, labels = labelled_batch(13, n=32, d=8, classes=5, dtype=dtype)
    labels[:4] = torch.tensor([0, 0, 1, 2])
    x[1], x[3] = x[0], x[2]
    x = (x / 3).requires_grad_(
        True
    )  # distances around the margin: active and inactive hinges
    default = batch_contrastive_loss(x, labels, 1.0)
    (grad_default,) = torch.autograd.grad(default, x)
    explicit = batch_contrastive_loss(x, labels, 1.0, pairs=all_pairs(labels))
    (grad_explicit,) = torch.autograd.grad(explicit, x)
    assert torch.isfinite(grad_default).all()
    torch.testing.assert_close(default, explicit, **tolerance(dtype))
    torch.testing.assert_close(grad_default, grad_explicit, **tolerance(dtype))


def test_batch_contrastive_loss_given_pairs():
    x = torch.tensor([[0.0], [0.5], [3.0]])
    labels = torch.tensor([0, 0, 1])
    pairs = (torch.tensor([0, 1]), torch.tensor([1, 2]), torch.tensor([0, 1]))
    # (0, 1) similar, D = 0.5: 0.5 * 0.5^2 = 0.125;  (1, 2) dissimilar, D = 2.5 < m = 3: 0.5 * 0.5^2
    torch.testing.assert_close(
        batch_contrastive_loss(x, labels, 3.0, pairs),
        torch.tensor((0.125 + 0.125) / 2),
    )
    empty = torch.zeros(0, dtype=torch.long)
    x.requires_grad_(True)
    loss = batch_contrastive_loss(x, labels, 1.0, (empty, empty, empty))
    loss.backward()
    assert loss.item() == 0 and torch.all(x.grad == 0)


def test_batch_contrastive_loss_gradcheck():
    x, labels = small_distinct_batch()
    margin = 1.0
    assert (pairwise_distances(x) - margin).abs().min() > 1e-3
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda e: batch_contrastive_loss(e, labels, margin), (x,)
    )


def test_batch_contrastive_loss_errors():
    x, labels = torch.randn(3, 2), torch.tensor([0, 0, 1])
    with pytest.raises(ValueError, match="pairs must be three 1-D tensors"):
        batch_contrastive_loss(
            x,
            labels,
            pairs=(torch.tensor([0]), torch.tensor([1, 2]), torch.tensor([0])),
        )
    with pytest.raises(
        ValueError, match=r"pair labels must be 0 \(similar pair"
    ):
        batch_contrastive_loss(
            x,
            labels,
            pairs=(torch.tensor([0]), torch.tensor([1]), torch.tensor([3])),
        )
    with pytest.raises(ValueError, match="one entry per embedding"):
        batch_contrastive_loss(x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="margin must be a finite number > 0"):
        batch_contrastive_loss(x, labels, margin=0.0)


def test_embeddings_or_distances_that_are_not_tensors_are_refused_in_one_line():
    with pytest.raises(
        ValueError, match="embeddings must be a torch.Tensor .* got a list"
    ):
        batch_hard_triplet_loss([[0.0, 1.0], [1.0, 0.0]], [0, 1])
    with pytest.raises(
        ValueError, match="distance must be a torch.Tensor .* got a list"
    ):
        contrastive_loss([0.1, 0.2], [0, 1])
