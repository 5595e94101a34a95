"""The triplet losses: one triplet, and a labelled batch's batch-all, batch-hard and semi-hard."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..distances import euclidean_distance, pairwise_distances
from ..mining import (
    check_labelled_batch,
    check_triplet_batch,
    hardest_positives_and_negatives,
    negative_mask,
    positive_mask,
    semi_hard_negatives,
)
from ._common import (
    _check_finite_inputs,
    _check_margin,
    _check_reduction,
    _reduce,
)

__all__ = [
    "triplet_loss",
    "TripletLoss",
    "batch_all_triplet_loss",
    "batch_hard_triplet_loss",
    "semi_hard_triplet_loss",
    "batch_all_loss_of_distances",
    "batch_hard_loss_of_distances",
    "semi_hard_loss_of_distances",
]


def triplet_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = 0.2,
    squared: bool = False,
    reduction: str = "mean",
    check: bool = True,
) -> Tensor:
    r"""Triplet loss of Schroff, Kalenichenko & Philbin (2015), "FaceNet", eq. (3):

    .. math:: L = \max\big(d(a, p) - d(a, n) + \alpha,\; 0\big)

    The anchor must be closer to the positive (same class) than to the negative (other class) by
    at least the margin :math:`\alpha`. FaceNet uses the squared distance (``squared=True``);
    the plain distance (default) is what Hermans et al. (2017) recommend.

    Parameters
    ----------
    anchor, positive, negative : Tensor
        ``(B, D)`` embeddings; row ``i`` of each forms triplet ``i``.
    margin : float
        :math:`\alpha \ge 0`.
    squared : bool
        Use squared Euclidean distances.
    reduction : str
        ``"mean"``, ``"sum"`` or ``"none"`` (per-triplet losses, shape ``(B,)``).
    check : bool
        Raise ``FloatingPointError`` for NaN or infinite embeddings (reads the device once).

    Returns
    -------
    Tensor
        Scalar loss (0 for an empty batch, e.g. a miner that found no triplet), or ``(B,)`` with
        ``reduction="none"``.
    """
    if not anchor.shape == positive.shape == negative.shape:
        raise ValueError(
            "anchor, positive and negative must have the same shape (B, D); "
            f"got {tuple(anchor.shape)}, {tuple(positive.shape)} "
            f"and {tuple(negative.shape)}"
        )
    _check_margin(margin, allow_zero=True)
    _check_finite_inputs(
        check, anchor=anchor, positive=positive, negative=negative
    )
    d_ap = euclidean_distance(anchor, positive, squared)
    d_an = euclidean_distance(anchor, negative, squared)
    return _reduce(F.relu(d_ap - d_an + margin), reduction)


class TripletLoss(nn.Module):
    r"""Module form of :func:`triplet_loss`: ``TripletLoss(margin)(anchor, positive, negative)``.

    Parameters
    ----------
    margin : float
        :math:`\alpha \ge 0`.
    squared : bool
        Use squared Euclidean distances.
    reduction : str
        ``"mean"``, ``"sum"`` or ``"none"``.
    """

    def __init__(
        self,
        margin: float = 0.2,
        squared: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        _check_margin(margin, allow_zero=True)
        _check_reduction(reduction)
        self.margin = margin
        self.squared = squared
        self.reduction = reduction

    def forward(
        self, anchor: Tensor, positive: Tensor, negative: Tensor
    ) -> Tensor:
        """Loss of ``(B, D)`` anchor, positive and negative embeddings."""
        return triplet_loss(
            anchor,
            positive,
            negative,
            self.margin,
            self.squared,
            self.reduction,
        )

    def extra_repr(self) -> str:
        return f"margin={self.margin}, squared={self.squared}, reduction={self.reduction!r}"


def _checked_distances(
    embeddings: Tensor,
    labels: Tensor,
    margin: float,
    squared: bool,
    check: bool,
    allow_zero: bool,
) -> tuple[Tensor, Tensor]:
    """The batch's distance matrix and labels, after the checks of every batch triplet loss."""
    labels = check_labelled_batch(embeddings, labels)
    _check_margin(margin, allow_zero=allow_zero)
    if check:
        check_triplet_batch(labels)
    _check_finite_inputs(check, embeddings=embeddings)
    return pairwise_distances(embeddings, squared=squared), labels


def batch_all_triplet_loss(
    embeddings: Tensor,
    labels: Tensor,
    margin: float = 0.2,
    squared: bool = False,
    check: bool = True,
) -> Tensor:
    r"""Batch-all triplet loss (Hermans, Beyer & Leibe, 2017, "In Defense of the Triplet Loss").

    Every valid triplet of the batch (``a != p`` same class, ``n`` another class) contributes

    .. math:: \ell_{apn} = \max\big(d(a, p) - d(a, n) + \alpha,\; 0\big)

    and the loss is the mean over the **active** triplets (:math:`\ell_{apn} > 0`) only, the common
    convention (Hermans et al.'s "BA≠0" variant; pytorch-metric-learning's ``AvgNonZeroReducer``):
    averaging over all valid triplets would let the many easy, zero-loss triplets dilute the
    gradient as training progresses. With no active triplet the loss is 0.

    Parameters
    ----------
    embeddings : Tensor
        ``(N, D)`` embeddings of a labelled batch.
    labels : Tensor
        ``(N,)`` class labels; the batch needs a class with >= 2 samples and >= 2 classes.
    margin : float
        :math:`\alpha \ge 0`.
    squared : bool
        Use squared Euclidean distances.
    check : bool
        Check that the batch has a positive and a negative pair, and finite embeddings (waits for the device).

    Returns
    -------
    Tensor
        Scalar loss.
    """
    d, labels = _checked_distances(
        embeddings, labels, margin, squared, check, allow_zero=True
    )
    return batch_all_loss_of_distances(d, labels, margin)


