"""Losses of metric learning: the contrastive loss and the triplet losses.

Conventions used throughout the package:

* embeddings are ``(N, D)`` tensors, one row per example;
* a *pair* label is ``0`` for a **similar** pair (same class) and ``1`` for a **dissimilar** pair
  (different classes), the convention of Hadsell, Chopra & LeCun (2006);
* ``squared=True`` means "use the squared Euclidean distance" wherever a distance appears;
* NaN or infinite inputs raise ``FloatingPointError`` (a NaN loss would train nothing, silently) when
  ``check=True``, the default: the check reads the device once. A training loop passes ``check=False``
  and checks its loss and embeddings itself, as :class:`~siamese_tutorial.training.Trainer` does at its
  log steps, so that no step waits for the device;
* labels may be tensors, NumPy arrays or lists;
* an empty batch (no pair, no triplet: a miner that found nothing) gives a loss of 0 with a zero
  gradient, as pytorch-metric-learning's losses do, never the NaN of a mean of nothing.

References
----------
- R. Hadsell, S. Chopra, Y. LeCun. "Dimensionality Reduction by Learning an Invariant Mapping".
  CVPR 2006.
- F. Schroff, D. Kalenichenko, J. Philbin. "FaceNet: A Unified Embedding for Face Recognition and
  Clustering". CVPR 2015.
- A. Hermans, L. Beyer, B. Leibe. "In Defense of the Triplet Loss for Person Re-Identification".
  arXiv:1703.07737, 2017.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checks import as_labels, check_finite, check_number
from .distances import euclidean_distance, pairwise_distances
from .mining import (
    check_labelled_batch,
    check_triplet_batch,
    negative_mask,
    positive_mask,
    semi_hard_negatives,
)

__all__ = [
    "contrastive_loss",
    "ContrastiveLoss",
    "triplet_loss",
    "TripletLoss",
    "batch_all_triplet_loss",
    "batch_hard_triplet_loss",
    "semi_hard_triplet_loss",
    "batch_contrastive_loss",
]

REDUCTIONS = ("mean", "sum", "none")


# ----------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"unknown reduction {reduction!r}; choose one of {REDUCTIONS}"
        )


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    _check_reduction(reduction)
    if reduction == "mean":
        return (
            loss.mean() if loss.numel() else loss.sum()
        )  # the mean of nothing: 0, still on the graph
    return loss.sum() if reduction == "sum" else loss


def _check_finite_inputs(check: bool, **tensors: Tensor) -> None:
    """With ``check``, raise ``FloatingPointError`` naming the first input that holds NaN or infinity."""
    if check:
        for name, x in tensors.items():
            check_finite(
                x.detach(),
                f"the {name} given to the loss",
                "find where they became NaN or infinite "
                "(the images? a diverged training?); a NaN loss would train nothing",
            )


def _check_margin(margin: float, allow_zero: bool) -> None:
    """``margin`` must be finite and > 0, or >= 0 when ``allow_zero`` (0 is a plain ranking for triplets;
    for the contrastive loss it would remove the dissimilar term)."""
    check_number("margin", margin, low=0, low_inclusive=allow_zero)


def _check_pair_labels(label: Tensor) -> None:
    if not torch.all((label == 0) | (label == 1)):
        bad = label[(label != 0) & (label != 1)][0].item()
        raise ValueError(
            "pair labels must be 0 (similar pair, same class) or 1 (dissimilar pair, different "
            f"classes), the convention of Hadsell et al. (2006); got the value {bad}"
        )


def contrastive_loss(
    distance: Tensor,
    label: Tensor,
    margin: float = 1.0,
    reduction: str = "mean",
    check: bool = True,
) -> Tensor:
    r"""Contrastive loss of Hadsell, Chopra & LeCun (2006), "Dimensionality Reduction by Learning
    an Invariant Mapping", CVPR 2006, eq. (4):

    .. math:: L(W, Y, \vec X_1, \vec X_2) = (1 - Y)\, \tfrac12 D_W^2
              + Y\, \tfrac12 \{\max(0, m - D_W)\}^2

    with the partial losses :math:`L_S = \tfrac12 D_W^2` for similar pairs (pulls them together)
    and :math:`L_D = \tfrac12 \max(0, m - D_W)^2` for dissimilar pairs (pushes them apart, but only
    while they are closer than the margin :math:`m`).

    Label convention (the paper's): ``Y = 0`` **similar** pair, ``Y = 1`` **dissimilar** pair.

    Parameters
    ----------
    distance : Tensor
        ``(B,)`` Euclidean distances :math:`D_W` between the two embeddings of each pair.
    label : Tensor
        ``(B,)`` pair labels, 0 (similar) or 1 (dissimilar); bool, integer or float.
    margin : float
        :math:`m > 0`.
    reduction : str
        ``"mean"``, ``"sum"`` or ``"none"`` (per-pair losses, shape ``(B,)``).
    check : bool
        Raise ``FloatingPointError`` for NaN or infinite distances (reads the device once).

    Returns
    -------
    Tensor
        Scalar loss (0 for an empty batch), or ``(B,)`` with ``reduction="none"``.
    """
    if not isinstance(distance, Tensor):
        raise ValueError(
            "distance must be a torch.Tensor of shape (B,); got a "
            f"{type(distance).__name__} (convert it with torch.as_tensor)"
        )
    label = as_labels(label, distance.device)
    if distance.shape != label.shape:
        raise ValueError(
            "distance and label must have the same shape; got "
            f"{tuple(distance.shape)} and {tuple(label.shape)}"
        )
    _check_margin(margin, allow_zero=False)
    _check_pair_labels(label)
    _check_finite_inputs(check, distances=distance)
    y = label.to(distance.dtype)
    similar_loss = 0.5 * distance.pow(2)
    dissimilar_loss = 0.5 * F.relu(margin - distance).pow(2)
    return _reduce((1 - y) * similar_loss + y * dissimilar_loss, reduction)


class ContrastiveLoss(nn.Module):
    """Module form of :func:`contrastive_loss`: ``loss = ContrastiveLoss(margin)(distance, label)``.

    Parameters
    ----------
    margin : float
        :math:`m > 0`.
    reduction : str
        ``"mean"``, ``"sum"`` or ``"none"``.
    """

    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__()
        _check_margin(margin, allow_zero=False)
        _check_reduction(reduction)
        self.margin = margin
        self.reduction = reduction

    def forward(self, distance: Tensor, label: Tensor) -> Tensor:
        """Loss of ``(B,)`` distances with ``(B,)`` labels (0 similar, 1 dissimilar)."""
        return contrastive_loss(distance, label, self.margin, self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"


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
    labels = check_labelled_batch(embeddings, labels)
    _check_margin(margin, allow_zero=True)
    if check:
        check_triplet_batch(labels)
    _check_finite_inputs(check, embeddings=embeddings)
    d = pairwise_distances(embeddings, squared=squared)
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
    (:func:`siamese_tutorial.mining.hardest_triplets` makes the same choice):

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
    labels = check_labelled_batch(embeddings, labels)
    _check_margin(margin, allow_zero=True)
    if check:
        check_triplet_batch(labels)
    _check_finite_inputs(check, embeddings=embeddings)
    d = pairwise_distances(embeddings, squared=squared)
    positives, negatives = positive_mask(labels), negative_mask(labels)
    # Chosen without gradient, then read from d with one: the whole (N, N) matrix, no index lists.
    p = d.detach().masked_fill(~positives, -torch.inf).argmax(1, keepdim=True)
    n = d.detach().masked_fill(~negatives, torch.inf).argmin(1, keepdim=True)
    difference = (d.gather(1, p) - d.gather(1, n)).squeeze(1)
    losses = F.softplus(difference) if soft else F.relu(difference + margin)
    anchors = positives.any(1) & negatives.any(1)
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
    labels = check_labelled_batch(embeddings, labels)
    _check_margin(margin, allow_zero=False)
    if check:
        check_triplet_batch(labels)
    _check_finite_inputs(check, embeddings=embeddings)
    d = pairwise_distances(embeddings, squared=squared)
    negative, found = semi_hard_negatives(d, labels, margin)
    losses = torch.where(found, d - d.gather(1, negative) + margin, 0.0)
    return losses.sum() / found.sum().clamp(min=1)


class _AllPairsContrastive(torch.autograd.Function):
    r"""Sum of the contrastive terms over all ordered pairs of a batch, with a hand-written backward.

    With :math:`s_{ij} = \lVert x_i - x_j\rVert^2`, :math:`d_{ij} = \sqrt{s_{ij}}` and
    :math:`y_{ij} = 1` for a dissimilar pair,

    .. math:: S = \sum_{i, j} (1 - y_{ij})\, \tfrac12 s_{ij} + y_{ij}\, \tfrac12 \max(0, m - d_{ij})^2,
              \qquad g_{ij} = \frac{\partial S}{\partial s_{ij}}
              = \begin{cases} \tfrac12 & y_{ij} = 0 \\ -\max(0, m - d_{ij}) / (2 d_{ij}) & y_{ij} = 1 \end{cases}

    (:math:`g_{ij} = 0` for a dissimilar pair at distance 0, whose direction is undefined, as with
    :func:`pairwise_distances`; the diagonal adds nothing). Since
    :math:`s_{ij} = \lVert x_i\rVert^2 + \lVert x_j\rVert^2 - 2 x_i \cdot x_j` and :math:`G` is symmetric,
    :math:`\partial S / \partial X = 4 (\mathrm{diag}(G \mathbf 1) X - G X)`: one ``(N, N)`` matrix and
    one matrix product, where autograd would keep and traverse a chain of ``(N, N)`` intermediates
    (which made this loss slower than pytorch-metric-learning's on large batches).
    """

    @staticmethod
    def forward(
        ctx,
        embeddings: Tensor,
        negative: Tensor,
        margin: float,
        eps: float = 1e-12,
    ) -> Tensor:
        # In place and with float masks: on the CPU, masked_fill is several times slower than mul.
        s = pairwise_distances(embeddings, squared=True)
        dissimilar = negative.to(s.dtype)
        similar = 1.0 - dissimilar
        d = s.sqrt()
        hinge = (margin - d).clamp_(min=0.0).mul_(dissimilar)
        total = 0.5 * (
            torch.dot(hinge.view(-1), hinge.view(-1))
            + torch.dot(s.view(-1), similar.view(-1))
        )
        g = (
            hinge.div_(d.clamp_(min=eps**0.5))
            .mul_(-0.5)
            .masked_fill_(s <= eps, 0.0)
            .add_(similar, alpha=0.5)
        )
        ctx.save_for_backward(embeddings, g)
        return total

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor, None, None, None]:
        embeddings, g = ctx.saved_tensors
        grad = 4.0 * (g.sum(1, keepdim=True) * embeddings - g @ embeddings)
        return grad_output * grad, None, None, None


def batch_contrastive_loss(
    embeddings: Tensor,
    labels: Tensor,
    margin: float = 1.0,
    pairs: tuple[Tensor, Tensor, Tensor] | None = None,
    check: bool = True,
) -> Tensor:
    r"""Mean :func:`contrastive_loss` over pairs of a labelled batch.

    .. math:: L = \frac{1}{|P|} \sum_{(i, j, y) \in P} (1 - y)\, \tfrac12 D_{ij}^2
              + y\, \tfrac12 \max(0, m - D_{ij})^2

    Parameters
    ----------
    embeddings : Tensor
        ``(N, D)`` embeddings of a labelled batch.
    labels : Tensor
        ``(N,)`` class labels.
    margin : float
        :math:`m > 0`.
    pairs : tuple of Tensor, optional
        ``(i, j, y)`` index tensors and pair labels (0 similar, 1 dissimilar), e.g. from
        :func:`siamese_tutorial.mining.hard_negative_pairs`. Default: all pairs ``i < j``
        (:func:`siamese_tutorial.mining.all_pairs`).
    check : bool
        Raise ``FloatingPointError`` for NaN or infinite embeddings (reads the device once).

    Returns
    -------
    Tensor
        Scalar loss; 0 when ``pairs`` is empty (a miner found nothing to learn from).
    """
    labels = check_labelled_batch(embeddings, labels)
    _check_finite_inputs(check, embeddings=embeddings)
    if pairs is None:
        # All pairs at once on the (N, N) distance matrix, without gathering N(N-1)/2 pairs (whose
        # backward is a slow scatter). The sum over i != j counts each pair twice; the diagonal
        # adds nothing (distance 0, similar).
        _check_margin(margin, allow_zero=False)
        n = len(labels)
        return _AllPairsContrastive.apply(
            embeddings, negative_mask(labels), margin
        ) / max(n * (n - 1), 1)
    i, j, y = pairs
    if not i.shape == j.shape == y.shape or i.dim() != 1:
        raise ValueError(
            "pairs must be three 1-D tensors (i, j, y) of the same length; got shapes "
            f"{tuple(i.shape)}, {tuple(j.shape)} and {tuple(y.shape)}"
        )
    losses = contrastive_loss(
        pairwise_distances(embeddings)[i, j],
        y,
        margin,
        reduction="none",
        check=False,
    )
    return losses.sum() / max(len(losses), 1)
