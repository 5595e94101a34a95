"""Mining: choosing which pairs and triplets of a labelled batch to learn from.

Miners look at the current embeddings (without gradient) and return **index tensors** into the
batch: ``(a, p, n)`` for triplets, ``(i, j, y)`` for pairs (``y = 0`` similar, ``y = 1``
dissimilar). Feed them to the losses of :mod:`siamese_tutorial.losses`, e.g.
``triplet_loss(emb[a], emb[p], emb[n])`` or ``batch_contrastive_loss(emb, labels, pairs=(i, j, y))``.

The statistics functions report how many triplets or pairs still produce a loss and the mean
positive/negative distances: a collapse of the embedding (everything mapped to one point) shows
as both mean distances going to 0 while the active fraction goes to 1.

References
----------
- F. Schroff, D. Kalenichenko, J. Philbin. "FaceNet". CVPR 2015 (semi-hard negatives).
- A. Hermans, L. Beyer, B. Leibe. "In Defense of the Triplet Loss". arXiv:1703.07737 (batch hard).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .data import random_triplets
from .losses import (
    all_pairs,
    check_labelled_batch,
    check_margin,
    check_triplet_batch,
    hardest_triplets,
    negative_mask,
    pairwise_distances,
    positive_mask,
    triplet_mask,
)

__all__ = [
    "random_triplets",
    "all_valid_triplets",
    "semi_hard_triplets",
    "batch_hard_triplets",
    "all_pairs",
    "hard_negative_pairs",
    "triplet_statistics",
    "pair_statistics",
]


def all_valid_triplets(labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Every valid triplet of a labelled batch: ``a != p`` of the same class, ``n`` of another class.

    Parameters
    ----------
    labels : Tensor
        ``(N,)`` class labels.

    Returns
    -------
    tuple of Tensor
        ``(a, p, n)`` int64 index tensors (``N^3`` candidates: for batches of a few hundred).
    """
    a, p, n = torch.nonzero(triplet_mask(labels), as_tuple=True)
    return a, p, n


