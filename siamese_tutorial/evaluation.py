"""Evaluation: the official one-shot task, N-way K-shot episodes, and the embeddings they compare.

Conventions used throughout the module:

* an *accuracy* or an *error* is a **fraction in [0, 1]**; the ``*_percent`` helpers give percentages;
* a *cost* or a *distance* is small for similar items (the prediction is the ``argmin``).

The baselines that learn nothing are in :mod:`siamese_tutorial.baselines`; verification of pairs and
open-set identification in :mod:`siamese_tutorial.verification`.

References
----------
- B. M. Lake, R. Salakhutdinov, J. B. Tenenbaum. "Human-level concept learning through probabilistic
  program induction". Science 350 (2015): the one-shot task and ``all_runs.zip``.
- E. B. Wilson. "Probable inference, the law of succession, and statistical inference". JASA 22 (1927).
- G. Koch, R. Zemel, R. Salakhutdinov. "Siamese Neural Networks for One-shot Image Recognition". ICML
  Deep Learning Workshop 2015.
- P. Shyam, S. Gupta, A. Dukkipati. "Attentive Recurrent Comparators". ICML 2017.
- O. Vinyals et al. "Matching Networks for One Shot Learning". NeurIPS 2016: N-way K-shot episodes.
- J. Snell, K. Swersky, R. Zemel. "Prototypical Networks for Few-shot Learning". NeurIPS 2017.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .checks import check_finite, check_positive, check_shifts
from .data import LabelledImages, n_way_k_shot_episodes
from .distances import euclidean_distance, pairwise_distances
from .models import encoder_of
from .omniglot import OneShotRun
from .published import (
    PUBLISHED_ACCURACY,
    PUBLISHED_RESULTS,
    Z_95,
    PublishedResult,
)
from .shifts import average_views, shift_images, shift_offsets

__all__ = [
    "Z_95",
    "PublishedResult",
    "PUBLISHED_RESULTS",
    "PUBLISHED_ACCURACY",
    "CostFunction",
    "OneShotResult",
    "wilson_interval",
    "embed",
    "embedding_distances",
    "shift_images",
    "one_shot_accuracy_from_cost",
    "one_shot_accuracy",
    "episode_accuracy",
]


CostFunction = Callable[[Tensor, Tensor], Tensor]
"""``cost_fn(test_images (T, 1, S, S), train_images (C, 1, S, S)) -> (T, C)`` costs, small = similar."""


# ----------------------------------------------------------------------------------------------
# Accuracy with a confidence interval
# ----------------------------------------------------------------------------------------------


def wilson_interval(
    successes: int, trials: int, z: float = Z_95
) -> tuple[float, float]:
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
    half_width = (
        z / shrink * math.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2))
    )
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


def _score(
    run_names: list[str], predictions: list[Tensor], answers: list[Tensor]
) -> OneShotResult:
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
        :class:`~siamese_tutorial.models.SiameseNetwork`, its shared encoder is used, for a
        :class:`~siamese_tutorial.models.SoftmaxClassifier` its penultimate features.
    images : Tensor
        ``(N, 1, S, S)`` images.
    batch_size : int
        Images per forward pass.
    device : torch.device or str, optional
        Where to run the encoder; default: the device of its parameters.
    shifts : int
        Test-time augmentation by translations of this many pixels, less than the image size; 0
        (default) embeds the images as they are.

    Returns
    -------
    Tensor
        ``(N, D)`` embeddings, on the CPU.

    Raises
    ------
    FloatingPointError
        If an embedding is NaN or infinite: a distance to it would be meaningless.
    """
    if images.dim() != 4 or len(images) == 0:
        raise ValueError(
            "images must be a non-empty (N, C, S, S) tensor, "
            f"got shape {tuple(images.shape)}."
        )
    check_positive(batch_size=batch_size)
    check_shifts(shifts, images.shape[-1])
    # the twins' shared encoder, or a classifier's feature extractor
    encoder_only = encoder_of(encoder)
    if shifts:
        views = []
        for dx, dy in shift_offsets(shifts):  # one shifted copy at a time
            shifted = shift_images(images, dx, dy)
            views.append(embed(encoder_only, shifted, batch_size, device))
        return average_views(torch.stack(views), encoder_only)
    if device is None:
        device = _module_device(encoder_only)
    was_training = encoder_only.training
    encoder_only.eval()
    try:
        with torch.no_grad():
            chunks = images.split(batch_size)
            embeddings = torch.cat(
                [encoder_only(chunk.to(device)).cpu() for chunk in chunks]
            )
    finally:
        encoder_only.train(was_training)
    if embeddings.dim() != 2:
        raise ValueError(
            "the encoder must map (B, C, S, S) images to (B, D) embeddings, "
            f"but it returned shape {tuple(embeddings.shape)} "
            f"for {len(images)} images."
        )
    check_finite(
        embeddings,
        "the encoder's embeddings",
        "its weights or the images hold NaN or infinite values "
        "(a diverged training: train again with a lower learning rate)",
    )
    return embeddings


