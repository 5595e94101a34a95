"""Training: objectives over labelled batches, the training loop and its callbacks, checkpoints.

The pieces, from small to large:

- :func:`make_objective` turns a loss name into a function ``(outputs, labels) -> (loss, stats)``
  that works on one labelled batch (online mining: pairs and triplets are formed inside the batch);
- :class:`Trainer` is the loop and the state it works on (model, optimizer, schedule, step,
  :class:`History`); everything else hooks into it as a :class:`Callback`: a progress bar,
  :class:`ModelSelection` on a validation score, :class:`WeightAverage` (a moving average of the
  weights, validated and kept instead of them), :class:`Checkpoint` files that a stopped run can
  resume from, :class:`OnSteps` for anything to do at given steps (e.g. a chapter's snapshots);
- :func:`fit` assembles the usual ones in one call;
- :func:`save_checkpoint` / :func:`load_checkpoint` write and read weights together with the recipe
  that rebuilds the network.

The recipe that trains the shipped Omniglot encoders is in :mod:`siamese_tutorial.recipe`.

On a GPU nothing inside a step waits for the device: losses and statistics stay on the device and
are read once every ``log_every`` steps, which is also when NaN or infinite values are caught.
"""

from __future__ import annotations

import ctypes
import math
import platform
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from . import mining

# default_device and resolve_device live in checks (data.py needs them too); imported here as before
from .checks import (  # noqa: F401
    check_finite,
    check_number,
    check_positive,
    default_device,
    resolve_device,
)
from .data import random_triplets
from .display import progress_bar
from .files import atomic_write, check_format
from .losses import (
    batch_all_triplet_loss,
    batch_contrastive_loss,
    batch_hard_triplet_loss,
    semi_hard_triplet_loss,
    triplet_loss,
)
from .models import Encoder, SiameseNetwork, SoftmaxClassifier, build_encoder

__all__ = [
    "OBJECTIVES",
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
    "fit",
    "save_checkpoint",
    "load_checkpoint",
]

CHECKPOINT_FORMAT = "siamese_tutorial.checkpoint/2"
DIVERGED = "lower the learning rate (lr), or check the training images for NaN or infinite values"


