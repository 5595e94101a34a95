"""The open-set threshold of a gallery, chosen on simulated galleries of held-out classes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .checks import (
    check_positive,
)
from .data import LabelledImages
from .distances import pairwise_distances
from .evaluation import embed
from .verification import (
    OpenSetCurve,
    choose_open_set_threshold,
    open_set_curve,
)

__all__ = [
    "OpenSetCalibration",
    "calibrate_open_set",
    "calibrate_open_set_sizes",
]


@dataclass(frozen=True)
class OpenSetCalibration:
    """The threshold chosen on simulated galleries, with the curve it was chosen on.

    Attributes
    ----------
    threshold : float
        Accept the nearest enrolled class within this distance.
    curve : OpenSetCurve
        False-accept, false-reject and misidentification rates at every threshold.
    rates : dict of str to float
        The three rates at ``threshold`` on the calibration queries.
    gallery_size : int
        Classes enrolled in each simulated gallery (the false-accept rate grows with it).
    """

    threshold: float
    curve: OpenSetCurve
    rates: dict[str, float]
    gallery_size: int


def calibrate_open_set(
    encoder: nn.Module,
    dataset: LabelledImages,
    gallery_size: int,
    trials: int = 20,
    shots: int = 1,
    seed: int = 0,
    shifts: int = 0,
    max_false_accept: float | None = None,
) -> OpenSetCalibration:
    """Choose the open-set threshold on held-out classes, as a gallery of ``gallery_size`` classes would meet them.

    Each trial enrols ``gallery_size`` random classes of ``dataset`` from ``shots`` random images each;
    every other image of an enrolled class is a genuine query, every image of the other classes a
    stranger. The nearest prototype of each query, pooled over ``trials``, gives the
    :class:`~siamese_tutorial.verification.OpenSetCurve`, and
    :func:`~siamese_tutorial.verification.choose_open_set_threshold` the threshold. Use classes the
    deployed gallery will not hold (e.g. validation classes), and a ``gallery_size`` like the deployed
    one's: the more classes are enrolled, the likelier a stranger finds one close by.

    Parameters
    ----------
    encoder : nn.Module
        The encoder of the gallery.
    dataset : LabelledImages
        Held-out classes, at least ``gallery_size + 1`` of them with more than ``shots`` images.
    gallery_size : int
        Classes enrolled per trial.
    trials : int
        Simulated galleries.
    shots : int
        Enrolment images per class.
    seed : int
        Seed of the draws.
    shifts : int
        Test-time augmentation, as in the gallery.
    max_false_accept : float, optional
        Passed to :func:`~siamese_tutorial.verification.choose_open_set_threshold`.

    Returns
    -------
    OpenSetCalibration
    """
    chosen = calibrate_open_set_sizes(
        encoder,
        dataset,
        [gallery_size],
        trials,
        shots,
        seed,
        shifts,
        max_false_accept,
    )
    return chosen[gallery_size]


def calibrate_open_set_sizes(
    encoder: nn.Module,
    dataset: LabelledImages,
    gallery_sizes: Sequence[int],
    trials: int = 20,
    shots: int = 1,
    seed: int = 0,
    shifts: int = 0,
    max_false_accept: float | None = None,
) -> dict[int, OpenSetCalibration]:
    """:func:`calibrate_open_set` for each of ``gallery_sizes``, the images embedded once.

    Each size draws its galleries as :func:`calibrate_open_set` alone would (from ``seed``), so its
    threshold is the one that call gives; embedding is most of the work, and is shared.

    Returns
    -------
    dict of int to OpenSetCalibration
        By gallery size, in the order of ``gallery_sizes``.
    """
    check_positive(trials=trials, shots=shots)
    for size in gallery_sizes:
        check_positive(gallery_size=size)
    counts = torch.bincount(dataset.labels, minlength=dataset.num_classes)
    usable = (counts > shots).nonzero().flatten()
    largest = max(gallery_sizes)
    if len(usable) <= largest:
        raise ValueError(
            f"calibration needs more than gallery_size={largest} classes with more than "
            f"{shots} image(s), to have strangers; the data set has {len(usable)}."
        )
    embeddings = embed(encoder, dataset.images, shifts=shifts)
    chosen = {}
    for size in gallery_sizes:
        curve = _simulated_curve(
            embeddings, dataset.labels, usable, size, trials, shots, seed
        )
        threshold = choose_open_set_threshold(curve, max_false_accept)
        chosen[size] = OpenSetCalibration(
            threshold, curve, curve.at(threshold), size
        )
    return chosen


def _simulated_curve(
    embeddings: Tensor,
    labels: Tensor,
    usable: Tensor,
    gallery_size: int,
    trials: int,
    shots: int,
    seed: int,
) -> OpenSetCurve:
    """The open-set curve of ``trials`` random galleries of ``gallery_size`` of the ``usable`` classes."""
    generator = torch.Generator().manual_seed(seed)
    genuine, correct, strangers = [], [], []
    for _ in range(trials):
        enrolled = usable[
            torch.randperm(len(usable), generator=generator)[:gallery_size]
        ]
        is_reference = torch.zeros(len(labels), dtype=torch.bool)
        for c in enrolled.tolist():
            members = (labels == c).nonzero().flatten()
            is_reference[
                members[
                    torch.randperm(len(members), generator=generator)[:shots]
                ]
            ] = True
        prototypes = torch.stack(
            [
                embeddings[is_reference & (labels == c)].mean(0)
                for c in enrolled.tolist()
            ]
        )
        distance, nearest = pairwise_distances(embeddings, prototypes).min(
            dim=1
        )
        is_enrolled = torch.isin(labels, enrolled)
        queries = is_enrolled & ~is_reference
        genuine.append(distance[queries])
        correct.append(enrolled[nearest[queries]] == labels[queries])
        strangers.append(distance[~is_enrolled])
    return open_set_curve(
        torch.cat(genuine), torch.cat(correct), torch.cat(strangers)
    )
