"""The ``train`` command's pieces: its settings from the options, the command a card records,
what it refuses, and how a stop (Ctrl-C, SIGTERM) reaches it."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import threading
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

from .checkpoints import read_checkpoint
from .config import TrainConfig, unused_settings
from .labelled import LabelledImages
from .loop import Callback
from .validation import Validation


def _explicit_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        f.name: getattr(args, f.name)
        for f in fields(TrainConfig)
        if hasattr(args, f.name)
    }


def _flag(name: str, value: Any) -> list[str]:
    """The words of the option that sets ``name`` to ``value``: ``["--margin", "0.5"]``, ``["--no-augment"]``."""
    flag = "--" + name.replace("_", "-")
    return (
        [flag if value else "--no-" + flag[2:]]
        if isinstance(value, bool)
        else [flag, str(value)]
    )


def _command(config: TrainConfig, out: Path, groups: int | None = None) -> str:
    """The command that trains this recipe: every setting that differs from the defaults and can act
    (``groups``: the training data's, see :func:`~siamese_tutorial.recipe.unused_settings`)."""
    defaults, unused = TrainConfig(), unused_settings(config, groups)
    words = ["python", "-m", "siamese_tutorial", "train"]
    for name, value in config.recipe().items():
        if value != getattr(defaults, name) and name not in unused:
            words += _flag(name, value)
    return shlex.join(words + ["--out", str(out)])


def _refuse_unused(
    config: TrainConfig, given: dict[str, Any], groups: int | None = None
) -> None:
    """Refuse the options given that cannot act (the card would record them as if they had)."""
    unused = {
        name: why
        for name, why in unused_settings(config, groups).items()
        if name in given
    }
    if unused:
        raise ValueError(
            "; ".join(
                f"{shlex.join(_flag(name, given[name]))} cannot act: {why}"
                for name, why in unused.items()
            )
            + "; leave it out."
        )


def _identity(path: Path) -> tuple[int, int, int] | None:
    """What tells a file from the file that replaced it (an atomic write makes a new one), or None if missing."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


class _OldCardGoes(Callback):
    """``train --overwrite``: the old card goes once a checkpoint of the new training has replaced the old one.

    Not before: a new checkpoint that cannot be written (a full disk) leaves the old checkpoint with its
    card; and never after: no old card stays beside new weights."""

    def __init__(self, out: Path, card: Path) -> None:
        self.out, self.card, self.old = out, card, _identity(out)

    def check(self, trainer: Any = None) -> None:
        if self.old is not None and _identity(self.out) != self.old:
            self.card.unlink(missing_ok=True)
            self.old = None

    on_step_end = on_interrupt = on_train_end = check


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _stops_as_ctrl_c() -> Iterator[None]:
    """SIGTERM (a scheduler's or ``kill``'s "stop") and SIGINT (also in a background job, where the shell ignores
    it) stop a command as Ctrl-C does: a training saves its state, a lock is let go, nothing is half-written.
    The handlers that were there are back afterwards (main() may run inside a notebook)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {
        signum: signal.getsignal(signum)
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def _settings_to_train(
    args: argparse.Namespace, out: Path, card: Path, given: dict[str, Any]
) -> dict[str, Any]:
    """The settings a ``train`` starts from: a resumed checkpoint's, else those given; refusing to
    replace what is not a checkpoint, or a checkpoint or card without ``--overwrite``."""
    settings = given
    if args.resume:
        if not out.is_file():
            raise FileNotFoundError(
                f"--resume: there is no checkpoint at {out} to continue; train without --resume."
            )
        settings = {**read_checkpoint(out)["config"], **given}
    elif out.exists():
        try:
            read_checkpoint(out)
        except (
            ValueError
        ):  # a gallery, a picture: never replaced by a training
            raise ValueError(
                f"{out} exists and is not a checkpoint (a gallery? another file?): --overwrite replaces "
                f"checkpoints only; choose another --out."
            ) from None
        if not args.overwrite:
            raise ValueError(
                f"{out} exists: continue it with --resume, replace it with --overwrite, "
                f"or choose another --out."
            )
    elif card.exists() and not args.overwrite:
        # its card would replace that file at the end
        raise ValueError(
            f"{card} exists, where the card of {out} goes: move it, replace it with --overwrite, or "
            f"choose another --out."
        )
    return settings


def _validation_of(
    config: TrainConfig, validation_set: LabelledImages
) -> Validation:
    """The validation a ``train`` keeps its step by, saying when it has fewer ways than usual."""
    validation = Validation(
        validation_set, episodes=config.validation_episodes
    )
    if validation.n_way < Validation.n_way:
        print(
            f"note: validation episodes are {validation.n_way}-way, not {Validation.n_way}-way: the "
            f"{validation_set.num_classes} held-out classes allow no more (add classes, or raise "
            f"--validation-fraction)",
            flush=True,
        )
    return validation