def keep_freed_memory() -> bool:
    """Keep the memory a training step frees for the next step, instead of handing it back to the system.

    glibc's ``malloc`` serves every block above 32 MB (a batch's activations: 128 x 64 x 40 x 40
    floats are 52 MB) with a fresh mapping, unmapped again when the tensor is freed, so every step
    faults its activations in page by page: on 2 cores of an AMD EPYC, 110 steps of the recipe took
    4.7 million page faults and 14 s in the kernel, 314 ms a step; with this, 0.22 million, 0.8 s and
    274 ms. It sets ``M_MMAP_MAX = 0`` (everything from the heap) and ``M_TRIM_THRESHOLD`` to 1 GiB
    (the heap's free top is kept), for the whole process, which then keeps its peak memory until it
    ends. The results do not change: where a tensor lives is not what it holds.

    Returns
    -------
    bool
        Whether it took effect: True on Linux with glibc, False elsewhere (macOS, Windows, musl),
        where nothing is changed.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    m_trim_threshold, m_mmap_max = -1, -4  # from glibc's malloc.h
    return bool(libc.mallopt(m_mmap_max, 0)) and bool(
        libc.mallopt(m_trim_threshold, 2**30)
    )


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and all GPUs) random number generators.

    This makes a run repeatable on the CPU; on a GPU some kernels stay non-deterministic.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------------------------
# Objectives: (outputs, labels) -> (loss, statistics) on one labelled batch
# ----------------------------------------------------------------------------------------------

_PAIR_LOSSES = ("contrastive", "contrastive_hard")
_DESCRIPTIONS = {
    "contrastive": "contrastive loss (Hadsell et al., 2006) over all pairs i < j of the batch",
    "contrastive_hard": "contrastive loss over the positive pairs and the negatives inside the margin",
    "batch_all": "mean over the active triplets of all valid triplets (Hermans et al., 2017)",
    "batch_hard": "hardest positive and hardest negative per anchor (Hermans et al., 2017)",
    "batch_hard_soft": "batch hard with the soft margin softplus (the margin is then unused)",
    "semi_hard": "semi-hard negatives per anchor-positive pair (Schroff et al., 2015)",
    "random_triplets": "B random valid triplets of the batch, no look at the embeddings",
    "softmax": "cross-entropy of a SoftmaxClassifier's class scores: a classifier, not a similarity model",
}
OBJECTIVES: tuple[str, ...] = tuple(_DESCRIPTIONS)
"""The loss names :func:`make_objective` knows."""


def _mean_triplet_loss(
    embeddings: Tensor,
    triplets: tuple[Tensor, Tensor, Tensor],
    margin: float,
    squared: bool,
) -> Tensor:
    # sum / max(n, 1): a miner may find no triplet, and the mean of nothing would be NaN
    a, p, n = triplets
    return triplet_loss(
        embeddings[a],
        embeddings[p],
        embeddings[n],
        margin,
        squared,
        reduction="sum",
        check=False,
    ) / max(len(a), 1)


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
        if loss not in OBJECTIVES:
            raise ValueError(
                f"unknown loss {loss!r}; choose one of {list(OBJECTIVES)}"
            )
        check_number("margin", margin, low=0, low_inclusive=False)
        if squared and loss in _PAIR_LOSSES + ("softmax",):
            raise ValueError(
                f"squared=True applies to triplet losses only; the contrastive loss of Hadsell et al. "
                f"(2006) is defined on the plain distance. Use squared=False with loss={loss!r}."
            )
        self.loss, self.margin, self.squared = loss, margin, squared
        self.check_every_batch: bool | None = (
            None  # None: where it is free, on the CPU
        )
        self._checked = False

    def __repr__(self) -> str:
        return f"Objective({self.loss!r}, margin={self.margin}, squared={self.squared})"

    def __call__(
        self, outputs: Tensor, labels: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        every = (
            self.check_every_batch
            if self.check_every_batch is not None
            else labels.device.type == "cpu"
        )
        check = every or not self._checked
        self._checked = True
        loss, margin, squared = self.loss, self.margin, self.squared
        if loss == "softmax":
            if check and (
                outputs.dim() != 2 or outputs.shape[0] != len(labels)
            ):
                raise ValueError(
                    f"softmax needs class scores (B, C) for B labels; got {tuple(outputs.shape)}"
                )
            return F.cross_entropy(outputs, labels), {
                "batch_accuracy": (outputs.detach().argmax(1) == labels)
                .float()
                .mean()
            }
        z = outputs.detach()
        if loss in _PAIR_LOSSES:
            stats = mining.pair_statistics(z, labels, margin, check=check)
        else:
            stats = mining.triplet_statistics(
                z, labels, margin, squared, check=check
            )
        if loss == "contrastive":
            value = batch_contrastive_loss(
                outputs, labels, margin, check=False
            )
        elif loss == "contrastive_hard":
            value = batch_contrastive_loss(
                outputs,
                labels,
                margin,
                pairs=mining.hard_negative_pairs(z, labels, margin),
                check=False,
            )
        elif loss == "batch_all":
            value = batch_all_triplet_loss(
                outputs, labels, margin, squared, check=False
            )
        elif loss in ("batch_hard", "batch_hard_soft"):
            value = batch_hard_triplet_loss(
                outputs,
                labels,
                margin,
                squared,
                soft=loss == "batch_hard_soft",
                check=False,
            )
        elif loss == "semi_hard":
            value = semi_hard_triplet_loss(
                outputs, labels, margin, squared, check=False
            )
        else:  # random_triplets: drawn on the CPU from the global generator, so seeded runs repeat
            triplets = random_triplets(labels.cpu(), len(labels))
            value = _mean_triplet_loss(
                outputs,
                tuple(t.to(labels.device) for t in triplets),
                margin,
                squared,
            )
        return value, stats


def make_objective(
    loss: str, margin: float = 0.2, squared: bool = False
) -> Objective:
    """The training objective of a labelled batch: a loss with its mining, and its statistics.

    ================== ==============================================================================
    ``loss``           what is minimised (see :mod:`siamese_tutorial.losses`)
    ================== ==============================================================================
    contrastive        contrastive loss (Hadsell et al., 2006) over all pairs ``i < j`` of the batch
    contrastive_hard   contrastive loss over the positive pairs and the negatives inside the margin
    batch_all          mean over the active triplets of all valid triplets (Hermans et al., 2017)
    batch_hard         hardest positive and hardest negative per anchor (Hermans et al., 2017)
    batch_hard_soft    batch hard with the soft margin ``softplus`` (the margin is then unused)
    semi_hard          semi-hard negatives per anchor-positive pair (Schroff et al., 2015)
    random_triplets    ``B`` random valid triplets of the batch, no look at the embeddings
    softmax            cross-entropy of a :class:`~siamese_tutorial.models.SoftmaxClassifier`
    ================== ==============================================================================

    The statistics, computed without gradient as 0-d tensors, are those of
    :func:`siamese_tutorial.mining.triplet_statistics` for triplet losses and
    :func:`~siamese_tutorial.mining.pair_statistics` for contrastive ones (``active_fraction``,
    ``mean_positive_distance``, ``mean_negative_distance``), and ``batch_accuracy`` for softmax.

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


# ----------------------------------------------------------------------------------------------
# History
# ----------------------------------------------------------------------------------------------


