"""The training loop: :class:`Trainer`, and the :class:`Callback` hooks everything else plugs into.

Each step moves a batch to the device, computes the outputs and ``objective(outputs, labels)``,
and takes one optimizer and one schedule step; nothing inside a step reads the device. Ctrl-C and
SIGTERM wait for the end of a step, so that a checkpoint only ever holds a step's end. The
callbacks (progress, weight average, model selection, checkpoints) are in
:mod:`siamese_tutorial.callbacks`.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .checks import DIVERGED, check_finite, check_positive, resolve_device
from .history import History
from .models import SiameseNetwork

__all__ = ["Callback", "Trainer"]


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

    order: int = 0
    """Callbacks of a lower order run first at each hook (a weight average: -1)."""

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
        Run in this order at each hook, those of the lowest
        :attr:`Callback.order` first (a weight average).

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
        # A callback that changes what the others see (a weight average) runs first at each hook, so
        # that a validation or a checkpoint at a step sees that step's average, wherever it was put.
        self.callbacks = sorted(callbacks, key=lambda callback: callback.order)
        self.step, self.steps = 0, 0
        self.history = History()
        self.elapsed = 0.0  # seconds of training, earlier runs of a resumed training included
        self._window: dict[str, list[Tensor | float]] = {}
        self._nonfinite: Tensor | None = None
        self._batches_state: dict[str, Any] | None = None
        self._started = 0.0
        self.batches: Iterable | None = None
        # False while a step (and its callbacks) is under way
        self.at_step_end = True
        # What the callbacks tell each other, through the trainer: the network that is validated
        # and saved (the model, or a weight average of it), and the selected weights (None: no
        # selection).
        self.candidate: nn.Module = self.model
        self.selected: dict[str, Any] | None = None

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
