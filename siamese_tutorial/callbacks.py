"""What hooks into a training: progress, a weight average, model selection, checkpoints.

They tell each other nothing directly: a :class:`WeightAverage` sets ``trainer.candidate`` (the
weights that are validated and saved), a :class:`ModelSelection` sets ``trainer.selected`` (the
weights kept), and a :class:`Checkpoint` writes what those say. :func:`training_callbacks`
assembles the usual ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .checkpoints import save_checkpoint
from .checks import check_number, check_positive
from .loop import Callback, Trainer
from .progress import progress_bar

__all__ = [
    "ProgressBar",
    "WeightAverage",
    "ModelSelection",
    "Checkpoint",
    "OnSteps",
    "training_callbacks",
]


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

    order = -1  # before the others: a validation or a checkpoint sees this step's average

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
        trainer.candidate = self.average.module  # what is validated and saved

    def on_step_end(self, trainer: Trainer) -> None:
        self.average.update_parameters(trainer.model)

    def on_train_end(self, trainer: Trainer) -> None:
        if (
            trainer.selected is None
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

    def on_train_start(self, trainer: Trainer) -> None:
        self._publish(trainer)

    def _publish(self, trainer: Trainer) -> None:
        """Tell the trainer (and so a checkpoint) which weights are selected."""
        trainer.selected = {
            "step": self.best_step,
            "score": self.best_score,
            "state": self.best_state,
        }

    def run(self, trainer: Trainer) -> None:
        trainer.check_finite()
        model = trainer.candidate  # the model, or its weight average
        if model is not trainer.model:
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
            self._publish(trainer)

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
        chosen = trainer.selected
        if chosen is not None and chosen["state"] is not None:
            weights = chosen["state"]
            selected = {"step": chosen["step"], "score": chosen["score"]}
        else:
            latest = trainer.candidate  # the model, or its weight average
            weights = None if latest is trainer.model else latest.state_dict()
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


def training_callbacks(
    *,
    progress: bool = True,
    average: float | None = None,
    validate: Callable[[nn.Module], float] | None = None,
    validate_every: int = 500,
    checkpoint_path: str | Path | None = None,
    config: dict[str, Any] | None = None,
) -> list[Callback]:
    """The callbacks of a training, assembled in one place (:func:`~siamese_tutorial.training.fit`
    and :func:`~siamese_tutorial.recipe.train_encoder` both use it).

    A :class:`ProgressBar` if ``progress``; a :class:`WeightAverage` of decay ``average``; a
    :class:`ModelSelection` on ``validate`` every ``validate_every`` steps; a :class:`Checkpoint`
    at ``checkpoint_path`` (holding ``config``) as often.
    """
    hooks: list[Callback] = [ProgressBar()] if progress else []
    if average:
        hooks.append(WeightAverage(average))
    if validate is not None:
        hooks.append(ModelSelection(validate, validate_every))
    if checkpoint_path is not None:
        hooks.append(Checkpoint(checkpoint_path, config, validate_every))
    return hooks