@dataclass
class History:
    """What happened during training, one entry per logged step.

    Each logged value is the mean over the steps since the previous entry (``log_every`` steps).
    The values are read as ``history["loss"]`` or ``history.loss``: ``loss``, ``lr`` and the
    objective's statistics (e.g. ``active_fraction``, ``mean_positive_distance``,
    ``mean_negative_distance``; ``batch_accuracy`` for softmax).

    Attributes
    ----------
    step : list of int
        The step (1-based) of each entry.
    seconds : list of float
        Seconds of training up to that step (time before a resume included).
    values : dict of str to list of float
        One list per logged quantity, aligned with ``step``.
    validation : list of (int, float)
        ``(step, score)`` of every validation.
    validation_raw : list of (int, float)
        With a :class:`WeightAverage`: ``(step, score)`` of the raw weights at every validation
        (``validation`` holds the averaged weights' scores).
    """

    step: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)
    validation: list[tuple[int, float]] = field(default_factory=list)
    validation_raw: list[tuple[int, float]] = field(default_factory=list)

    def __getitem__(self, name: str) -> list[float]:
        return self.values[name]

    def __getattr__(self, name: str) -> list[float]:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(
            f"History has no {name!r}; it has {sorted(values)}"
        )

    def append(
        self, step: int, seconds: float, means: dict[str, float]
    ) -> None:
        """Add an entry; a quantity missing from ``means`` (or new in it) is NaN where it has no value."""
        for name in means.keys() - self.values.keys():
            self.values[name] = [math.nan] * len(self.step)
        for name, values in self.values.items():
            values.append(means.get(name, math.nan))
        self.step.append(step)
        self.seconds.append(seconds)

    @property
    def best_validation(self) -> tuple[int, float] | None:
        """``(step, score)`` of the highest validation score (the earliest on ties), or None."""
        if not self.validation:
            return None
        return max(self.validation, key=lambda entry: (entry[1], -entry[0]))

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and dicts (for JSON or a checkpoint); :meth:`from_dict` inverts it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """Rebuild a history from :meth:`to_dict` (JSON lists become ``(step, score)`` tuples again)."""
        return cls(
            step=[int(s) for s in data.get("step", [])],
            seconds=[float(s) for s in data.get("seconds", [])],
            values={
                name: [float(v) for v in values]
                for name, values in data.get("values", {}).items()
            },
            validation=[
                (int(step), float(score))
                for step, score in data.get("validation", [])
            ],
            validation_raw=[
                (int(step), float(score))
                for step, score in data.get("validation_raw", [])
            ],
        )

    def as_dataframe(self):
        """The logged entries as a ``pandas.DataFrame``: ``step``, ``seconds`` and one column per value."""
        import pandas as pd  # only the notebooks need pandas

        return pd.DataFrame(
            {"step": self.step, "seconds": self.seconds, **self.values}
        )


# ----------------------------------------------------------------------------------------------
# The loop and its callbacks
# ----------------------------------------------------------------------------------------------


