"""The validation protocol everything is chosen on: fixed N-way 1-shot episodes of held-out classes.

For Omniglot, the 10 evaluation alphabets the official runs do not use, built like the official
runs where the data say who drew each image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .checks import check_positive
from .episodes import EPISODE_STYLES
from .evaluation import OneShotResult, episode_accuracy
from .labelled import LabelledImages

__all__ = ["Validation", "VALIDATION_SEED"]

VALIDATION_SEED = 0
"""The seed of the validation episodes: the same episodes for every run, so scores compare."""


@dataclass
class Validation:
    """The validation protocol: accuracy on fixed N-way 1-shot episodes of held-out classes.

    Callable as ``validation(encoder) -> accuracy``, the score :class:`~siamese_tutorial.training.ModelSelection`
    keeps the best step by. Episodes are within one group (alphabet) and, where ``dataset.drawers``
    says who drew each image, built like the official runs (``style="runs"``: every support image of
    an episode by one drawer, every query by another); otherwise random.

    Parameters
    ----------
    dataset : LabelledImages
        The held-out images, e.g. :func:`siamese_tutorial.omniglot.load_validation_set`.
    episodes : int
        Number of episodes (200: about +-1.2 points at 85%).
    style : str, optional
        ``"runs"`` or ``"random"``; default ``"runs"`` when the data set has drawers.
    n_way : int
        Classes per episode (at most the classes of the largest group).
    seed : int
        Seed of the episodes.
    shifts : int
        Test-time augmentation of :func:`~siamese_tutorial.evaluation.embed`.
    """

    dataset: LabelledImages
    episodes: int = 200
    style: str | None = None
    n_way: int = 20
    seed: int = VALIDATION_SEED
    shifts: int = 0

    def __post_init__(self) -> None:
        check_positive(episodes=self.episodes, n_way=self.n_way)
        usable = (
            torch.bincount(
                self.dataset.labels, minlength=self.dataset.num_classes
            )
            >= 2
        )
        largest = (
            int(torch.bincount(self.dataset.class_group[usable]).max())
            if usable.any()
            else 0
        )
        if largest < 2:
            raise ValueError(
                "validation needs 2 or more classes with 2 or more images each in one group; "
                "hold out more classes for validation."
            )
        self.n_way = min(
            self.n_way, largest
        )  # as many ways as the held-out classes allow
        if self.style is None:
            self.style = (
                "runs" if self.dataset.drawers is not None else "random"
            )
        if self.style not in EPISODE_STYLES:
            raise ValueError(
                f"unknown episode style {self.style!r}; choose one of {EPISODE_STYLES}"
            )

    def result(self, encoder: nn.Module) -> OneShotResult:
        """The episodes' :class:`~siamese_tutorial.evaluation.OneShotResult`."""
        return episode_accuracy(
            encoder,
            self.dataset,
            n_way=self.n_way,
            num_episodes=self.episodes,
            within_group=True,
            style=self.style,
            seed=self.seed,
            shifts=self.shifts,
        )

    def __call__(self, encoder: nn.Module) -> float:
        return self.result(encoder).accuracy

    def describe(self) -> str:
        """One line: what the score is."""
        return (
            f"{self.episodes} episodes of {self.n_way}-way 1-shot within one group, {self.style}-style"
            + (f", test-time shifts {self.shifts}" if self.shifts else "")
        )
