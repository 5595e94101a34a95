r"""How healthy an embedding is on one labelled batch: active triplets or pairs, mean distances.

A collapse of the embedding (everything mapped to one point) shows as both mean distances going
to 0 while the active fraction goes to 1. Each statistic is computed from the batch's ``(N, N)``
distance matrix (the ``*_of_distances`` functions take it ready, as a training objective does).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .checks import check_number
from .distances import pairwise_distances
from .mining import (
    check_labelled_batch,
    check_triplet_batch,
    negative_mask,
    positive_mask,
)

__all__ = [
    "triplet_statistics",
    "pair_statistics",
    "triplet_statistics_of_distances",
    "pair_statistics_of_distances",
]


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` where ``mask`` is True, without indexing (which would wait for the device)."""
    return values.mul(mask).sum() / mask.sum()


@torch.no_grad()
def triplet_statistics(
    embeddings: Tensor,
    labels: Tensor,
    margin: float,
    squared: bool = False,
    check: bool = True,
) -> dict[str, Tensor]:
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
    check : bool
        Check that the batch has a positive and a negative pair (:func:`check_triplet_batch`).

    Returns
    -------
    dict of str to Tensor
        0-d tensors on the embeddings' device (``float()`` one to read it):
        ``active_fraction``: fraction of the valid triplets with a positive loss,
        :math:`d(a,p) - d(a,n) + \alpha > 0`; ``mean_positive_distance`` over all positive pairs;
        ``mean_negative_distance`` over all negative pairs.
    """
    labels = check_labelled_batch(embeddings, labels)
    check_number("margin", margin, low=0)
    if check:
        check_triplet_batch(labels)
    return triplet_statistics_of_distances(
        pairwise_distances(embeddings, squared=squared), labels, margin
    )


@torch.no_grad()
def triplet_statistics_of_distances(
    d: Tensor, labels: Tensor, margin: float
) -> dict[str, Tensor]:
    """:func:`triplet_statistics` of a batch's ``(N, N)`` distance matrix."""
    positives, negatives = positive_mask(labels), negative_mask(labels)
    # A triplet (a, p, n) is active when d(a,n) < d(a,p) + margin: count, for every (a, p), the
    # negatives of a below that bound in a sorted row (N^2 log N instead of an N^3 mask).
    sorted_negatives = d.masked_fill(~negatives, torch.inf).sort(dim=1).values
    active = (
        torch.searchsorted(sorted_negatives, (d + margin).contiguous())
        .mul(positives)
        .sum()
    )
    valid = (positives.sum(dim=1) * negatives.sum(dim=1)).sum()
    return {
        "active_fraction": active / valid,
        "mean_positive_distance": _masked_mean(d, positives),
        "mean_negative_distance": _masked_mean(d, negatives),
    }


@torch.no_grad()
def pair_statistics(
    embeddings: Tensor, labels: Tensor, margin: float, check: bool = True
) -> dict[str, Tensor]:
    """Health of a contrastive-trained embedding on one labelled batch.

    Parameters
    ----------
    embeddings : Tensor
        ``(N, D)`` embeddings of a labelled batch (needs a positive and a negative pair).
    labels : Tensor
        ``(N,)`` class labels.
    margin : float
        :math:`m > 0` of the contrastive loss.
    check : bool
        Check that the batch has a positive and a negative pair (:func:`check_triplet_batch`).

    Returns
    -------
    dict of str to Tensor
        0-d tensors: ``active_fraction``: fraction of the dissimilar pairs inside the margin,
        :math:`D < m` (the only dissimilar pairs with a loss; similar pairs are not counted since
        every one with :math:`D > 0` has a loss); ``mean_positive_distance`` over all similar pairs;
        ``mean_negative_distance`` over all dissimilar pairs.
    """
    labels = check_labelled_batch(embeddings, labels)
    check_number("margin", margin, low=0, low_inclusive=False)
    if check:
        check_triplet_batch(labels)
    return pair_statistics_of_distances(
        pairwise_distances(embeddings), labels, margin
    )


@torch.no_grad()
def pair_statistics_of_distances(
    d: Tensor, labels: Tensor, margin: float
) -> dict[str, Tensor]:
    """:func:`pair_statistics` of a batch's ``(N, N)`` distance matrix."""
    negatives = negative_mask(labels)
    return {
        "active_fraction": _masked_mean((d < margin).to(d.dtype), negatives),
        "mean_positive_distance": _masked_mean(d, positive_mask(labels)),
        "mean_negative_distance": _masked_mean(d, negatives),
    }
