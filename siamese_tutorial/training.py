"""Training: objectives over labelled batches, the training loop and its callbacks, checkpoints.

The pieces, from small to large, each in its own module (all importable from here):

- :func:`~siamese_tutorial.objectives.make_objective` (:mod:`~siamese_tutorial.objectives`) turns
  a loss name into a function ``(outputs, labels) -> (loss, stats)`` on one labelled batch: a
  miner and a loss over the batch's one distance matrix;
- :class:`~siamese_tutorial.loop.Trainer` (:mod:`~siamese_tutorial.loop`) is the loop and the
  state it works on (model, optimizer, schedule, step, :class:`~siamese_tutorial.history.History`);
  everything else hooks into it as a :class:`~siamese_tutorial.loop.Callback`
  (:mod:`~siamese_tutorial.callbacks`): a progress bar, model selection on a validation score, a
  moving average of the weights, checkpoint files that a stopped run can resume from,
  :class:`~siamese_tutorial.callbacks.OnSteps` for anything to do at given steps;
- :func:`fit` (here) trains with the usual callbacks in one call;
- :func:`~siamese_tutorial.checkpoints.save_checkpoint` and
  :func:`~siamese_tutorial.checkpoints.load_checkpoint` (:mod:`~siamese_tutorial.checkpoints`)
  write and read weights together with the recipe that rebuilds the network.

The recipe that trains the shipped Omniglot encoders is in :mod:`siamese_tutorial.recipe`.

On a GPU nothing inside a step waits for the device: losses and statistics stay on the device and
are read once every ``log_every`` steps, which is also when NaN or infinite values are caught.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .callbacks import (
    Checkpoint,
    ModelSelection,
    OnSteps,
    ProgressBar,
    WeightAverage,
    training_callbacks,
)
from .checkpoints import (
    CHECKPOINT_FORMAT,
    architecture,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from .checks import DIVERGED, default_device, resolve_device
from .history import History
from .loop import Callback, Trainer
from .machine import keep_freed_memory, seed_everything
from .objectives import OBJECTIVES, REGISTRY, Objective, make_objective
from .sampling import PKSampler

__all__ = [
    "OBJECTIVES",
    "REGISTRY",
    "Objective",
    "seed_everything",
    "keep_freed_memory",
    "make_objective",
    "History",
    "Callback",
    "Trainer",
    "ProgressBar",
    "ModelSelection",
    "WeightAverage",
    "Checkpoint",
    "OnSteps",
    "training_callbacks",
    "fit",
    "fit_pk",
    "save_checkpoint",
    "read_checkpoint",
    "load_checkpoint",
    "CHECKPOINT_FORMAT",
    "DIVERGED",
    "default_device",
    "resolve_device",
]


def fit(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    objective: Callable[[Tensor, Tensor], tuple[Tensor, dict[str, Tensor]]],
    optimizer: torch.optim.Optimizer,
    *,
    steps: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    validate: Callable[[nn.Module], float] | None = None,
    validate_every: int = 500,
    checkpoint_path: str | Path | None = None,
    config: dict[str, Any] | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    log_every: int = 10,
    callbacks: Sequence[Callback] = (),
) -> History:
    """Train an embedding network on labelled batches: a :class:`Trainer` with the usual callbacks.

    With ``validate``, :class:`ModelSelection` scores the model every ``validate_every`` steps and
    after the last one and leaves the best-scoring weights in ``model``; without it the final
    weights are the result. With ``checkpoint_path``, a :class:`Checkpoint` holds them (and the
    training state) every ``validate_every`` steps and at the end. ``progress`` shows a
    :class:`ProgressBar`; ``callbacks`` run after those.

    Parameters
    ----------
    model : nn.Module
        Maps images ``(B, ...)`` to embeddings ``(B, D)``: an :class:`~siamese_tutorial.models.Encoder`
        or a :class:`~siamese_tutorial.models.SiameseNetwork` (trained through its ``embed``); or a
        :class:`~siamese_tutorial.models.SoftmaxClassifier` with the ``"softmax"`` objective.
    batches : iterable of (Tensor, Tensor)
        ``(images (B, ...), labels (B,))`` batches, e.g. from :class:`~siamese_tutorial.data.PKBatches`.
    objective : callable
        From :func:`make_objective`.
    optimizer : torch.optim.Optimizer
        Optimizer over ``model``'s parameters.
    steps : int
        Number of optimizer steps.
    scheduler : LRScheduler, optional
        Stepped after every optimizer step.
    validate : callable, optional
        ``model -> score`` (higher is better).
    validate_every : int
        Steps between validations (and checkpoints).
    checkpoint_path : str or Path, optional
        Where the checkpoint goes.
    config : dict, optional
        The training recipe, stored in the checkpoint.
    device : str or torch.device, optional
        Default :func:`default_device`.
    progress : bool
        Show a progress bar.
    log_every : int
        Steps per :class:`History` entry.
    callbacks : sequence of Callback
        More hooks, e.g. :class:`OnSteps`.

    Returns
    -------
    History
        Training curves and validation scores.

    Raises
    ------
    FloatingPointError
        When the loss, the embeddings or the weights become NaN or infinite (training has diverged).
    """
    if checkpoint_path is not None:
        architecture(
            model
        )  # fail now, not after training, if it cannot be saved
    hooks = training_callbacks(
        progress=progress,
        validate=validate,
        validate_every=validate_every,
        checkpoint_path=checkpoint_path,
        config=config,
    )
    trainer = Trainer(
        model,
        objective,
        optimizer,
        scheduler,
        device,
        log_every,
        [*hooks, *callbacks],
    )
    return trainer.fit(batches, steps)


def fit_pk(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    objective: Callable[[Tensor, Tensor], tuple[Tensor, dict[str, Tensor]]],
    *,
    steps: int,
    p: int = 16,
    k: int = 4,
    seed: int = 0,
    lr: float = 1e-3,
    **options: Any,
) -> History:
    """:func:`fit` with Adam (learning rate ``lr``) on ``steps`` P x K batches of a labelled set.

    The batches are drawn up front by a :class:`~siamese_tutorial.sampling.PKSampler` seeded with
    ``seed``: the short trainings of the chapters. ``options`` go to :func:`fit` (``device``,
    ``callbacks``, ``log_every``, ``progress``, ...). For the recipe of the shipped encoders (batches
    distorted on the device, a schedule, validation), see
    :func:`~siamese_tutorial.recipe.train_encoder`.
    """
    sampler = PKSampler(labels, p=p, k=k, num_batches=steps, seed=seed)
    batches = [(images[b], labels[b]) for b in sampler]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return fit(model, batches, objective, optimizer, steps=steps, **options)
