"""Evaluation: the official one-shot task, its baselines, N-way K-shot episodes and verification metrics.

Conventions used throughout the module:

* an *accuracy* or an *error* is a **fraction in [0, 1]**; the ``*_percent`` helpers give percentages;
* a *cost* or a *distance* is small for similar items (the prediction is the ``argmin``);
* a *pair* label is ``0`` for a **similar** pair and ``1`` for a **dissimilar** pair (Hadsell et al.,
  2006), as in :mod:`siamese_tutorial.losses`; a verifier says "similar" when ``distance <= threshold``.

References
----------
- B. M. Lake, R. Salakhutdinov, J. B. Tenenbaum. "Human-level concept learning through probabilistic
  program induction". Science 350 (2015): the one-shot task and ``all_runs.zip``.
- M.-P. Dubuisson, A. K. Jain. "A modified Hausdorff distance for object matching". ICPR 1994.
- E. B. Wilson. "Probable inference, the law of succession, and statistical inference". JASA 22 (1927).
- O. Vinyals et al. "Matching Networks for One Shot Learning". NeurIPS 2016: N-way K-shot episodes.
- J. Snell, K. Swersky, R. Zemel. "Prototypical Networks for Few-shot Learning". NeurIPS 2017.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence

from .data import _class_members
from .losses import pairwise_distances
from .models import SiameseNetwork, _check_positive

if TYPE_CHECKING:
    from .data import Omniglot, OneShotRun

__all__ = [
    "Z_95",
    "PUBLISHED_ACCURACY",
    "CostFunction",
    "OneShotResult",
    "Episode",
    "wilson_interval",
    "embed",
    "shift_images",
    "one_shot_accuracy_from_cost",
    "one_shot_accuracy",
    "ink_coordinates",
    "modified_hausdorff_distance",
    "mhd_cost",
    "pixel_nearest_neighbour_cost",
    "n_way_k_shot_episodes",
    "episode_accuracy",
    "roc_curve",
    "roc_auc",
    "equal_error_rate",
    "choose_threshold",
    "verification_accuracy",
]

Z_95 = 1.959963984540054
"""The 97.5% quantile of the standard normal distribution: a two-sided 95% interval."""

PUBLISHED_ACCURACY = {
    "Koch et al. 2015, Siamese network": 0.920,
    "People (Lake et al. 2015)": 0.955,
    "Bayesian Program Learning (Lake et al. 2015)": 0.967,
}
"""Published accuracies on the 20 official runs (400 trials), the figures this book measures itself against."""

CostFunction = Callable[[Tensor, Tensor], Tensor]
"""``cost_fn(test_images (T, 1, S, S), train_images (C, 1, S, S)) -> (T, C)`` costs, small = similar."""


# ----------------------------------------------------------------------------------------------
# Accuracy with a confidence interval
# ----------------------------------------------------------------------------------------------


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    r"""Wilson score interval for a binomial proportion (Wilson, 1927).

    With :math:`\hat p = k / n`:

    .. math:: \frac{\hat p + \frac{z^2}{2n}}{1 + \frac{z^2}{n}} \pm
              \frac{z}{1 + \frac{z^2}{n}} \sqrt{\frac{\hat p (1 - \hat p)}{n} + \frac{z^2}{4 n^2}}

    Unlike the normal ("Wald") interval :math:`\hat p \pm z \sqrt{\hat p(1-\hat p)/n}`, it stays inside
    [0, 1] and does not collapse to a point at 0% or 100% accuracy; on 400 one-shot trials at 61% it
    is about +-4.8 points wide.

    Parameters
    ----------
    successes : int
        Number of correct trials ``k``, ``0 <= k <= n``.
    trials : int
        Number of trials ``n >= 1``.
    z : float
        Normal quantile; the default gives a 95% interval.

    Returns
    -------
    tuple[float, float]
        ``(low, high)`` as fractions in [0, 1].
    """
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(
            f"wilson_interval needs 0 <= successes <= trials and trials >= 1; got successes={successes}, "
            f"trials={trials}."
        )
    p = successes / trials
    shrink = 1.0 + z**2 / trials
    centre = (p + z**2 / (2 * trials)) / shrink
    half_width = z / shrink * math.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2))
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


@dataclass(frozen=True)
class OneShotResult:
    """The score of a classifier on runs (or episodes) of N-way classification.

    Every accuracy here is a fraction in [0, 1]; use :attr:`accuracy_percent`, :attr:`error_percent`
    for percentages (the official demo of Lake et al. prints the error in percent).

    Attributes
    ----------
    accuracy : float
        ``correct / total``, pooled over all trials (the mean of the run accuracies when all runs have
        the same size, as the 20 official runs do).
    run_accuracies : list[float]
        Accuracy of each run.
    correct : int
        Number of correctly classified test items.
    total : int
        Number of test items (400 for the official task).
    predictions : list[Tensor]
        For each run, ``(T,)`` int64: the index of the training image (class) predicted for each test item.
    confidence_interval : tuple[float, float]
        95% Wilson score interval of the accuracy (see :func:`wilson_interval`), treating the
        ``total`` trials as independent.
    run_names : list[str]
        Name of each run (``"run01"``, ... or ``"episode0001"``, ...).
    """

    accuracy: float
    run_accuracies: list[float]
    correct: int
    total: int
    predictions: list[Tensor]
    confidence_interval: tuple[float, float]
    run_names: list[str]

    @property
    def error(self) -> float:
        """Error rate as a fraction, ``1 - accuracy``."""
        return 1.0 - self.accuracy

    @property
    def accuracy_percent(self) -> float:
        """Accuracy in percent, ``100 * accuracy``."""
        return 100.0 * self.accuracy

    @property
    def error_percent(self) -> float:
        """Error in percent, ``100 - accuracy_percent``: the number the official demo prints."""
        return 100.0 - self.accuracy_percent

    def summary(self, per_run: bool = True) -> str:
        """A readable report: overall accuracy, error and 95% CI, then (optionally) one line per run.

        Parameters
        ----------
        per_run : bool
            Add the table of per-run accuracy and error.

        Returns
        -------
        str
            The report, in percent.
        """
        low, high = self.confidence_interval
        lines = [
            f"accuracy {self.accuracy_percent:.2f}% ({self.correct}/{self.total}), "
            f"error {self.error_percent:.2f}%, 95% Wilson CI [{100 * low:.2f}%, {100 * high:.2f}%]"
        ]
        if per_run:
            width = max(len("run"), *(len(name) for name in self.run_names))
            lines.append(f"{'run':<{width}}  {'accuracy':>8}  {'error':>7}")
            lines += [
                f"{name:<{width}}  {100 * acc:7.2f}%  {100 - 100 * acc:6.2f}%"
                for name, acc in zip(self.run_names, self.run_accuracies)
            ]
        return "\n".join(lines)


def _score(run_names: list[str], predictions: list[Tensor], answers: list[Tensor]) -> OneShotResult:
    """Pool per-run predictions and answers into a :class:`OneShotResult`."""
    hits = [(p == a).sum().item() for p, a in zip(predictions, answers)]
    correct, total = int(sum(hits)), sum(len(a) for a in answers)
    return OneShotResult(
        accuracy=correct / total,
        run_accuracies=[h / len(a) for h, a in zip(hits, answers)],
        correct=correct,
        total=total,
        predictions=predictions,
        confidence_interval=wilson_interval(correct, total),
        run_names=run_names,
    )


# ----------------------------------------------------------------------------------------------
# The official one-shot task (Lake et al., 2015)
# ----------------------------------------------------------------------------------------------


def _module_device(module: nn.Module) -> torch.device:
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def shift_images(images: Tensor, dx: int, dy: int) -> Tensor:
    """Translate ``(N, C, S, S)`` images by ``dx`` pixels right and ``dy`` down; the uncovered border is 0."""
    s = images.shape[-1]
    padded = F.pad(images, (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)))
    return padded[..., max(-dy, 0): max(-dy, 0) + s, max(-dx, 0): max(-dx, 0) + s]


def embed(
    encoder: nn.Module,
    images: Tensor,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    shifts: int = 0,
) -> Tensor:
    r"""Embeddings ``f(x)`` of a stack of images, in eval mode and without gradients.

    The encoder's train/eval mode is restored afterwards.

    **Test-time augmentation** (``shifts = s > 0``): the embedding is the mean over the image and its
    four translations by ``s`` pixels (left, right, up, down),
    :math:`\bar f(x) = \frac15 \sum_{t} f(T_t\, x)`, scaled back to unit length when the encoder
    L2-normalises (its ``normalize`` attribute). A one-pixel shift of a 28 x 28 character is well inside
    the drawers' own variation, so the mean is a steadier estimate of where the character lies.

    Parameters
    ----------
    encoder : nn.Module
        Maps a batch ``(B, 1, S, S)`` to embeddings ``(B, D)``; for a
        :class:`~siamese_tutorial.models.SiameseNetwork`, its shared encoder is used.
    images : Tensor
        ``(N, 1, S, S)`` images.
    batch_size : int
        Images per forward pass.
    device : torch.device or str, optional
        Where to run the encoder; default: the device of its parameters.
    shifts : int
        Test-time augmentation by translations of this many pixels; 0 (default) embeds the images as they are.

    Returns
    -------
    Tensor
        ``(N, D)`` embeddings, on the CPU.
    """
    if images.dim() != 4 or len(images) == 0:
        raise ValueError(f"images must be a non-empty (N, C, S, S) tensor, got shape {tuple(images.shape)}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if shifts < 0:
        raise ValueError(f"shifts must be >= 0 pixels, got {shifts}.")
    if shifts:
        offsets = [(0, 0), (shifts, 0), (-shifts, 0), (0, shifts), (0, -shifts)]
        views = [embed(encoder, shift_images(images, dx, dy), batch_size, device) for dx, dy in offsets]
        mean = torch.stack(views).mean(0)
        unit = getattr(encoder.encoder if isinstance(encoder, SiameseNetwork) else encoder, "normalize", False)
        return F.normalize(mean, dim=1) if unit else mean
    device = torch.device(device) if device is not None else _module_device(encoder)
    forward = encoder.embed if isinstance(encoder, SiameseNetwork) else encoder
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            embeddings = torch.cat([forward(chunk.to(device)).cpu() for chunk in images.split(batch_size)])
    finally:
        encoder.train(was_training)
    if embeddings.dim() != 2:
        raise ValueError(
            f"the encoder must map (B, C, S, S) images to (B, D) embeddings, but it returned shape "
            f"{tuple(embeddings.shape)} for {len(images)} images."
        )
    return embeddings


def one_shot_accuracy_from_cost(cost_fn: CostFunction, runs: Sequence[OneShotRun]) -> OneShotResult:
    r"""Score any pairwise cost on the one-shot runs with the official protocol of Lake et al. (2015).

    For each run, ``cost_fn`` gives the ``(T, C)`` cost matrix between the ``T`` test and ``C`` training
    images (one training image per class); each test item is assigned the class of least cost,

    .. math:: \hat y_i = \arg\min_c \; \mathrm{cost}(x^{test}_i, x^{train}_c),

    ties going to the first class (as ``numpy.argmin`` in the official demo). The official task has 20
    runs of 20-way within-alphabet classification: 400 trials.

    Parameters
    ----------
    cost_fn : callable
        ``cost_fn(test_images (T, 1, S, S), train_images (C, 1, S, S)) -> (T, C)``; smaller = more similar.
        A similarity score ``s`` becomes a cost as ``-s``.
    runs : sequence of OneShotRun
        From :func:`siamese_tutorial.data.load_one_shot_runs`.

    Returns
    -------
    OneShotResult
    """
    if len(runs) == 0:
        raise ValueError("runs is empty; load the official runs with data.load_one_shot_runs().")
    predictions = []
    for run in runs:
        cost = torch.as_tensor(cost_fn(run.test_images, run.train_images))
        expected = (len(run.test_images), len(run.train_images))
        if tuple(cost.shape) != expected:
            raise ValueError(
                f"cost_fn must return a (T, C) = {expected} cost matrix for {run.name} (test x training "
                f"images), got shape {tuple(cost.shape)}."
            )
        if torch.isnan(cost).any():
            raise ValueError(f"cost_fn returned NaN costs for {run.name}; argmin would be meaningless.")
        predictions.append(cost.argmin(dim=1).cpu())
    return _score([run.name for run in runs], predictions, [run.test_labels for run in runs])


def one_shot_accuracy(
    encoder: nn.Module,
    runs: Sequence[OneShotRun],
    device: torch.device | str | None = None,
    batch_size: int = 256,
    shifts: int = 0,
) -> OneShotResult:
    r"""One-shot accuracy of an embedding network: nearest training image by Euclidean distance.

    The cost of a (test, training) pair is :math:`\lVert f(x^{test}_i) - f(x^{train}_c) \rVert_2`,
    scored by :func:`one_shot_accuracy_from_cost`. The runs must be loaded at the image size the
    encoder expects (e.g. ``load_one_shot_runs(image_size=28)``).

    Parameters
    ----------
    encoder : nn.Module
        Maps ``(B, 1, S, S)`` images to ``(B, D)`` embeddings; evaluated in eval mode, without gradients.
    runs : sequence of OneShotRun
        The one-shot runs.
    device : torch.device or str, optional
        Where to run the encoder; default: the device of its parameters.
    batch_size : int
        Images per forward pass.
    shifts : int
        Test-time augmentation of :func:`embed` (0: none).

    Returns
    -------
    OneShotResult
    """

    def embedding_distance(test_images: Tensor, train_images: Tensor) -> Tensor:
        test = embed(encoder, test_images, batch_size, device, shifts)
        return pairwise_distances(test, embed(encoder, train_images, batch_size, device, shifts))

    return one_shot_accuracy_from_cost(embedding_distance, runs)


# ----------------------------------------------------------------------------------------------
# Baselines: Modified Hausdorff Distance and raw pixels
# ----------------------------------------------------------------------------------------------


def _ink_pixels(image: Tensor) -> Tensor:
    """``(n, 2)`` float64 ``(row, col)`` of the pixels ``> 0.5`` of an ``(S, S)`` or ``(1, S, S)`` image."""
    if image.dim() == 3 and image.shape[0] == 1:
        image = image[0]
    if image.dim() != 2:
        raise ValueError(f"image must have shape (S, S) or (1, S, S), got {tuple(image.shape)}.")
    pixels = (image > 0.5).nonzero().to(torch.float64)
    if len(pixels) == 0:
        raise ValueError("image has no ink (no pixel > 0.5); is it blank, or is ink 0 instead of 1?")
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
            raise ValueError(f"{name} must be a non-empty (n, d) set of points, got shape {tuple(points.shape)}.")
    # Direct differences, not the |a|^2 + |b|^2 - 2ab expansion: no rounding error to break near-ties.
    d = torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")  # (n, m)
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
    right = torch.where(ink, columns, math.inf).flip(-1).cummin(dim=-1).values.flip(-1)
    return left, right


def _mean_distance_to_ink(pixels: Tensor, mask: Tensor, shift: Tensor, left: Tensor, right: Tensor) -> Tensor:
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
    at_or_left = (x.floor().long() + size).unsqueeze(1).expand(-1, len(ink_rows), -1)
    at_or_right = (x.ceil().long() + size).unsqueeze(1).expand(-1, len(ink_rows), -1)
    column_gap = torch.minimum(  # (C, R, S): distance from each shifted column to the nearest ink of row r
        x.unsqueeze(1) - left.gather(-1, at_or_left), right.gather(-1, at_or_right) - x.unsqueeze(1)
    )
    row_gap = (grid + shift[:, :1]).unsqueeze(-1) - ink_rows.to(torch.float64)  # (C, S shifted rows, R)
    # Tables indexed [image c * S + shifted row / column, ink row r], so that one lookup copies a whole row.
    row_table = row_gap.pow(2).reshape(num * size, -1)
    column_table = column_gap.pow(2).transpose(1, 2).reshape(num * size, -1)
    offset = (torch.arange(num) * size).unsqueeze(1)
    squared = row_table[offset + pixels[..., 0].long()] + column_table[offset + pixels[..., 1].long()]  # (C, n, R)
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
    for name, images in (("test_images", test_images), ("train_images", train_images)):
        if images.dim() != 4 or images.shape[1] != 1 or images.shape[2] != images.shape[3]:
            raise ValueError(f"{name} must have shape (N, 1, S, S), got {tuple(images.shape)}.")
    if test_images.shape[2:] != train_images.shape[2:]:
        raise ValueError(
            f"test and training images must have the same size, got {tuple(test_images.shape[2:])} and "
            f"{tuple(train_images.shape[2:])}."
        )
    num_train = len(train_images)
    train_pixels = [_ink_pixels(image) for image in train_images]
    train_points = pad_sequence(train_pixels, batch_first=True)  # (C, m_max, 2), padded with (0, 0)
    train_mask = pad_sequence([torch.ones(len(p), dtype=torch.bool) for p in train_pixels], batch_first=True)
    train_means = torch.stack([p.mean(dim=0) for p in train_pixels])  # (C, 2)
    train_tables = _nearest_ink_in_rows(train_images[:, 0])
    rows = []
    for image in test_images:
        pixels = _ink_pixels(image)
        # Centring both sets = moving the test pixels by the difference of the means, or the training
        # pixels by its opposite.
        shift = train_means - pixels.mean(dim=0)  # (C, 2)
        test_tables = (t.expand(num_train, -1, -1) for t in _nearest_ink_in_rows(image[0]))
        all_pixels = torch.ones(num_train, len(pixels), dtype=torch.bool)
        test_to_train = _mean_distance_to_ink(pixels.expand(num_train, -1, -1), all_pixels, shift, *train_tables)
        train_to_test = _mean_distance_to_ink(train_points, train_mask, -shift, *test_tables)
        rows.append(torch.maximum(test_to_train, train_to_test))
    return torch.stack(rows)


def pixel_nearest_neighbour_cost(test_images: Tensor, train_images: Tensor) -> Tensor:
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
    return pairwise_distances(test_images.flatten(1).float(), train_images.flatten(1).float())


# ----------------------------------------------------------------------------------------------
# N-way K-shot episodes
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Episode:
    """One N-way K-shot classification episode, as indices into a labelled split.

    Attributes
    ----------
    classes : Tensor
        ``(n_way,)`` int64 labels (in the split) of the episode's classes; position ``c`` is class ``c``.
    support : Tensor
        ``(n_way, k_shot)`` int64 indices of the support (training) images; row ``c`` holds class ``c``.
    query : Tensor
        ``(n_way * num_queries,)`` int64 indices of the query (test) images, grouped by class.
    answers : Tensor
        ``(n_way * num_queries,)`` int64 position in ``classes`` of each query's class.
    """

    classes: Tensor
    support: Tensor
    query: Tensor
    answers: Tensor


def _eligible_class_groups(
    order: Tensor,
    starts: Tensor,
    counts: Tensor,
    needed: int,
    n_way: int,
    alphabet_labels: Tensor | None,
    within_alphabet: bool,
) -> list[Tensor]:
    """Groups of classes to draw an episode from: all classes, or one group per alphabet.

    Classes are positions in the output of ``data._class_members`` (``order, starts, counts``); only
    classes with ``>= needed`` images are kept, and only groups with ``>= n_way`` such classes.
    """
    if counts.max() < needed:
        raise ValueError(
            f"Each class needs k_shot + num_queries = {needed} images, but the largest class has only "
            f"{int(counts.max())}. Lower k_shot or num_queries."
        )
    eligible = counts >= needed
    if not within_alphabet:
        if eligible.sum() < n_way:
            raise ValueError(
                f"n_way={n_way} needs {n_way} classes with at least k_shot + num_queries = {needed} images, "
                f"but only {int(eligible.sum())} of the {len(counts)} classes have that many. Lower n_way."
            )
        return [eligible.nonzero().flatten()]
    if alphabet_labels is None:
        raise ValueError("within_alphabet=True needs alphabet_labels (one alphabet index per image).")
    alphabet_labels = torch.as_tensor(alphabet_labels)
    if alphabet_labels.shape != order.shape:
        raise ValueError(
            f"alphabet_labels must have one entry per image, shape {tuple(order.shape)}; "
            f"got {tuple(alphabet_labels.shape)}."
        )
    class_alphabet = alphabet_labels[order[starts]]
    if (alphabet_labels[order] != class_alphabet.repeat_interleave(counts)).any():
        raise ValueError("alphabet_labels are inconsistent: some class has images in several alphabets.")
    per_alphabet = [(eligible & (class_alphabet == a)).nonzero().flatten() for a in class_alphabet.unique()]
    groups = [g for g in per_alphabet if len(g) >= n_way]
    if not groups:
        raise ValueError(
            f"No alphabet has n_way={n_way} classes with at least k_shot + num_queries = {needed} images "
            f"(the largest has {max(len(g) for g in per_alphabet)}). Lower n_way, or use within_alphabet=False."
        )
    return groups


def n_way_k_shot_episodes(
    labels: Tensor,
    n_way: int,
    k_shot: int,
    num_queries: int,
    num_episodes: int,
    seed: int,
    alphabet_labels: Tensor | None = None,
    within_alphabet: bool = False,
) -> list[Episode]:
    """Deterministic N-way K-shot episodes drawn from a labelled split (Vinyals et al., 2016).

    Each episode draws ``n_way`` distinct classes (with ``within_alphabet``: from one alphabet, chosen
    uniformly among the alphabets with enough classes, like the runs of Lake et al.), then for each class
    ``k_shot + num_queries`` distinct images: the first ``k_shot`` are its support, the rest its queries.
    Classes with fewer than ``k_shot + num_queries`` images are never drawn. The same ``seed`` gives the
    same episodes.

    Parameters
    ----------
    labels : Tensor
        ``(N,)`` int64 class of each image.
    n_way : int
        Classes per episode.
    k_shot : int
        Support images per class.
    num_queries : int
        Query images **per class** (the official task has 1: 20 queries for 20 ways).
    num_episodes : int
        Number of episodes.
    seed : int
        Seed of the private random generator.
    alphabet_labels : Tensor, optional
        ``(N,)`` alphabet of each image; required when ``within_alphabet``.
    within_alphabet : bool
        Draw all the classes of an episode from a single alphabet (harder: the characters look alike).

    Returns
    -------
    list[Episode]
    """
    _check_positive(n_way=n_way, k_shot=k_shot, num_queries=num_queries, num_episodes=num_episodes)
    if n_way < 2:
        raise ValueError(f"n_way must be >= 2 (classification among at least two classes), got {n_way}.")
    labels = torch.as_tensor(labels)
    needed = k_shot + num_queries
    order, starts, counts = _class_members(labels)
    groups = _eligible_class_groups(order, starts, counts, needed, n_way, alphabet_labels, within_alphabet)
    generator = torch.Generator().manual_seed(seed)
    answers = torch.arange(n_way).repeat_interleave(num_queries)
    episodes = []
    for _ in range(num_episodes):
        group = groups[int(torch.randint(len(groups), (1,), generator=generator))]
        chosen = group[torch.randperm(len(group), generator=generator)[:n_way]]
        images = torch.stack([
            order[starts[c] + torch.randperm(int(counts[c]), generator=generator)[:needed]] for c in chosen
        ])  # (n_way, k_shot + num_queries)
        episodes.append(Episode(
            classes=labels[order[starts[chosen]]],
            support=images[:, :k_shot],
            query=images[:, k_shot:].flatten(),
            answers=answers.clone(),
        ))
    return episodes


def episode_accuracy(
    encoder: nn.Module,
    dataset: Omniglot,
    n_way: int = 20,
    k_shot: int = 1,
    num_queries: int = 1,
    num_episodes: int = 100,
    within_alphabet: bool = True,
    seed: int = 0,
    device: torch.device | str | None = None,
    batch_size: int = 256,
    shifts: int = 0,
) -> OneShotResult:
    r"""Accuracy of an encoder on N-way K-shot episodes: nearest class prototype by Euclidean distance.

    Each class of an episode is represented by the mean embedding of its support images (its
    *prototype*, Snell et al. 2017; for ``k_shot = 1``, the support embedding itself),

    .. math:: \hat y(q) = \arg\min_c \Big\lVert f(q) - \frac{1}{K}\sum_{k=1}^{K} f(s_{c,k}) \Big\rVert_2 .

    With the defaults (20-way 1-shot, within alphabet, 1 query per class) on the evaluation split this
    mimics the official task on many more, randomly drawn, runs. The 95% CI is the Wilson interval on
    all queries; queries of one episode share its support set, so it is somewhat optimistic.

    Parameters
    ----------
    encoder : nn.Module
        Maps ``(B, 1, S, S)`` to ``(B, D)``.
    dataset : Omniglot
        A labelled split (``images``, ``labels``, ``alphabet_labels``), e.g. ``load_omniglot("evaluation")``.
    n_way, k_shot, num_queries, num_episodes, within_alphabet, seed
        As in :func:`n_way_k_shot_episodes`.
    device : torch.device or str, optional
        Where to run the encoder; default: the device of its parameters.
    batch_size : int
        Images per forward pass.
    shifts : int
        Test-time augmentation of :func:`embed` (0: none).

    Returns
    -------
    OneShotResult
        One "run" per episode (``run_names`` ``"episode0001"``, ...), predictions as positions in
        :attr:`Episode.classes`.
    """
    episodes = n_way_k_shot_episodes(
        dataset.labels, n_way, k_shot, num_queries, num_episodes, seed,
        alphabet_labels=dataset.alphabet_labels, within_alphabet=within_alphabet,
    )
    # Embed each image the episodes use once; `row` maps a dataset index to its embedding.
    used = torch.unique(torch.cat([torch.cat([e.support.flatten(), e.query]) for e in episodes]))
    embeddings = embed(encoder, dataset.images[used], batch_size, device, shifts)
    row = torch.full((len(dataset.labels),), -1, dtype=torch.int64)
    row[used] = torch.arange(len(used))
    predictions = []
    for episode in episodes:
        prototypes = embeddings[row[episode.support]].mean(dim=1)  # (n_way, D)
        predictions.append(pairwise_distances(embeddings[row[episode.query]], prototypes).argmin(dim=1))
    names = [f"episode{i + 1:04d}" for i in range(len(episodes))]
    return _score(names, predictions, [episode.answers for episode in episodes])


# ----------------------------------------------------------------------------------------------
# Verification: is this pair the same class?
# ----------------------------------------------------------------------------------------------


def _as_numpy(x: Tensor | np.ndarray | Sequence[float]) -> np.ndarray:
    """A tensor (even one that requires grad, or on a GPU), array or list as a NumPy array."""
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def _check_pairs(distances: Tensor | np.ndarray, labels: Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances as float64 and labels as bool ``is_similar``, validated."""
    d, y = _as_numpy(distances).astype(np.float64), _as_numpy(labels)
    if d.ndim != 1 or d.shape != y.shape or len(d) == 0:
        raise ValueError(
            f"distances and labels must be non-empty 1-D arrays of the same length, got shapes {d.shape} and "
            f"{y.shape}."
        )
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (similar pair) or 1 (dissimilar pair).")
    if np.isnan(d).any():
        raise ValueError("distances contain NaN.")
    return d, y == 0