def embedding_distances(
    encoder: nn.Module,
    images: Tensor,
    i: Tensor,
    j: Tensor,
    batch_size: int = 256,
    shifts: int = 0,
) -> Tensor:
    """The distances between the embeddings of the pairs ``(images[i[k]], images[j[k]])``.

    Each side embedded by :func:`embed` (``batch_size``, ``shifts`` as there), and compared by
    :func:`~siamese_tutorial.distances.euclidean_distance`: ``(P,)`` distances, on the CPU.
    """
    first = embed(encoder, images[i], batch_size, shifts=shifts)
    second = embed(encoder, images[j], batch_size, shifts=shifts)
    return euclidean_distance(first, second)


def one_shot_accuracy_from_cost(
    cost_fn: CostFunction, runs: Sequence[OneShotRun]
) -> OneShotResult:
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
        From :func:`siamese_tutorial.omniglot.load_one_shot_runs`.

    Returns
    -------
    OneShotResult
    """
    if len(runs) == 0:
        raise ValueError(
            "runs is empty; load the official runs with "
            "siamese_tutorial.omniglot.load_one_shot_runs()."
        )
    predictions = []
    for run in runs:
        cost = torch.as_tensor(cost_fn(run.test_images, run.train_images))
        expected = (len(run.test_images), len(run.train_images))
        if tuple(cost.shape) != expected:
            raise ValueError(
                f"cost_fn must return a (T, C) = {expected} cost matrix for "
                f"{run.name} (test x training images), "
                f"got shape {tuple(cost.shape)}."
            )
        if torch.isnan(cost).any():
            raise ValueError(
                f"cost_fn returned NaN costs for {run.name}; "
                "argmin would be meaningless."
            )
        predictions.append(cost.argmin(dim=1).cpu())
    names = [run.name for run in runs]
    return _score(names, predictions, [run.test_labels for run in runs])


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

    def embedding_distance(
        test_images: Tensor, train_images: Tensor
    ) -> Tensor:
        test = embed(encoder, test_images, batch_size, device, shifts)
        return pairwise_distances(
            test, embed(encoder, train_images, batch_size, device, shifts)
        )

    return one_shot_accuracy_from_cost(embedding_distance, runs)


# ----------------------------------------------------------------------------------------------
# N-way K-shot episodes
# ----------------------------------------------------------------------------------------------


def episode_accuracy(
    encoder: nn.Module,
    dataset: LabelledImages,
    n_way: int = 20,
    k_shot: int = 1,
    num_queries: int = 1,
    num_episodes: int = 100,
    within_group: bool = True,
    style: str = "random",
    seed: int = 0,
    device: torch.device | str | None = None,
    batch_size: int = 256,
    shifts: int = 0,
) -> OneShotResult:
    r"""Accuracy of an encoder on N-way K-shot episodes: nearest class prototype by Euclidean distance.

    Each class of an episode is represented by the mean embedding of its support images (its
    *prototype*, Snell et al. 2017; for ``k_shot = 1``, the support embedding itself),

    .. math:: \hat y(q) = \arg\min_c \Big\lVert f(q) - \frac{1}{K}\sum_{k=1}^{K} f(s_{c,k}) \Big\rVert_2 .

    With the defaults (20-way 1-shot, within one alphabet, 1 query per class) on Omniglot's
    evaluation alphabets this mimics the official task on many more runs; ``style="runs"`` also
    takes every support image of an episode from one drawer and every query from another, as the
    official runs do (:func:`siamese_tutorial.data.n_way_k_shot_episodes`). The 95% CI is the Wilson
    interval on all queries; queries of one episode share its support set, so it is somewhat optimistic.

    Parameters
    ----------
    encoder : nn.Module
        Maps ``(B, C, S, S)`` to ``(B, D)``.
    dataset : LabelledImages
        A labelled data set, e.g. ``load_validation_set()``.
    n_way, k_shot, num_queries, num_episodes, within_group, style, seed
        As in :func:`siamese_tutorial.data.n_way_k_shot_episodes` (``style="runs"`` needs ``dataset.drawers``).
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
        :attr:`~siamese_tutorial.data.Episode.classes`.
    """
    episodes = n_way_k_shot_episodes(
        dataset.labels,
        n_way,
        k_shot,
        num_queries,
        num_episodes,
        seed,
        group_labels=dataset.group_labels,
        within_group=within_group,
        style=style,
        drawers=dataset.drawers,
    )
    # Embed each image the episodes use once; `row` maps a dataset index to its embedding.
    used = torch.unique(
        torch.cat(
            [torch.cat([e.support.flatten(), e.query]) for e in episodes]
        )
    )
    embeddings = embed(
        encoder, dataset.images[used], batch_size, device, shifts
    )
    row = torch.full((len(dataset.labels),), -1, dtype=torch.int64)
    row[used] = torch.arange(len(used))
    predictions = []
    for episode in episodes:
        prototypes = embeddings[row[episode.support]].mean(dim=1)  # (n_way, D)
        predictions.append(
            pairwise_distances(
                embeddings[row[episode.query]], prototypes
            ).argmin(dim=1)
        )
    names = [f"episode{i + 1:04d}" for i in range(len(episodes))]
    return _score(
        names, predictions, [episode.answers for episode in episodes]
    )
