r"""Euclidean distances between embeddings, with gradients that stay finite at zero distance.

Embeddings are ``(N, D)`` tensors, one row per example. ``squared=True`` means "the squared
Euclidean distance" wherever it appears. A NaN anywhere in the input stays NaN in the distances:
it must never turn into a distance of 0 that would look like a perfect match.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["pairwise_distances", "euclidean_distance", "check_embeddings"]


def check_embeddings(x: Tensor, name: str) -> None:
    """Raise ``ValueError`` unless ``x`` is a 2-D ``(N, D)`` tensor."""
    if not isinstance(
        x, Tensor
    ):  # a list or an array has no gradient to train with: say so, not AttributeError
        raise ValueError(
            f"{name} must be a torch.Tensor of shape (N, D), one embedding per row; got a "
            f"{type(x).__name__} (convert it with torch.as_tensor)"
        )
    if x.dim() != 2:
        raise ValueError(
            f"{name} must be a 2-D tensor of shape (N, D), one embedding per row; "
            f"got shape {tuple(x.shape)}. Use x.reshape(len(x), -1) to flatten."
        )


def _safe_sqrt(squared_distance: Tensor, eps: float) -> Tensor:
    """``sqrt`` whose gradient is 0 (not inf/NaN) where the squared distance is <= ``eps``.

    d sqrt(s)/ds = 1 / (2 sqrt(s)) is infinite at s = 0, and ``0 * inf = NaN`` would poison every
    gradient that flows through a zero distance (e.g. two identical embeddings, or the diagonal).
    The test is ``not s <= eps`` rather than ``s > eps`` so that a NaN takes the square-root branch
    and stays NaN.
    """
    zero = squared_distance <= eps
    safe = squared_distance.masked_fill(zero, 1.0)
    return safe.sqrt().masked_fill(zero, 0.0)


def pairwise_distances(
    x: Tensor,
    y: Tensor | None = None,
    squared: bool = False,
    eps: float = 1e-12,
) -> Tensor:
    r"""Euclidean distance matrix between the rows of ``x`` and the rows of ``y``.

    .. math:: D_{ij} = \lVert x_i - y_j \rVert_2
              = \sqrt{\lVert x_i\rVert^2 + \lVert y_j\rVert^2 - 2\, x_i \cdot y_j}

    The expansion uses one matrix product (fast, memory ``O(NM)``); rounding can make the squared
    distance slightly negative, so it is clamped at 0, and the square root is masked where the
    squared distance is ``<= eps`` so that gradients stay finite at zero distance.

    Parameters
    ----------
    x : Tensor
        ``(N, D)`` embeddings.
    y : Tensor, optional
        ``(M, D)`` embeddings; ``None`` means ``y = x`` (and the diagonal is then exactly 0).
    squared : bool
        Return squared distances :math:`D_{ij}^2` instead.
    eps : float
        Squared distances ``<= eps`` give distance 0 and gradient 0.

    Returns
    -------
    Tensor
        ``(N, M)`` distances (``(N, N)`` when ``y`` is None).
    """
    check_embeddings(x, "x")
    same = y is None
    if y is None:
        y = x
    else:
        check_embeddings(y, "y")
        if x.shape[1] != y.shape[1]:
            raise ValueError(
                f"x and y must have the same embedding dimension D; got x {tuple(x.shape)} "
                f"and y {tuple(y.shape)}"
            )
    squared_distance = torch.addmm(
        x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1).unsqueeze(0),
        x,
        y.T,
        alpha=-2.0,
    ).clamp(min=0.0)  # clamp keeps a NaN a NaN
    if same:  # d(x_i, x_i) = 0 exactly, not a rounding error of the expansion (NaN rows stay NaN)
        diagonal = torch.eye(len(x), dtype=torch.bool, device=x.device)
        squared_distance = squared_distance.masked_fill(
            diagonal & ~squared_distance.isnan(), 0.0
        )
    return squared_distance if squared else _safe_sqrt(squared_distance, eps)


def euclidean_distance(
    a: Tensor, b: Tensor, squared: bool = False, eps: float = 1e-12
) -> Tensor:
    r"""Row-wise Euclidean distance between paired embeddings, :math:`d_i = \lVert a_i - b_i\rVert_2`.

    Parameters
    ----------
    a, b : Tensor
        ``(B, D)`` embeddings; row ``i`` of ``a`` is paired with row ``i`` of ``b``.
    squared : bool
        Return the squared distance :math:`d_i^2` instead.
    eps : float
        Squared distances ``<= eps`` give distance 0 and gradient 0 (finite gradient for
        identical rows).

    Returns
    -------
    Tensor
        ``(B,)`` distances.
    """
    check_embeddings(a, "a")
    check_embeddings(b, "b")
    if a.shape != b.shape:
        raise ValueError(
            f"a and b must have the same shape (B, D); got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    squared_distance = (a - b).pow(2).sum(1)
    return squared_distance if squared else _safe_sqrt(squared_distance, eps)