def roc_curve(
    distances: Tensor | np.ndarray, labels: Tensor | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""ROC curve of the verifier "similar if :math:`d \le t`", for every threshold :math:`t`.

    A *positive* is a similar pair (label 0): small distance means similar, so the score is :math:`-d`.

    .. math:: \mathrm{TPR}(t) = P(d \le t \mid y = 0), \qquad \mathrm{FPR}(t) = P(d \le t \mid y = 1)

    Parameters
    ----------
    distances : Tensor or ndarray
        ``(P,)`` distance of each pair.
    labels : Tensor or ndarray
        ``(P,)`` ``0`` for a similar pair, ``1`` for a dissimilar pair; both must occur.

    Returns
    -------
    fpr, tpr, thresholds : ndarray
        One point per distinct distance plus the start ``(0, 0)`` at threshold ``-inf``; thresholds
        increasing, so ``fpr`` and ``tpr`` increase. The same points as
        ``sklearn.metrics.roc_curve(labels == 0, -distances, drop_intermediate=False)``.
    """
    d, similar = _check_pairs(distances, labels)
    num_similar, num_dissimilar = int(similar.sum()), int((~similar).sum())
    if num_similar == 0 or num_dissimilar == 0:
        raise ValueError(
            "the ROC curve needs both similar (label 0) and dissimilar (label 1) pairs; "
            f"got {num_similar} similar and {num_dissimilar} dissimilar."
        )
    order = np.argsort(d, kind="stable")
    d, similar = d[order], similar[order]
    last_of_tie = np.r_[np.diff(d) != 0, True]  # a threshold admits all pairs at that distance at once
    true_positives = np.r_[0, np.cumsum(similar)[last_of_tie]]
    false_positives = np.r_[0, np.cumsum(~similar)[last_of_tie]]
    thresholds = np.r_[-np.inf, d[last_of_tie]]
    return false_positives / num_dissimilar, true_positives / num_similar, thresholds


def roc_auc(distances: Tensor | np.ndarray, labels: Tensor | np.ndarray) -> float:
    r"""Area under the ROC curve (trapezoidal rule), label 0 = similar, small distance = similar.

    Equals the probability that a random similar pair is closer than a random dissimilar pair (ties
    count one half): :math:`P(d^{+} < d^{-}) + \tfrac12 P(d^{+} = d^{-})`. 0.5 = chance, 1 = perfect.

    Parameters
    ----------
    distances : Tensor or ndarray
        ``(P,)`` distances.
    labels : Tensor or ndarray
        ``(P,)`` 0 = similar, 1 = dissimilar.

    Returns
    -------
    float
    """
    fpr, tpr, _ = roc_curve(distances, labels)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def equal_error_rate(distances: Tensor | np.ndarray, labels: Tensor | np.ndarray) -> float:
    r"""Equal error rate: the error where the false positive rate equals the false negative rate.

    :math:`\mathrm{FPR}(t) = \mathrm{FNR}(t) = 1 - \mathrm{TPR}(t)`; on the finite ROC curve, the point where
    the segment joining the two ROC points around the crossing meets the line
    :math:`\mathrm{FPR} = 1 - \mathrm{TPR}` (linear interpolation). 0 = perfectly separable, 0.5 = chance.

    Parameters
    ----------
    distances : Tensor or ndarray
        ``(P,)`` distances.
    labels : Tensor or ndarray
        ``(P,)`` 0 = similar, 1 = dissimilar.

    Returns
    -------
    float
        A fraction in [0, 1].
    """
    fpr, tpr, _ = roc_curve(distances, labels)
    gap = (1.0 - tpr) - fpr  # FNR - FPR: 1 at t = -inf, decreasing to -1 at the largest distance
    i = int(np.argmax(gap <= 0))
    if gap[i] == 0:
        return float(fpr[i])
    step = gap[i - 1] / (gap[i - 1] - gap[i])
    return float(fpr[i - 1] + step * (fpr[i] - fpr[i - 1]))


def verification_accuracy(
    distances: Tensor | np.ndarray, labels: Tensor | np.ndarray, threshold: float
) -> float:
    r"""Fraction of pairs classified correctly by "similar (label 0) if :math:`d \le t`".

    Parameters
    ----------
    distances : Tensor or ndarray
        ``(P,)`` distances.
    labels : Tensor or ndarray
        ``(P,)`` 0 = similar, 1 = dissimilar.
    threshold : float
        The decision threshold :math:`t`, e.g. from :func:`choose_threshold` on validation pairs.

    Returns
    -------
    float
        A fraction in [0, 1].
    """
    d, similar = _check_pairs(distances, labels)
    return float(np.mean((d <= threshold) == similar))


def choose_threshold(distances: Tensor | np.ndarray, labels: Tensor | np.ndarray) -> float:
    r"""The threshold :math:`t` that maximises :func:`verification_accuracy` on (validation) pairs.

    Accuracy only changes at the observed distances; of the best cut between two consecutive distinct
    distances, the midpoint is returned (a margin on both sides for unseen pairs). Ties between equally
    good cuts go to the smallest threshold. Choose it on validation pairs, report accuracy on test pairs.

    Parameters
    ----------
    distances : Tensor or ndarray
        ``(P,)`` distances.
    labels : Tensor or ndarray
        ``(P,)`` 0 = similar, 1 = dissimilar; both must occur.

    Returns
    -------
    float
        The threshold: "similar" when ``distance <= threshold``.
    """
    _, similar = _check_pairs(distances, labels)
    fpr, tpr, thresholds = roc_curve(distances, labels)
    correct = tpr * similar.sum() + (1.0 - fpr) * (~similar).sum()  # pairs right when cutting at thresholds[i]
    best = int(np.argmax(correct))
    if best == 0:  # everything dissimilar: just below the smallest distance
        return float(np.nextafter(thresholds[1], -np.inf))
    if best == len(thresholds) - 1:  # everything similar
        return float(thresholds[-1])
    return float((thresholds[best] + thresholds[best + 1]) / 2)
