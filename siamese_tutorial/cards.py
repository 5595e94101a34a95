"""Cards: how a checkpoint was made, written beside it (its command, recipe, data, machine, scores)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import TrainConfig, unused_settings
from .files import sha256_file
from .history import History
from .machine import machine_description
from .validation import Validation

__all__ = ["card_path", "make_card"]


def card_path(checkpoint: str | Path) -> Path:
    """The card beside a checkpoint: ``runs/m.pt`` -> ``runs/m.json`` (checkpoints end in ``.pt``)."""
    checkpoint = Path(checkpoint)
    if checkpoint.suffix != ".pt":
        raise ValueError(
            f"a checkpoint's name must end in .pt (its card goes beside it as .json); got {checkpoint}"
        )
    return checkpoint.with_suffix(".json")


def make_card(
    command: str,
    config: TrainConfig,
    checkpoint_path: str | Path,
    history: History,
    validation: Validation | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    """What a finished training records beside its checkpoint (``card_path``): the command, the settings (and
    those that could not act, with why: :func:`unused_settings`), the machine and time, the data, the validation
    score of the kept step, and the checkpoint's SHA-256, so that a card is never taken for another checkpoint's.

    ``data`` may hold ``"groups"``, the training data's number of groups."""
    best = history.best_validation
    unused = unused_settings(config, data.get("groups"))
    return {
        "command": command,
        "config": config.to_dict(),
        "data": data,
        "steps_trained": history.step[-1],
        "training_minutes": round(history.seconds[-1] / 60, 2),
        "machine": machine_description(config.device),
        "validation": None
        if validation is None or best is None
        else {
            "accuracy": best[1],
            "step_kept": best[0],
            "episodes": validation.episodes,
            "task": validation.describe(),
        },
        "unused": unused,
        "checkpoint_sha256": sha256_file(checkpoint_path),
    }
