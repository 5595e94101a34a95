"""Training objectives: a miner and a loss (and their statistics) over one distance matrix a step.

As pytorch-metric-learning composes them, an objective is a **miner** (which pairs or triplets
of the batch to learn from, chosen without gradient), a **loss** over what it chose, and the
batch's **statistics**, all read from the batch's one ``(N, N)`` distance matrix, computed once
a step. :data:`REGISTRY` holds them by name; :func:`make_objective` builds one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from .batch_statistics import (
    pair_statistics_of_distances,
    triplet_statistics_of_distances,
)
from .checks import check_number
from .distances import _safe_sqrt, pairwise_distances
from .losses.pairs import all_pairs_contrastive_loss, pair_loss_of_distances
from .losses.triplets import (
    batch_all_loss_of_distances,
    batch_hard_loss_of_distances,
    semi_hard_loss_of_distances,
    triplet_loss,
)
from .mining import check_labelled_batch, check_triplet_batch, hard_pairs
from .sampling import random_triplets

__all__ = [
    "REGISTRY",
    "OBJECTIVES",
    "ObjectiveParts",
    "Objective",
    "make_objective",
]


@dataclass(frozen=True)
class ObjectiveParts:
    """One objective: what it is, and its parts over the batch's distance matrix ``d``.

    Attributes
    ----------
    description : str
        One line: what is minimised.
    family : str
        ``"pairs"`` (a contrastive loss: plain distances only), ``"triplets"`` or ``"classes"``.
    miner : callable, optional
        ``(d without gradient, labels, margin) -> what to learn from``; None: the whole batch.
    loss : callable
        ``(outputs, d, labels, mined, margin, squared) -> scalar loss``.
    on_squared : bool
        The loss reads the squared distances, without gradient (a hand-written backward); the
        statistics and the miner read their square roots.
    """

    description: str
    family: str
    loss: Callable[..., Tensor]
    miner: Callable[[Tensor, Tensor, float], Any] | None = None
    on_squared: bool = False


def _random_triplets(d: Tensor, labels: Tensor, margin: float) -> tuple:
    # drawn on the CPU from the global generator, so that seeded runs repeat
    return tuple(
        t.to(labels.device) for t in random_triplets(labels.cpu(), len(labels))
    )


def _mean_triplet_loss(
    outputs, d, labels, triplets, margin, squared
) -> Tensor:
    # sum / max(n, 1): a miner may find no triplet, and the mean of nothing would be NaN
    a, p, n = triplets
    return triplet_loss(
        outputs[a], outputs[p], outputs[n], margin, squared, "sum", check=False
    ) / max(len(a), 1)


REGISTRY: dict[str, ObjectiveParts] = {
    "contrastive": ObjectiveParts(
        "contrastive loss (Hadsell et al., 2006) over all pairs i < j of the batch",
        "pairs",
        lambda outputs, s, labels, mined, margin, squared: (
            all_pairs_contrastive_loss(outputs, labels, margin, s)
        ),
        on_squared=True,
    ),
    "contrastive_hard": ObjectiveParts(
        "contrastive loss over the positive pairs and the negatives inside the margin",
        "pairs",
        lambda outputs, d, labels, pairs, margin, squared: (
            pair_loss_of_distances(d, pairs, margin)
        ),
        hard_pairs,
    ),
    "batch_all": ObjectiveParts(
        "mean over the active triplets of all valid triplets (Hermans et al., 2017)",
        "triplets",
        lambda outputs, d, labels, mined, margin, squared: (
            batch_all_loss_of_distances(d, labels, margin)
        ),
    ),
    "batch_hard": ObjectiveParts(
        "hardest positive and hardest negative per anchor (Hermans et al., 2017)",
        "triplets",
        lambda outputs, d, labels, mined, margin, squared: (
            batch_hard_loss_of_distances(d, labels, margin)
        ),
    ),
    "batch_hard_soft": ObjectiveParts(
        "batch hard with the soft margin softplus (the margin is then unused)",
        "triplets",
        lambda outputs, d, labels, mined, margin, squared: (
            batch_hard_loss_of_distances(d, labels, margin, soft=True)
        ),
    ),
    "semi_hard": ObjectiveParts(
        "semi-hard negatives per anchor-positive pair (Schroff et al., 2015)",
        "triplets",
        lambda outputs, d, labels, mined, margin, squared: (
            semi_hard_loss_of_distances(d, labels, margin)
        ),
    ),
    "random_triplets": ObjectiveParts(
        "B random valid triplets of the batch, no look at the embeddings",
        "triplets",
        _mean_triplet_loss,
        _random_triplets,
    ),
    "softmax": ObjectiveParts(
        "cross-entropy of a SoftmaxClassifier's class scores: a classifier, "
        "not a similarity model",
        "classes",
        lambda outputs, d, labels, mined, margin, squared: F.cross_entropy(
            outputs, labels
        ),
    ),
}
"""The objectives by name: each a miner and a loss over the batch's distance matrix."""