def batch_all_loss_of_distances(
    d: Tensor, labels: Tensor, margin: float
) -> Tensor:
    """:func:`batch_all_triplet_loss` of a batch's ``(N, N)`` distance matrix."""
    # A valid triplet is an anchor-positive pair with a negative of the anchor: a (pairs, N) array
    # holds them all, instead of an (N, N, N) one that is mostly invalid.
    a, p = positive_mask(labels).nonzero(as_tuple=True)
    losses = (
        F.relu(d[a, p].unsqueeze(1) - d[a] + margin) * negative_mask(labels)[a]
    )
    num_active = (losses > 0).sum()
    return losses.sum() / num_active.clamp(min=1)


def batch_hard_triplet_loss(
    embeddings: Tensor,
    labels: Tensor,
    margin: float = 0.2,
    squared: bool = False,
    soft: bool = False,
    check: bool = True,
) -> Tensor:
    r"""Batch-hard triplet loss (Hermans, Beyer & Leibe, 2017, "In Defense of the Triplet Loss").

    For each anchor, only its hardest positive and hardest negative in the batch count
    (:func:`siamese_tutorial.mining.hardest_positives_and_negatives`, the one choice of
    :func:`~siamese_tutorial.mining.hardest_triplets` too):

    .. math:: \ell_a = \Big[\alpha + \max_{p:\, y_p = y_a} d(a, p) - \min_{n:\, y_n \ne y_a} d(a, n)\Big]_+

    With ``soft=True`` the hinge is replaced by the soft margin
    :math:`\ell_a = \log\big(1 + \exp(\max_p d(a,p) - \min_n d(a,n))\big)` (softplus) and
    **the margin is ignored**. The loss is the mean of :math:`\ell_a` over the anchors that have
    a positive and a negative in the batch.

    Parameters
    ----------
    embeddings : Tensor
        ``(N, D)`` embeddings of a labelled batch.
    labels : Tensor
        ``(N,)`` class labels; the batch needs a class with >= 2 samples and >= 2 classes.
    margin : float
        :math:`\alpha \ge 0` (unused when ``soft=True``).
    squared : bool
        Use squared Euclidean distances.
    soft : bool
        Soft-margin variant.
    check : bool
        Check that the batch has a positive and a negative pair, and finite embeddings; the check waits
        for the device, so a training loop whose sampler guarantees them passes False.

    Returns
    -------
    Tensor
        Scalar loss.
    """
    d, labels = _checked_distances(
        embeddings, labels, margin, squared, check, allow_zero=True
    )
    return batch_hard_loss_of_distances(d, labels, margin, soft)


def batch_hard_loss_of_distances(
    d: Tensor, labels: Tensor, margin: float, soft: bool = False
) -> Tensor:
    """:func:`batch_hard_triplet_loss` of a batch's ``(N, N)`` distance matrix."""
    # Chosen without gradient, then read from d with one: the whole (N, N) matrix, no index lists.
    p, n, anchors = hardest_positives_and_negatives(d, labels)
    difference = (
        d.gather(1, p.unsqueeze(1)) - d.gather(1, n.unsqueeze(1))
    ).squeeze(1)
    losses = F.softplus(difference) if soft else F.relu(difference + margin)
    return losses.mul(anchors).sum() / anchors.sum().clamp(min=1)


def semi_hard_triplet_loss(
    embeddings: Tensor,
    labels: Tensor,
    margin: float = 0.2,
    squared: bool = False,
    check: bool = True,
) -> Tensor:
    r"""Triplet loss over the semi-hard triplets of a batch (Schroff et al., 2015, "FaceNet").

    For every anchor-positive pair ``(a, p)``, its hardest semi-hard negative ``n``,
    :math:`d(a, p) < d(a, n) < d(a, p) + \alpha` (:func:`siamese_tutorial.mining.semi_hard_negatives`),
    and the mean over those triplets of

    .. math:: \ell_{apn} = d(a, p) - d(a, n) + \alpha \quad (> 0 \text{ for a semi-hard triplet}).

    FaceNet asks for semi-hard negatives without saying which; taking the closest one is
    TensorFlow's choice, which this function shares. A pair with no semi-hard negative is
    **skipped**, so the loss is 0 when no pair has one. (TensorFlow Addons' ``triplet_semihard_loss``
    differs only for a pair that has no negative farther than its positive: it takes the anchor's
    farthest negative, which is still closer than the positive, a *hard* one. Where negatives lie
    beyond the positive but also beyond the margin, both give the pair a zero loss.)

    Parameters
    ----------
    embeddings : Tensor
        ``(N, D)`` embeddings of a labelled batch.
    labels : Tensor
        ``(N,)`` class labels; the batch needs a class with >= 2 samples and >= 2 classes.
    margin : float
        :math:`\alpha > 0`.
    squared : bool
        Use squared Euclidean distances.
    check : bool
        Check that the batch has a positive and a negative pair, and finite embeddings (waits for the device).

    Returns
    -------
    Tensor
        Scalar loss.
    """
    d, labels = _checked_distances(
        embeddings, labels, margin, squared, check, allow_zero=False
    )
    return semi_hard_loss_of_distances(d, labels, margin)


def semi_hard_loss_of_distances(
    d: Tensor, labels: Tensor, margin: float
) -> Tensor:
    """:func:`semi_hard_triplet_loss` of a batch's ``(N, N)`` distance matrix."""
    negative, found = semi_hard_negatives(d, labels, margin)
    losses = torch.where(found, d - d.gather(1, negative) + margin, 0.0)
    return losses.sum() / found.sum().clamp(min=1)