class Callback:
    """Something that hooks into :class:`Trainer`: override the hooks you need.

    ``on_step_end`` runs after every step, once the step's values are logged (at log steps);
    ``trainer.step`` is then the number of steps done. ``on_interrupt`` runs when the loop is stopped
    by Ctrl-C or SIGTERM, at the end of a step (or mid-step if asked twice: ``trainer.at_step_end``
    says). A callback with state that a resumed run needs returns it from ``state_dict``.
    """

    def on_train_start(self, trainer: Trainer) -> None:
        """Before the first step (of this call to :meth:`Trainer.fit`)."""

    def on_step_end(self, trainer: Trainer) -> None:
        """After every step."""

    def on_train_end(self, trainer: Trainer) -> None:
        """After the last step."""

    def on_interrupt(self, trainer: Trainer) -> None:
        """When Ctrl-C stops the loop between two steps."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class _SignalsAtStepEnds:
    """Hold back Ctrl-C (SIGINT) and SIGTERM until the end of a step, where :meth:`deliver` runs them.

    A stop in the middle of a step (the batch drawn but the step not counted, the weights updated but
    not the schedule, a validation half done) would save a state that no uninterrupted run passes
    through, so that a resumed run would differ from it. The handler that was there (Python's
    KeyboardInterrupt for Ctrl-C, the command line's for SIGTERM) runs at the end of the step instead;
    a second signal runs it at once (the state is then mid-step, and is not saved). Signals without a
    Python handler (the default action, or ignored) are left alone, and so is any thread but the main one.
    """

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.held: list[int] = []
        self.previous: dict[int, Callable[[int, Any], Any]] = {}

    def __enter__(self) -> _SignalsAtStepEnds:
        if threading.current_thread() is threading.main_thread():
            self.previous = {
                s: h
                for s in (signal.SIGINT, signal.SIGTERM)
                if callable(h := signal.getsignal(s))
            }
            for signum in self.previous:
                signal.signal(signum, self._hold)
        return self

    def _hold(self, signum: int, frame: Any) -> None:
        if self.held:  # asked twice: stop now, wherever the step is
            self.trainer.at_step_end = False
            self.previous[signum](signum, frame)
        self.held.append(signum)

    def deliver(self) -> None:
        """Run the handler of the first signal held back (which may raise KeyboardInterrupt)."""
        if self.held:
            signum = self.held[0]
            self.held.clear()
            self.previous[signum](signum, None)

    def __exit__(self, *error: Any) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        if error[0] is None:
            self.deliver()  # held back after the last step (during the callbacks' on_train_end)


def _cycle(batches: Iterable) -> Iterator:
    """``batches`` again and again: a list or a DataLoader restarts; a spent generator ends."""
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            return


class Trainer:
    """The training loop, and the state it works on.

    Each step: move a batch to the device, compute the outputs (``model.embed`` for a
    :class:`~siamese_tutorial.models.SiameseNetwork`, ``model`` otherwise), ``loss, stats =
    objective(outputs, labels)``, one optimizer step, one ``scheduler`` step. Every ``log_every``
    steps the means of the loss, the learning rate and the statistics go to :attr:`history`, and
    NaN or infinite losses, embeddings or weights raise ``FloatingPointError``. The callbacks do
    everything else.

    Parameters
    ----------
    model : nn.Module
        The network to train.
    objective : callable
        ``(outputs, labels) -> (loss, stats)``, e.g. from :func:`make_objective`.
    optimizer : torch.optim.Optimizer
        Optimizer over ``model``'s parameters.
    scheduler : LRScheduler, optional
        Stepped after every optimizer step.
    device : str or torch.device, optional
        Default :func:`default_device`.
    log_every : int
        Steps per :class:`History` entry.
    callbacks : sequence of Callback
        Run in this order at each hook, weight averages (:class:`WeightAverage`) first.

    Attributes
    ----------
    step : int
        Steps done so far.
    steps : int
        The step the current :meth:`fit` trains to.
    history : History
        The logged values.
    at_step_end : bool
        Whether the state is that of a step's end (its batch, update and logging done), the only state
        a checkpoint may hold. Ctrl-C and SIGTERM wait for the end of the step under way and its
        callbacks; asked twice, they stop at once, and this is False.
    """

    def __init__(
        self,
        model: nn.Module,
        objective: Callable[
            [Tensor, Tensor], tuple[Tensor, dict[str, Tensor]]
        ],
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        device: str | torch.device | None = None,
        log_every: int = 10,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        check_positive(log_every=log_every)
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.forward = (
            model.embed if isinstance(model, SiameseNetwork) else model
        )
        self.objective, self.optimizer, self.scheduler = (
            objective,
            optimizer,
            scheduler,
        )
        self.log_every = log_every
        # A weight average updates first, so that a validation or a checkpoint at a step sees that
        # step's average, wherever the average was put in the list.
        self.callbacks = sorted(
            callbacks,
            key=lambda callback: not isinstance(callback, WeightAverage),
        )
        self.step, self.steps = 0, 0
        self.history = History()
        self.elapsed = 0.0  # seconds of training, earlier runs of a resumed training included
        self._window: dict[str, list[Tensor | float]] = {}
        self._nonfinite: Tensor | None = None
        self._batches_state: dict[str, Any] | None = None
        self._started = 0.0
        self.batches: Iterable | None = None
        self.at_step_end = (
            True  # False while a step (and its callbacks) is under way
        )

    # ------------------------------------------------------------------------------- the loop

    def fit(
        self, batches: Iterable[tuple[Tensor, Tensor]], steps: int
    ) -> History:
        """Train until :attr:`step` reaches ``steps`` (or ``batches`` runs out); returns the history.

        A list or a DataLoader is iterated again when it ends; a generator is not. A trainer
        restored with :meth:`load_state_dict` continues where it stopped.
        """
        check_positive(steps=steps)
        self.steps = steps
        if self._batches_state is not None:
            batches.load_state_dict(self._batches_state)
            self._batches_state = None
        self.batches = batches
        self._started = time.perf_counter() - self.elapsed
        self.model.train()
        for callback in self.callbacks:
            callback.on_train_start(self)
        with _SignalsAtStepEnds(self) as signals:
            try:
                stream = _cycle(batches)
                while self.step < steps:
                    self.at_step_end = False
                    batch = next(stream, None)
                    if batch is None:  # a generator that ran out
                        break
                    self._train_step(*batch)
                    self.step += 1
                    self.elapsed = time.perf_counter() - self._started
                    if self.step % self.log_every == 0 or self.step == steps:
                        self.log()
                    self.at_step_end = True  # the step's work is done; a callback may stop the loop
                    for callback in self.callbacks:
                        callback.on_step_end(self)
                    signals.deliver()  # a stop asked for during the step: here, where a checkpoint would be
            except KeyboardInterrupt:
                for callback in self.callbacks:
                    callback.on_interrupt(self)
                raise
            finally:
                self.at_step_end = True
            if self.step == 0:
                raise ValueError(
                    "batches yielded no batch; give an iterable of (images, labels) batches"
                )
            if self._window:  # batches ran out between two log steps
                self.log()
            for callback in self.callbacks:
                callback.on_train_end(self)
        return self.history

    def _train_step(self, images: Tensor, labels: Tensor) -> None:
        images, labels = (
            images.to(self.device, non_blocking=True),
            labels.to(self.device, non_blocking=True),
        )
        outputs = self.forward(images)
        loss, stats = self.objective(outputs, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        lr = self.optimizer.param_groups[0]["lr"]
        if self.scheduler is not None:
            self.scheduler.step()
        # Nothing is read from the device here: values are kept as tensors until the log step.
        nonfinite = ~(
            torch.isfinite(loss) & torch.isfinite(outputs.detach()).all()
        )
        self._nonfinite = (
            nonfinite
            if self._nonfinite is None
            else self._nonfinite | nonfinite
        )
        for name, value in {"loss": loss.detach(), "lr": lr, **stats}.items():
            self._window.setdefault(name, []).append(value)

    def log(self) -> None:
        """Append the means since the last entry to :attr:`history` (reading the device once), after
        :meth:`check_finite`."""
        self.check_finite()
        tensors = {
            name: torch.stack(
                [
                    torch.as_tensor(v, dtype=torch.float64, device=self.device)
                    for v in values
                ]
            ).mean()
            for name, values in self._window.items()
        }
        means = (
            dict(zip(tensors, torch.stack(list(tensors.values())).tolist()))
            if tensors
            else {}
        )
        self._window.clear()
        self.history.append(self.step, self.elapsed, means)

    def check_finite(self) -> None:
        """Raise ``FloatingPointError`` if a loss, an embedding or a weight became NaN or infinite."""
        first = self.history.step[-1] + 1 if self.history.step else 1
        weights = dict(self.model.named_parameters())
        finite = torch.stack(
            [torch.isfinite(w.detach()).all() for w in weights.values()]
        ).tolist()
        if self._nonfinite is not None and bool(self._nonfinite):
            raise FloatingPointError(
                f"training diverged: the loss or the embeddings became NaN or infinite between steps "
                f"{first} and {self.step}; {DIVERGED}"
            )
        for name, ok in zip(weights, finite):
            if not ok:
                check_finite(
                    weights[name].detach(),
                    f"training diverged: the weights {name} at step {self.step}",
                    DIVERGED,
                )

    # ------------------------------------------------------------------------------- state

    def state_dict(self) -> dict[str, Any]:
        """Everything a stopped training needs to continue exactly: weights, optimizer, schedule, step,
        history, the callbacks' state, the batches' random streams and the global random state."""
        batches = getattr(self, "batches", None)
        return {
            "step": self.step,
            "elapsed": self.elapsed,
            "model": {
                k: v.detach().cpu().clone()
                for k, v in self.model.state_dict().items()
            },
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict()
            if self.scheduler is not None
            else None,
            "history": self.history.to_dict(),
            "window": {
                name: [float(v) for v in values]
                for name, values in self._window.items()
            },
            "callbacks": [
                [type(c).__name__, state]
                for c in self.callbacks
                if (state := c.state_dict())
            ],
            "batches": batches.state_dict()
            if hasattr(batches, "state_dict")
            else None,
            "rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the next :meth:`fit` continues from its step."""
        waiting = list(self.callbacks)
        for kind, callback_state in state[
            "callbacks"
        ]:  # each to the next callback of its kind
            match = next(
                (c for c in waiting if type(c).__name__ == kind), None
            )
            if match is None:
                raise ValueError(
                    f"the saved training had a {kind} callback with state, this trainer has none; "
                    f"resume with the same recipe (and validation)"
                )
            match.load_state_dict(callback_state)
            waiting.remove(match)
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (
            RuntimeError,
            ValueError,
            KeyError,
        ) as error:  # e.g. a classifier's head of another size
            raise ValueError(
                f"the saved training does not fit this model ({str(error).splitlines()[0]}): resume "
                f"with the recipe and the data it was trained with, or start a new training"
            ) from None
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.history = History.from_dict(state["history"])
        self._window = {
            name: list(values) for name, values in state["window"].items()
        }
        self._batches_state = state["batches"]
        torch.set_rng_state(state["rng"])

    def callback(self, kind: type) -> Callback | None:
        """The first callback of this type, or None."""
        return next((c for c in self.callbacks if isinstance(c, kind)), None)


class ProgressBar(Callback):
    """A tqdm progress bar (a widget in a notebook), with the loss and the active fraction at log steps.

    ``TQDM_DISABLE=1`` in the environment hides it (see :func:`~siamese_tutorial.display.progress_bar`).
    """

    def on_train_start(self, trainer: Trainer) -> None:
        self.bar = progress_bar(
            trainer.steps, "training", "step", initial=trainer.step
        )

    def on_step_end(self, trainer: Trainer) -> None:
        self.bar.update(1)
        if trainer.history.step and trainer.history.step[-1] == trainer.step:
            shown = {
                name: trainer.history[name][-1]
                for name in ("loss", "active_fraction", "batch_accuracy")
                if name in trainer.history.values
            }
            self.bar.set_postfix(
                {name: f"{value:.3f}" for name, value in shown.items()},
                refresh=False,
            )

    def on_train_end(self, trainer: Trainer) -> None:
        self.bar.close()

    on_interrupt = on_train_end


class WeightAverage(Callback):
    r"""An exponential moving average of the weights, updated after every step.

    :math:`\bar\theta_t = d\,\bar\theta_{t-1} + (1 - d)\,\theta_t`, starting from the first step's
    weights, with the batch-norm statistics averaged the same way (Polyak & Juditsky, 1992; the
    averaged weights of Tarvainen & Valpola, 2017, and of most recent image models). The average
    forgets over about :math:`1 / (1 - d)` steps: it smooths the noise of the last steps of SGD
    without their cost. With a :class:`ModelSelection` in the same trainer, the averaged weights are
    the ones validated and kept (the raw weights' scores go to ``history.validation_raw``); without
    one, the trained model ends with the last average, and checkpoints hold the average.

    Parameters
    ----------
    decay : float
        :math:`d`, in (0, 1).
    """

    def __init__(self, decay: float) -> None:
        check_number(
            "decay",
            decay,
            low=0,
            high=1,
            low_inclusive=False,
            high_inclusive=False,
        )
        self.decay = decay
        self.average: AveragedModel | None = None
        self._restored: dict[str, Any] | None = None

    @property
    def model(self) -> nn.Module:
        """The averaged network (the same architecture as the trained one)."""
        if self.average is None:
            raise RuntimeError(
                "the weight average starts with training: call Trainer.fit first"
            )
        return self.average.module

    def on_train_start(self, trainer: Trainer) -> None:
        if self.average is None:
            self.average = AveragedModel(
                trainer.model,
                multi_avg_fn=get_ema_multi_avg_fn(self.decay),
                use_buffers=True,
            )
        if self._restored is not None:
            self.average.load_state_dict(self._restored)
            self._restored = None

    def on_step_end(self, trainer: Trainer) -> None:
        self.average.update_parameters(trainer.model)

    def on_train_end(self, trainer: Trainer) -> None:
        if (
            trainer.callback(ModelSelection) is None
        ):  # else the selection loads the best average it kept
            trainer.model.load_state_dict(self.average.module.state_dict())

    def state_dict(self) -> dict[str, Any]:
        if self.average is None:
            return {}
        return {
            "decay": self.decay,
            "average": {
                k: v.detach().cpu().clone()
                for k, v in self.average.state_dict().items()
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["decay"] != self.decay:
            raise ValueError(
                f"the saved training averaged its weights with decay {state['decay']}, this trainer "
                f"with {self.decay}; resume with the same recipe"
            )
        self._restored = state["average"]


class ModelSelection(Callback):
    """Score the model every ``every`` steps and after the last; keep the weights of the best score.

    Higher scores are better; the best step is the one with the highest score, the earliest on
    ties. Scores go to ``trainer.history.validation``. At the end the best weights are loaded back
    into the model, so the trained model is the selected one. With a :class:`WeightAverage` in the
    trainer (before this callback), it is the averaged weights that are scored and kept, and the
    raw weights' scores go to ``trainer.history.validation_raw``, for comparison.

    Parameters
    ----------
    validate : callable
        ``model -> score``, run in ``eval()`` mode without gradients.
    every : int
        Steps between validations.
    """

    def __init__(
        self, validate: Callable[[nn.Module], float], every: int = 500
    ) -> None:
        check_positive(every=every)
        self.validate, self.every = validate, every
        self.best_step, self.best_score, self.best_state = 0, -math.inf, None

    def score(self, trainer: Trainer, model: nn.Module) -> float:
        """``validate(model)`` in eval mode, without gradients; a finite number or FloatingPointError."""
        model.eval()
        with torch.no_grad():
            score = float(self.validate(model))
        model.train()
        if not math.isfinite(score):
            raise FloatingPointError(
                f"the validation score at step {trainer.step} is {score}; "
                f"it must be a finite number"
            )
        return score

    def run(self, trainer: Trainer) -> None:
        trainer.check_finite()
        average = trainer.callback(WeightAverage)
        model = trainer.model if average is None else average.model
        if average is not None:
            trainer.history.validation_raw.append(
                (trainer.step, self.score(trainer, trainer.model))
            )
        score = self.score(trainer, model)
        trainer.history.validation.append((trainer.step, score))
        if score > self.best_score:
            self.best_step, self.best_score = trainer.step, score
            self.best_state = {
                k: v.detach().cpu().clone()
                for k, v in model.state_dict().items()
            }

    def on_step_end(self, trainer: Trainer) -> None:
        if trainer.step % self.every == 0 or trainer.step == trainer.steps:
            self.run(trainer)

    def on_train_end(self, trainer: Trainer) -> None:
        if (
            not trainer.history.validation
            or trainer.history.validation[-1][0] != trainer.step
        ):
            self.run(trainer)  # the batches ran out before the last step
        trainer.model.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        return {
            "best_step": self.best_step,
            "best_score": self.best_score,
            "best_state": self.best_state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_step, self.best_score, self.best_state = (
            state["best_step"],
            state["best_score"],
            state["best_state"],
        )


class Checkpoint(Callback):
    """Write a checkpoint every ``every`` steps, at the end, and on Ctrl-C: never half-written.

    It holds the selected weights (those of :class:`ModelSelection`, if the trainer has one, else the
    latest, or their :class:`WeightAverage`), the recipe ``config``, the history, and the whole
    training state (:meth:`Trainer.state_dict`) that ``train_encoder(..., resume=True)`` continues from.

    Parameters
    ----------
    path : str or Path
        The checkpoint file.
    config : dict
        The recipe (plain values), stored for rebuilding and resuming.
    every : int
        Steps between checkpoints.
    """

    def __init__(
        self,
        path: str | Path,
        config: dict[str, Any] | None = None,
        every: int = 500,
    ) -> None:
        check_positive(every=every)
        self.path, self.config, self.every = (
            Path(path),
            dict(config or {}),
            every,
        )
        self._saved_at = -1

    def save(self, trainer: Trainer) -> None:
        trainer.check_finite()
        selection, average = (
            trainer.callback(ModelSelection),
            trainer.callback(WeightAverage),
        )
        if selection is not None and selection.best_state is not None:
            weights, selected = (
                selection.best_state,
                {"step": selection.best_step, "score": selection.best_score},
            )
        else:
            weights = None if average is None else average.model.state_dict()
            selected = {"step": trainer.step, "score": None}
        save_checkpoint(
            self.path,
            trainer.model,
            self.config,
            trainer.history,
            selected,
            weights=weights,
            steps_trained=trainer.step,
            complete=trainer.step >= trainer.steps,
            resume=trainer.state_dict(),
        )
        self._saved_at = trainer.step

    def on_step_end(self, trainer: Trainer) -> None:
        if trainer.step % self.every == 0 or trainer.step == trainer.steps:
            self.save(trainer)

    def on_train_end(self, trainer: Trainer) -> None:
        if self._saved_at != trainer.step:
            self.save(trainer)

    def on_interrupt(self, trainer: Trainer) -> None:
        # mid-step (a second Ctrl-C): the last checkpoint stays, since this state is no step's end
        if (
            self._saved_at != trainer.step
            and trainer.step > 0
            and trainer.at_step_end
        ):
            self.save(trainer)


class OnSteps(Callback):
    """Call ``fn(trainer)`` after each of the given steps, e.g. to keep a snapshot of the embedding."""

    def __init__(
        self, fn: Callable[[Trainer], None], steps: Iterable[int]
    ) -> None:
        self.fn, self.steps = fn, set(steps)

    def on_step_end(self, trainer: Trainer) -> None:
        if trainer.step in self.steps:
            self.fn(trainer)


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
        _architecture(
            model
        )  # fail now, not after training, if the model cannot be checkpointed
    hooks: list[Callback] = [ProgressBar()] if progress else []
    if validate is not None:
        hooks.append(ModelSelection(validate, validate_every))
    if checkpoint_path is not None:
        hooks.append(Checkpoint(checkpoint_path, config, validate_every))
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


# ----------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------


def _architecture(model: nn.Module) -> dict[str, Any]:
    """How to rebuild ``model``: the encoder's config, and the wrapper around it if any."""
    wrapper = {SiameseNetwork: "siamese", SoftmaxClassifier: "classifier"}.get(
        type(model)
    )
    encoder = model.encoder if wrapper else model
    if not isinstance(encoder, Encoder):
        raise ValueError(
            f"cannot checkpoint a {type(model).__name__}: the model must be an Encoder of "
            "siamese_tutorial.models (or a SiameseNetwork or SoftmaxClassifier around one), so that "
            "load_checkpoint can rebuild it"
        )
    return {
        "encoder": encoder.config(),
        "wrapper": wrapper,
        "num_classes": model.num_classes if wrapper == "classifier" else None,
    }


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    config: dict[str, Any],
    history: History | None = None,
    selected: dict[str, Any] | None = None,
    *,
    weights: dict[str, Tensor] | None = None,
    steps_trained: int | None = None,
    complete: bool = True,
    resume: dict[str, Any] | None = None,
) -> None:
    """Write weights, architecture, training config and history to ``path``, atomically.

    The file is written to a temporary file in the same folder and renamed over ``path``: a crash
    or an error while saving leaves the previous checkpoint intact. NaN or infinite weights are
    refused (``FloatingPointError``) rather than saved.

    Parameters
    ----------
    path : str or Path
        Destination (its folder is created if needed).
    model : nn.Module
        An :class:`~siamese_tutorial.models.Encoder`, or a wrapper around one.
    config : dict
        The training recipe (plain Python values), e.g. ``TrainConfig.to_dict()``.
    history : History, optional
        Training history.
    selected : dict, optional
        Which step the weights are from and its validation score, ``{"step": ..., "score": ...}``.
    weights : dict of Tensor, optional
        The weights to store (default: ``model``'s own), e.g. the best validated ones.
    steps_trained : int, optional
        Steps done so far.
    complete : bool
        Whether training has finished.
    resume : dict, optional
        :meth:`Trainer.state_dict`, to continue training.
    """
    weights = {
        k: v.detach().cpu() for k, v in (weights or model.state_dict()).items()
    }
    for name, value in weights.items():
        if value.is_floating_point():
            check_finite(
                value, f"not saving {path}: the weights {name}", DIVERGED
            )
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "architecture": _architecture(model),
        "state_dict": weights,
        "config": dict(config),
        "history": history.to_dict() if history is not None else None,
        "selected": dict(selected or {}),
        "steps_trained": steps_trained,
        "complete": complete,
        "resume": resume,
    }
    atomic_write(path, lambda file: torch.save(checkpoint, file))


def read_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """The raw content of a checkpoint file (no model built), checked to be one of this package.

    Read with ``weights_only=True``: no arbitrary code runs while loading.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}; check the path, or train and save one first"
        )
    try:
        checkpoint = torch.load(
            path, map_location=map_location, weights_only=True
        )
    except Exception as error:
        # Not "delete it": it may be a picture or another file given by mistake.
        raise ValueError(
            f"{path} could not be read as a checkpoint ({type(error).__name__}): it is another kind of file, or a "
            f"checkpoint that is damaged (truncated?). Give a checkpoint written by save_checkpoint (`train` writes "
            f"them); a damaged one cannot be repaired: train again, or restore a good copy."
        ) from error
    if not check_format(
        checkpoint, CHECKPOINT_FORMAT, path, "checkpoint", "train again."
    ):
        if isinstance(checkpoint, dict) and str(
            checkpoint.get("format")
        ).startswith("siamese_tutorial.gallery/"):
            raise ValueError(
                f"{path} is a gallery, not a checkpoint (a model); give a checkpoint written by "
                f"save_checkpoint (`train` writes them), or a shipped encoder's name."
            )
        raise ValueError(
            f"{path} is not a siamese_tutorial checkpoint (expected format {CHECKPOINT_FORMAT!r}); "
            "write checkpoints with save_checkpoint"
        )
    return checkpoint


def load_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a checkpoint written by :func:`save_checkpoint`, with its weights.

    Parameters
    ----------
    path : str or Path
        The checkpoint file.
    map_location : str or torch.device
        Where to put the weights.

    Returns
    -------
    model : nn.Module
        The encoder (or its wrapper), in ``eval()`` mode; call ``.train()`` to train it further.
    checkpoint : dict
        ``architecture``, ``state_dict``, ``config``, ``history`` (a :class:`History` or None),
        ``selected``, ``steps_trained``, ``complete``, ``resume``.
    """
    checkpoint = read_checkpoint(path, map_location)
    try:
        architecture = checkpoint["architecture"]
        encoder = build_encoder(
            architecture["encoder"]["name"],
            **architecture["encoder"]["kwargs"],
        )
        wrapper = architecture["wrapper"]
        model = {
            "siamese": lambda: SiameseNetwork(encoder),
            None: lambda: encoder,
            "classifier": lambda: SoftmaxClassifier(
                encoder, architecture["num_classes"]
            ),
        }[wrapper]()
        model.load_state_dict(checkpoint["state_dict"])
        for name, value in checkpoint["state_dict"].items():
            if value.is_floating_point():
                check_finite(
                    value,
                    f"{path}: the weights {name}",
                    "this checkpoint cannot be used; train again",
                )
        history = (
            History.from_dict(checkpoint["history"])
            if checkpoint["history"] is not None
            else None
        )
    except (
        KeyError,
        TypeError,
        ValueError,
        RuntimeError,
        AttributeError,
    ) as error:
        raise ValueError(
            f"{path} is a damaged siamese_tutorial checkpoint ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else 'missing data'}); train again, or restore a good copy."
        ) from error
    checkpoint["history"] = history
    model.to(map_location).eval()
    return model, checkpoint