@torch.no_grad()
def semi_hard_triplets(
    embeddings: Tensor, labels: Tensor, margin: float, squared: bool = False
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Semi-hard triplets (Schroff et al., 2015, "FaceNet", section 3.2).

    For **every** anchor-positive pair ``(a, p)`` the negatives that are farther than the positive
    but still inside the margin,

    .. math:: d(a, p) < d(a, n) < d(a, p) + \alpha,

    are semi-hard: they have a positive loss but are not the hardest ones (which, early in
    training, are often mislabelled or lead to a collapsed model). The hardest of them (smallest
    :math:`d(a, n)`) is chosen. A pair without a semi-hard negative is **skipped**, with no
    fallback to another negative, so the result can be empty (e.g. once training has converged).

    Parameters
    ----------
    embeddings : Tensor
        ``(N, D)`` embeddings of a labelled batch.
    labels : Tensor
        ``(N,)`` class labels.
    margin : float
        :math:`\alpha > 0`.
    squared : bool
        Use squared Euclidean distances (as FaceNet does).

    Returns
    -------
    tuple of Tensor
        ``(a, p, n)`` int64 index tensors, at most one triplet per anchor-positive pair.
    """
    check_labelled_batch(embeddings, labels)
    check_margin(margin, allow_zero=False)
    d = pairwise_distances(embeddings, squared=squared)
    # Each anchor's negatives sorted by distance (a stable sort keeps the lowest index first among
    # ties); the first one strictly beyond d(a, p) is the hardest semi-hard one if it is inside the
    # margin. N^2 log N instead of an N^3 mask: 5x faster at N = 128.
    sorted_d, order = d.masked_fill(~negative_mask(labels), torch.inf).sort(dim=1, stable=True)
    a, p = torch.nonzero(positive_mask(labels), as_tuple=True)
    d_ap = d[a, p]
    first = torch.searchsorted(sorted_d, d.contiguous(), right=True)[a, p].clamp(max=len(labels) - 1)
    found = sorted_d[a, first] < d_ap + margin
    return a[found], p[found], order[a, first][found]


@torch.no_grad()
def batch_hard_triplets(
    embeddings: Tensor, labels: Tensor, squared: bool = False
) -> tuple[Tensor, Tensor, Tensor]:
    """Batch-hard triplets (Hermans et al., 2017): one per anchor, its hardest positive and negative.

    The hardest positive is the farthest sample of the anchor's class, the hardest negative the
    nearest sample of another class; anchors without a positive or a negative are left out.
    The mining step of :func:`siamese_tutorial.losses.batch_hard_triplet_loss`.

    Parameters
    ----------
    embeddings : Tensor
        ``(N, D)`` embeddings of a labelled batch.
    labels : Tensor
        ``(N,)`` class labels.
    squared : bool
        Use squared Euclidean distances (the same triplets: squaring is monotonic).

    Returns
    -------
    tuple of Tensor
        ``(a, p, n)`` int64 index tensors.
    """
    check_labelled_batch(embeddings, labels)
    return hardest_triplets(pairwise_distances(embeddings, squared=squared), labels)


@torch.no_grad()
def hard_negative_pairs(
    embeddings: Tensor, labels: Tensor, margin: float, squared: bool = False
) -> tuple[Tensor, Tensor, Tensor]:
    r"""The pairs ``i < j`` that the contrastive loss acts on.

    All similar pairs (their loss :math:`\tfrac12 D^2` is positive unless :math:`D = 0`) plus
    the dissimilar pairs closer than the margin, :math:`D < m` (the others have zero loss and
    zero gradient).

    Parameters
    ----------
    embeddings : Tensor
        ``(N, D)`` embeddings of a labelled batch.
    labels : Tensor
        ``(N,)`` class labels.
    margin : float
        :math:`m > 0`, the margin of the contrastive loss.
    squared : bool
        Compare the squared distance with the margin.

    Returns
    -------
    tuple of Tensor
        ``(i, j, y)`` int64 tensors; ``y = 0`` similar, ``y = 1`` dissimilar.
    """
    check_labelled_batch(embeddings, labels)
    check_margin(margin, allow_zero=False)
    i, j, y = all_pairs(labels)
    d = pairwise_distances(embeddings, squared=squared)[i, j]
    keep = (y == 0) | (d < margin)
    return i[keep], j[keep], y[keep]


@torch.no_grad()
def triplet_statistics(
    embeddings: Tensor, labels: Tensor, margin: float, squared: bool = False
) -> dict[str, float]:
    r"""Health of a triplet-trained embedding on one labelled batch.

    Parameters
    ----------
    embeddings : Tensor
        ``(N, D)`` embeddings of a labelled batch (needs a positive and a negative pair).
    labels : Tensor
        ``(N,)`` class labels.
    margin : float
        :math:`\alpha \ge 0` of the triplet loss.
    squared : bool
        Use squared Euclidean distances.

    Returns
    -------
    dict of str to float
        ``active_fraction``: fraction of the valid triplets with a positive loss,
        :math:`d(a,p) - d(a,n) + \alpha > 0`; ``mean_positive_distance`` over all positive pairs;
        ``mean_negative_distance`` over all negative pairs.
    """
    check_labelled_batch(embeddings, labels)
    check_margin(margin, allow_zero=True)
    check_triplet_batch(labels)
    d = pairwise_distances(embeddings, squared=squared)
    positives, negatives = positive_mask(labels), negative_mask(labels)
    # A triplet (a, p, n) is active when d(a,n) < d(a,p) + margin: count, for every (a, p), the
    # negatives of a below that bound in a sorted row (N^2 log N instead of an N^3 mask).
    sorted_negatives = d.masked_fill(~negatives, float("inf")).sort(dim=1).values
    active = torch.searchsorted(sorted_negatives, (d + margin).contiguous())[positives].sum()
    valid = (positives.sum(dim=1) * negatives.sum(dim=1)).sum()
    return {
        "active_fraction": (active / valid).item(),
        "mean_positive_distance": d[positive_mask(labels)].mean().item(),
        "mean_negative_distance": d[negative_mask(labels)].mean().item(),
    }


@torch.no_grad()
def pair_statistics(embeddings: Tensor, labels: Tensor, margin: float) -> dict[str, float]:
    """Health of a contrastive-trained embedding on one labelled batch.

    Parameters
    ----------
    embeddings : Tensor
        ``(N, D)`` embeddings of a labelled batch (needs a positive and a negative pair).
    labels : Tensor
        ``(N,)`` class labels.
    margin : float
        :math:`m > 0` of the contrastive loss.

    Returns
    -------
    dict of str to float
        ``active_fraction``: fraction of the dissimilar pairs inside the margin, :math:`D < m`
        (the only dissimilar pairs with a loss; similar pairs are not counted since every one
        with :math:`D > 0` has a loss); ``mean_positive_distance`` over all similar pairs;
        ``mean_negative_distance`` over all dissimilar pairs.
    """
    check_labelled_batch(embeddings, labels)
    check_margin(margin, allow_zero=False)
    check_triplet_batch(labels)
    d = pairwise_distances(embeddings)
    negative_distances = d[negative_mask(labels)]
    return {
        "active_fraction": (negative_distances < margin).double().mean().item(),
        "mean_positive_distance": d[positive_mask(labels)].mean().item(),
        "mean_negative_distance": negative_distances.mean().item(),
    }
