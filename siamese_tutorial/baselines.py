"""Baselines of the one-shot task that learn nothing: the Modified Hausdorff Distance and raw pixels.

Each is a *cost function* ``cost(test_images (T, 1, S, S), train_images (C, 1, S, S)) -> (T, C)``
(small = similar) for :func:`siamese_tutorial.evaluation.one_shot_accuracy_from_cost`.

References
----------
- M.-P. Dubuisson, A. K. Jain. "A modified Hausdorff distance for object matching". ICPR 1994.
- B. M. Lake, R. Salakhutdinov, J. B. Tenenbaum. "Human-level concept learning through probabilistic
  program induction". Science 350 (2015): the official demo, whose MHD baseline makes 38.8% errors.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from .distances import pairwise_distances

__all__ = [
    "ink_coordinates",
    "modified_hausdorff_distance",
    "mhd_cost",
    "pixel_nearest_neighbour_cost",
]


def _ink_pixels(image: Tensor) -> Tensor:
    """``(n, 2)`` float64 ``(row, col)`` of the pixels ``> 0.5`` of an ``(S, S)`` or ``(1, S, S)`` image."""
    if image.dim() == 3 and image.shape[0] == 1:
        image = image[0]
    if image.dim() != 2:
        raise ValueError(
            f"image must have shape (S, S) or (1, S, S), got {tuple(image.shape)}."
        )
    pixels = (image > 0.5).nonzero().to(torch.float64)
    if len(pixels) == 0:
        raise ValueError(
            "image has no ink (no pixel > 0.5); is it blank, or is ink 0 instead of 1?"
        )
    return pixels


def ink_coordinates(image: Tensor) -> Tensor:
    """Coordinates ``(row, col)`` of the inked pixels, centred on their mean.

    ``LoadImgAsPoints`` of the official demo. Centring makes the comparison invariant to where the
    character sits in the image.

    Parameters
    ----------
    image : Tensor
        ``(S, S)`` or ``(1, S, S)`` image, ink = 1 (pixels ``> 0.5`` count as ink, so the binary
        105 x 105 images are read exactly).

    Returns
    -------
    Tensor
        ``(n, 2)`` float64 coordinates, ``n`` = number of inked pixels.
    """
    pixels = _ink_pixels(image)
    return pixels - pixels.mean(dim=0)


def modified_hausdorff_distance(a: Tensor, b: Tensor) -> Tensor:
    r"""Modified Hausdorff Distance between two point sets (Dubuisson & Jain, 1994).

    .. math:: \mathrm{MHD}(A, B) = \max\Big(\frac{1}{|A|}\sum_{a \in A} \min_{b \in B} \lVert a - b \rVert,\;
              \frac{1}{|B|}\sum_{b \in B} \min_{a \in A} \lVert a - b \rVert\Big)

    The Hausdorff distance takes the max of the two directed distances' *maxima*; averaging instead
    makes it robust to a stray pixel. This is ``ModHausdorffDistance`` of the official demo.

    Parameters
    ----------
    a : Tensor
        ``(n, d)`` points.
    b : Tensor
        ``(m, d)`` points.

    Returns
    -------
    Tensor
        0-d tensor, the distance.
    """
    for name, points in (("a", a), ("b", b)):
        if points.dim() != 2 or len(points) == 0:
            raise ValueError(
                f"{name} must be a non-empty (n, d) set of points, got shape {tuple(points.shape)}."
            )
    # Direct differences, not the |a|^2 + |b|^2 - 2ab expansion: no rounding error to break near-ties.
    d = torch.cdist(
        a, b, compute_mode="donot_use_mm_for_euclid_dist"
    )  # (n, m)
    return torch.maximum(d.amin(dim=1).mean(), d.amin(dim=0).mean())


def _nearest_ink_in_rows(images: Tensor) -> tuple[Tensor, Tensor]:
    """For each row and column of binary images ``(..., S, S)``: the nearest ink column on the left and right.

    "On the left" includes the column itself, and so does "on the right". The images are padded with ``S``
    blank columns on each side, so that shifted positions stay inside; returns two ``(..., S, 3S)`` float64
    tables (``-inf`` / ``+inf`` where a row has no such ink), in which column ``j`` of the image is entry
    ``j + S``.
    """
    size = images.shape[-1]
    ink = F.pad(images > 0.5, (size, size))
    columns = torch.arange(-size, 2 * size, dtype=torch.float64)
    left = torch.where(ink, columns, -math.inf).cummax(dim=-1).values
    right = (
        torch.where(ink, columns, math.inf)
        .flip(-1)
        .cummin(dim=-1)
        .values.flip(-1)
    )
    return left, right


def _mean_distance_to_ink(
    pixels: Tensor, mask: Tensor, shift: Tensor, left: Tensor, right: Tensor
) -> Tensor:
    r"""Directed MHD term :math:`\frac{1}{|A|}\sum_{a} \min_{b} \lVert a + s - b \rVert` on the pixel grid.

    ``a`` runs over the real (``mask``) pixels ``(C, n, 2)`` of ``S x S`` images, ``b`` over the ink of
    the images given by their row tables ``(C, S, 3S)`` (:func:`_nearest_ink_in_rows`), ``s`` is a real
    shift ``(C, 2)``. Returns ``(C,)``. The squared distance splits by the rows ``r`` of the ink image,

    .. math:: \min_b \lVert x - b \rVert^2
              = \min_r \big[(x_{row} - r)^2 + (x_{col} - \text{nearest ink column of row } r)^2\big],

    and both terms take one value per row or column of the grid, so they are tabulated first. This
    costs ``n x S`` per pair of images instead of ``n x m`` for all pairs of their ``~900`` ink pixels.
    """
    num, size = left.shape[0], left.shape[-2]
    # Rows without ink in any of the images are at infinite distance: leave them out.
    ink_rows = torch.isfinite(left[..., -1]).any(dim=0).nonzero().flatten()
    left, right = left[:, ink_rows], right[:, ink_rows]  # (C, R, 3S)
    grid = torch.arange(size, dtype=torch.float64)
    x = grid + shift[:, 1:]  # (C, S): shifted columns
    at_or_left = (
        (x.floor().long() + size).unsqueeze(1).expand(-1, len(ink_rows), -1)
    )
    at_or_right = (
        (x.ceil().long() + size).unsqueeze(1).expand(-1, len(ink_rows), -1)
    )
    column_gap = torch.minimum(  # (C, R, S): distance from each shifted column to the nearest ink of row r
        x.unsqueeze(1) - left.gather(-1, at_or_left),
        right.gather(-1, at_or_right) - x.unsqueeze(1),
    )
    row_gap = (grid + shift[:, :1]).unsqueeze(-1) - ink_rows.to(
        torch.float64
    )  # (C, S shifted rows, R)
    # Tables indexed [image c * S + shifted row / column, ink row r], so that one lookup copies a whole row.
    row_table = row_gap.pow(2).reshape(num * size, -1)
    column_table = column_gap.pow(2).transpose(1, 2).reshape(num * size, -1)
    offset = (torch.arange(num) * size).unsqueeze(1)
    squared = (
        row_table[offset + pixels[..., 0].long()]
        + column_table[offset + pixels[..., 1].long()]
    )  # (C, n, R)
    nearest = squared.amin(dim=-1).sqrt()  # (C, n)
    return torch.where(mask, nearest, 0.0).sum(-1) / mask.sum(-1)


def mhd_cost(test_images: Tensor, train_images: Tensor) -> Tensor:
    """Modified Hausdorff Distance between the centred ink of every test and every training image.

    The baseline of the official demo (``demo_classification.py`` of brendenlake/omniglot): entry
    ``(i, c)`` is ``modified_hausdorff_distance(ink_coordinates(test_images[i]),
    ink_coordinates(train_images[c]))``, to rounding error; with :func:`one_shot_accuracy_from_cost`
    on the 105 x 105 runs it makes 38.75% errors (245/400 correct), as the demo does. It is computed
    on the pixel grid (see :func:`_mean_distance_to_ink`), many times faster than from all point pairs.

    Parameters
    ----------
    test_images : Tensor
        ``(T, 1, S, S)`` binary images, ink = 1.
    train_images : Tensor
        ``(C, 1, S, S)`` binary images, ink = 1.

    Returns
    -------
    Tensor
        ``(T, C)`` float64 costs.
    """
    for name, images in (
        ("test_images", test_images),
        ("train_images", train_images),
    ):
        if (
            images.dim() != 4
            or images.shape[1] != 1
            or images.shape[2] != images.shape[3]
        ):
            raise ValueError(
                f"{name} must have shape (N, 1, S, S), got {tuple(images.shape)}."
            )
    if test_images.shape[2:] != train_images.shape[2:]:
        raise ValueError(
            f"test and training images must have the same size, got {tuple(test_images.shape[2:])} and "
            f"{tuple(train_images.shape[2:])}."
        )
    num_train = len(train_images)
    train_pixels = [_ink_pixels(image) for image in train_images]
    train_points = pad_sequence(
        train_pixels, batch_first=True
    )  # (C, m_max, 2), padded with (0, 0)
    train_mask = pad_sequence(
        [torch.ones(len(p), dtype=torch.bool) for p in train_pixels],
        batch_first=True,
    )
    train_means = torch.stack([p.mean(dim=0) for p in train_pixels])  # (C, 2)
    train_tables = _nearest_ink_in_rows(train_images[:, 0])
    rows = []
    for image in test_images:
        pixels = _ink_pixels(image)
        # Centring both sets = moving the test pixels by the difference of the means, or the training
        # pixels by its opposite.
        shift = train_means - pixels.mean(dim=0)  # (C, 2)
        test_tables = (
            t.expand(num_train, -1, -1) for t in _nearest_ink_in_rows(image[0])
        )
        all_pixels = torch.ones(num_train, len(pixels), dtype=torch.bool)
        test_to_train = _mean_distance_to_ink(
            pixels.expand(num_train, -1, -1), all_pixels, shift, *train_tables
        )
        train_to_test = _mean_distance_to_ink(
            train_points, train_mask, -shift, *test_tables
        )
        rows.append(torch.maximum(test_to_train, train_to_test))
    return torch.stack(rows)


def pixel_nearest_neighbour_cost(
    test_images: Tensor, train_images: Tensor
) -> Tensor:
    r"""Euclidean distance between raw pixel vectors, :math:`\lVert x^{test}_i - x^{train}_c \rVert_2`.

    The simplest baseline: no learning, no invariance (a stroke shifted by one pixel is "far").

    Parameters
    ----------
    test_images : Tensor
        ``(T, 1, S, S)`` images.
    train_images : Tensor
        ``(C, 1, S, S)`` images.

    Returns
    -------
    Tensor
        ``(T, C)`` distances.
    """
    return pairwise_distances(
        test_images.flatten(1).float(), train_images.flatten(1).float()
    )
