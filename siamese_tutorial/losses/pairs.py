"""The contrastive loss of Hadsell, Chopra & LeCun (2006): of pairs, and over a labelled batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import as_labels
from ..distances import pairwise_distances
from ..mining import check_labelled_batch, negative_mask
from ._common import (
    _check_finite_inputs,
    _check_margin,
    _check_pair_labels,
    _check_reduction,
    _reduce,
)

__all__ = [
    "contrastive_loss",
    "ContrastiveLoss",
    "batch_contrastive_loss",
    "pair_loss_of_distances",
    "all_pairs_contrastive_loss",
]


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
        squared_distances: Tensor | None = None,
    ) -> Tensor:
        # In place and with float masks: on the CPU, masked_fill is several times slower than mul.
        s = squared_distances
        if s is None:
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
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        embeddings, g = ctx.saved_tensors
        grad = 4.0 * (g.sum(1, keepdim=True) * embeddings - g @ embeddings)
        return grad_output * grad, None, None, None, None


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
        return all_pairs_contrastive_loss(embeddings, labels, margin)
    i, j, y = pairs
    if not i.shape == j.shape == y.shape or i.dim() != 1:
        raise ValueError(
            "pairs must be three 1-D tensors (i, j, y) of the same length; got shapes "
            f"{tuple(i.shape)}, {tuple(j.shape)} and {tuple(y.shape)}"
        )
    return pair_loss_of_distances(
        pairwise_distances(embeddings), pairs, margin
    )


def pair_loss_of_distances(
    distances: Tensor, pairs: tuple[Tensor, Tensor, Tensor], margin: float
) -> Tensor:
    """Mean contrastive loss of the pairs ``(i, j, y)`` of a batch's ``(N, N)`` distance matrix."""
    i, j, y = pairs
    losses = contrastive_loss(
        distances[i, j], y, margin, reduction="none", check=False
    )
    return losses.sum() / max(len(losses), 1)


def all_pairs_contrastive_loss(
    embeddings: Tensor,
    labels: Tensor,
    margin: float,
    squared_distances: Tensor | None = None,
) -> Tensor:
    """Mean contrastive loss over all pairs ``i != j`` of a batch (the hand-written backward of
    :class:`_AllPairsContrastive`), from the batch's squared distances if given (no gradient)."""
    n = len(labels)
    return _AllPairsContrastive.apply(
        embeddings, negative_mask(labels), margin, 1e-12, squared_distances
    ) / max(n * (n - 1), 1)