OBJECTIVES: tuple[str, ...] = tuple(REGISTRY)
"""The loss names :func:`make_objective` knows."""


class Objective:
    """A training objective of a labelled batch: a loss with its mining, and its statistics.

    ``objective(outputs, labels) -> (loss, stats)``: ``outputs`` are the embeddings ``(B, D)`` (class
    scores ``(B, C)`` for ``"softmax"``), ``stats`` a dict of 0-d tensors (see :func:`make_objective`).
    The first batch is checked for a positive and a negative pair; later ones too where that costs
    nothing (on the CPU), but not on a GPU, where the check would wait for the device (a P x K
    sampler's batches all have them). Set :attr:`check_every_batch` to decide otherwise.
    """

    def __init__(
        self, loss: str, margin: float = 0.2, squared: bool = False
    ) -> None:
        if loss not in REGISTRY:
            raise ValueError(
                f"unknown loss {loss!r}; choose one of {list(OBJECTIVES)}"
            )
        check_number("margin", margin, low=0, low_inclusive=False)
        self.parts = REGISTRY[loss]
        if squared and self.parts.family != "triplets":
            raise ValueError(
                f"squared=True applies to triplet losses only; the contrastive loss of Hadsell et al. "
                f"(2006) is defined on the plain distance. Use squared=False with loss={loss!r}."
            )
        self.loss, self.margin, self.squared = loss, margin, squared
        self.check_every_batch: bool | None = None  # None: where it is free
        self._checked = False

    def __repr__(self) -> str:
        return f"Objective({self.loss!r}, margin={self.margin}, squared={self.squared})"

    def _check(self, labels: Tensor) -> bool:
        every = self.check_every_batch
        if every is None:
            every = labels.device.type == "cpu"
        check = every or not self._checked
        self._checked = True
        return check

    def __call__(
        self, outputs: Tensor, labels: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        check, margin = self._check(labels), self.margin
        if self.parts.family == "classes":
            if check and (
                outputs.dim() != 2 or outputs.shape[0] != len(labels)
            ):
                raise ValueError(
                    f"softmax needs class scores (B, C) for B labels; got {tuple(outputs.shape)}"
                )
            accuracy = (outputs.detach().argmax(1) == labels).float().mean()
            value = self.parts.loss(outputs, None, labels, None, margin, False)
            return value, {"batch_accuracy": accuracy}
        labels = check_labelled_batch(outputs, labels)
        if check:
            check_triplet_batch(labels)
        if (
            self.parts.on_squared
        ):  # a hand-written backward, from the squared matrix
            d = pairwise_distances(outputs.detach(), squared=True)
            seen = _safe_sqrt(
                d, 1e-12
            )  # = pairwise_distances(outputs.detach())
        else:  # the one distance matrix of the step, with its gradient
            d = pairwise_distances(outputs, squared=self.squared)
            seen = d.detach()
        statistics = (
            pair_statistics_of_distances
            if self.parts.family == "pairs"
            else triplet_statistics_of_distances
        )
        stats = statistics(seen, labels, margin)
        miner = self.parts.miner
        mined = None if miner is None else miner(seen, labels, margin)
        value = self.parts.loss(
            outputs, d, labels, mined, margin, self.squared
        )
        return value, stats


def make_objective(
    loss: str, margin: float = 0.2, squared: bool = False
) -> Objective:
    """The training objective of a labelled batch: a loss with its mining, and its statistics.

    ``loss`` is one of :data:`OBJECTIVES`; :data:`REGISTRY` says what each minimises
    (``REGISTRY[loss].description``): the contrastive loss over all pairs or over the hard ones,
    the batch-all, batch-hard (hinge or soft margin) and semi-hard triplet losses, random
    triplets, or a :class:`~siamese_tutorial.models.SoftmaxClassifier`'s cross-entropy.

    The statistics, computed without gradient as 0-d tensors from the same distance matrix, are
    those of :func:`siamese_tutorial.batch_statistics.triplet_statistics` for triplet losses and
    :func:`~siamese_tutorial.batch_statistics.pair_statistics` for contrastive ones
    (``active_fraction``, ``mean_positive_distance``, ``mean_negative_distance``), and
    ``batch_accuracy`` for softmax.

    Parameters
    ----------
    loss : str
        One of :data:`OBJECTIVES`.
    margin : float
        The margin (``alpha`` of the triplet losses, ``m`` of the contrastive loss), > 0.
    squared : bool
        Use squared Euclidean distances (triplet losses only).

    Returns
    -------
    Objective
        ``objective(outputs, labels) -> (scalar loss, dict of 0-d tensors)``.
    """
    return Objective(loss, margin, squared)
