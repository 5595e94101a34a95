"""Command line: download Omniglot, train an encoder, evaluate it, ship it; enrol, identify, verify.

    python -m siamese_tutorial download
    python -m siamese_tutorial train --steps 3000 --out runs/triplet.pt
    python -m siamese_tutorial train --resume --out runs/triplet.pt     # continue a stopped training
    python -m siamese_tutorial evaluate runs/triplet.pt --validation
    python -m siamese_tutorial evaluate triplet --runs --shifts 3        # a shipped encoder
    python -m siamese_tutorial export runs/triplet.pt --name mine --to my_encoders/
    python -m siamese_tutorial train --data my_pictures/ --image-size 64 --out runs/mine.pt
    python -m siamese_tutorial enrol gallery.pt alice alice1.png alice2.png --model runs/mine.pt
    python -m siamese_tutorial enrol gallery.pt --folder my_people/       # each sub-folder a class
    python -m siamese_tutorial identify gallery.pt someone.png           # or a folder of pictures
    python -m siamese_tutorial verify gallery.pt alice someone.png

Training never looks at the 20 test runs: the step to keep is chosen on validation episodes drawn
from the 10 evaluation alphabets no run uses. ``evaluate --runs`` is for the final figure.
Every mistake a user can make ends with one line that says what was wrong, and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import sys
import threading
import typing
import warnings
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any, NoReturn

from . import __version__, gallery_cli
from .checks import check_identifier, check_shifts, printable
from .data import INK_POLARITIES
from .evaluation import one_shot_accuracy
from .files import (
    check_writable_file,
    file_lock,
    read_json,
    sha256_file,
    write_json,
    write_together,
)
from .models import encoder_of
from .omniglot import (
    SPLITS,
    OmniglotDataError,
    default_data_dir,
    download,
    load_one_shot_runs,
    prepare,
)
from .pretrained import PRETRAINED_DIR, load_model, read_card
from .recipe import (
    TrainConfig,
    Validation,
    card_path,
    fit_batch,
    held_out_classes,
    load_training_data,
    make_card,
    train_encoder,
    unused_settings,
)
from .training import (
    Callback,
    load_checkpoint,
    read_checkpoint,
    resolve_device,
    save_checkpoint,
)

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (and no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(
            2, f"error: {printable(message)} (see: {self.prog} --help)\n"
        )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _int_or_none(text: str) -> int | None:
    return None if text.lower() in ("none", "0") else int(text)


# ----------------------------------------------------------------------------------------------
# download
# ----------------------------------------------------------------------------------------------


def _download(args: argparse.Namespace) -> int:
    unknown = sorted(set(args.splits) - set(SPLITS))
    if unknown:
        raise ValueError(
            f"unknown split(s) {unknown}; choose from {sorted(SPLITS)}."
        )
    for split in args.splits or list(SPLITS):
        path = download(split, args.data_dir, force=args.force)
        print(
            f"{split}: {printable(path)} ({prepare(split, args.data_dir)} images decoded into the cache)",
            flush=True,
        )
    return 0


# ----------------------------------------------------------------------------------------------
# train
# ----------------------------------------------------------------------------------------------


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field, from its type and help: each setting is declared once."""
    types, defaults = TrainConfig.field_types(), TrainConfig()
    for f in fields(TrainConfig):
        flag, kind = "--" + f.name.replace("_", "-"), types[f.name]
        shown = getattr(defaults, f.name)
        help_text = f"{f.metadata['help']} (default: {'none' if shown is None else shown})"
        options: dict[str, Any] = {
            "dest": f.name,
            "default": argparse.SUPPRESS,
            "help": help_text,
        }
        if kind is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, **options
            )
            continue
        if int in typing.get_args(kind):  # int | None
            options["type"], options["metavar"] = _int_or_none, "N|none"
        else:
            options["type"] = {int: int, float: float}.get(kind, str)
        if "choices" in f.metadata:
            options["choices"] = f.metadata["choices"]
        parser.add_argument(flag, **options)


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


def _train(args: argparse.Namespace) -> int:
    out: Path = args.out
    card = card_path(
        out
    )  # refuses names that do not end in .pt: the card must never overwrite the weights
    check_writable_file(out, "--out")
    # Held for the whole training: a second `train --out` of the same file is refused, never both "saved".
    with file_lock(out, "--out", wait=False):
        return _train_into(args, out, card)


def _train_into(args: argparse.Namespace, out: Path, card: Path) -> int:
    """``train``, while holding the lock of ``out``."""
    given = settings = _explicit_settings(args)
    adapt_p = (
        "p" not in given and not args.resume
    )  # a small folder: fewer classes per batch, said
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
    elif (
        card.exists() and not args.overwrite
    ):  # its card would replace that file at the end
        raise ValueError(
            f"{card} exists, where the card of {out} goes: move it, replace it with --overwrite, or "
            f"choose another --out."
        )
    config = TrainConfig.from_dict(settings)
    _refuse_unused(config, given)
    resolve_device(config.device)
    train_set, validation_set, record = load_training_data(
        config, args.data_dir, check_batch=False
    )
    _refuse_unused(config, given, record["groups"])
    config, note = fit_batch(
        config, train_set, validation_set.num_classes, adapt=adapt_p
    )
    command = _command(config, out, record["groups"])
    print("command:", printable(command), flush=True)
    if note is not None:
        print(printable(note), flush=True)
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
    old_card = _OldCardGoes(out, card) if args.overwrite else None
    try:
        _, history = train_encoder(
            config,
            train_set,
            validation,
            out,
            resume=args.resume,
            progress=not args.quiet,
            callbacks=[old_card] if old_card else [],
        )
    except KeyboardInterrupt:
        print(
            printable(
                f"interrupted; the checkpoint {out} holds the last step: continue with "
                f"python -m siamese_tutorial train --resume --out {shlex.quote(str(out))}"
            ),
            file=sys.stderr,
        )
        raise
    finally:
        if old_card is not None:
            old_card.check()  # also when a step's checkpoint was written and then something failed
    write_json(
        card, make_card(command, config, out, history, validation, record)
    )
    step, score = history.best_validation
    print(
        f"trained {history.step[-1]} steps in {history.seconds[-1] / 60:.1f} min; kept step {step} "
        f"(validation accuracy {score:.4f}: {validation.describe()}); saved {printable(out)} and {printable(card)}"
    )
    return 0


# ----------------------------------------------------------------------------------------------
# evaluate and export
# ----------------------------------------------------------------------------------------------


def _runs_report(result) -> dict[str, Any]:
    return {
        "accuracy": result.accuracy,
        "correct": result.correct,
        "total": result.total,
        "ci95": list(result.confidence_interval),
        "per_run": dict(zip(result.run_names, result.run_accuracies)),
    }


def _validation_report(
    model,
    image_size: int,
    episodes: int,
    shifts: int,
    data_dir: Path | None,
    card: dict[str, Any],
) -> dict[str, Any]:
    """Validation episodes of the classes the model was validated on: Omniglot's 10 alphabets, or its folder's."""
    dataset, source = held_out_classes(card, image_size, data_dir)
    # a folder does not say who drew each picture: its episodes are random
    styles = (
        ("runs", "random")
        if card["config"].get("data") is None
        else ("random",)
    )
    report = {}
    for style in styles:
        validation = Validation(
            dataset, episodes=episodes, style=style, shifts=shifts
        )
        result = validation.result(model)
        print(
            f"validation on {printable(source)}, {validation.describe()}:\n{result.summary(per_run=False)}"
        )
        report[style] = {
            "accuracy": result.accuracy,
            "ci95": list(result.confidence_interval),
            "task": validation.describe(),
        }
    return report


def _check_report_target(path: Path) -> None:
    """``--json`` replaces an earlier report of ``evaluate``, never another file (a model's card, a picture)."""
    if not path.exists():
        return
    try:
        content = read_json(path, "a report of evaluate")
    except ValueError:
        content = None
    if not (
        isinstance(content, dict)
        and {"model", "shifts"} <= content.keys()
        and "checkpoint_sha256" not in content
    ):
        raise ValueError(
            f"--json {path} exists and is not a report of evaluate (a card? another file?): it would be "
            f"replaced; choose another --json."
        )


def _check_scores_runs(model: Any, name: str, then: str = "") -> None:
    """Refuse, before any work, a model the 20 runs cannot score: they are black-and-white (one channel)."""
    channels = getattr(encoder_of(model), "in_channels", 1)
    if channels != 1:
        raise ValueError(
            f"{name} reads colour pictures ({channels} channels: trained with --no-grayscale); the 20 "
            f"official runs are Omniglot's black-and-white characters and cannot score it{then}."
        )


def _evaluate(args: argparse.Namespace) -> int:
    if not (args.runs or args.validation):
        raise ValueError(
            "say what to evaluate on: --runs (the 20 official runs), --validation, or both."
        )
    if args.json is not None:
        check_writable_file(args.json, "--json")
        _check_report_target(args.json)
    model, image_size, card = load_model(args.model)
    check_shifts(args.shifts, image_size, "--shifts")
    if args.runs:
        _check_scores_runs(model, args.model, ": leave out --runs")
    report: dict[str, Any] = {"model": args.model, "shifts": args.shifts}
    if args.validation:
        report["validation"] = _validation_report(
            model, image_size, args.episodes, args.shifts, args.data_dir, card
        )
    if args.runs:
        result = one_shot_accuracy(
            model,
            load_one_shot_runs(image_size, args.data_dir),
            shifts=args.shifts,
        )
        if card["config"].get("data") is not None:
            print(
                f"note: {printable(args.model)} was trained on {printable(card['config']['data'])}, not on "
                f"Omniglot; the runs are Omniglot's characters"
            )
        print(
            "the 20 official runs of 20-way within-alphabet one-shot classification (Lake et al. 2015)"
        )
        print(result.summary(per_run=True))
        report["runs"] = _runs_report(result)
    if args.json is not None:
        write_json(args.json, report)
    return 0


def _in_source_checkout() -> bool:
    return (PRETRAINED_DIR.parent.parent / "pyproject.toml").is_file()


def _check_export_target(target: Path, overwrite: bool) -> None:
    """Refuse to replace an exported encoder (or a shipped one) unless ``--overwrite`` says so."""
    there = [path for path in (target, card_path(target)) if path.exists()]
    if there and not overwrite:
        what = (
            "a shipped encoder"
            if target.parent.resolve() == PRETRAINED_DIR.resolve()
            else "an encoder"
        )
        raise ValueError(
            f"{there[0]} exists ({what} named {target.stem}): replace it with --overwrite, or choose "
            f"another --name."
        )


def _export(args: argparse.Namespace) -> int:
    """Score a finished checkpoint once on the 20 runs, and write it with its card into a folder."""
    name = check_identifier(args.name, "--name")
    if args.to is None and not _in_source_checkout():
        raise ValueError(
            "give --to FOLDER: the package's own weights folder is written only from a source checkout."
        )
    folder = args.to if args.to is not None else PRETRAINED_DIR
    card_file = card_path(args.checkpoint)
    if not card_file.is_file():
        raise FileNotFoundError(
            f"{card_file} is missing: export a checkpoint whose training finished "
            f"(`train` writes the card at the end; continue a stopped one with --resume)."
        )
    card = read_card(card_file)
    if (
        not isinstance(card.get("validation"), dict)
        or "episodes" not in card["validation"]
    ):
        raise ValueError(
            f"{card_file} records no validation; export a checkpoint trained by `train`."
        )
    if card["checkpoint_sha256"] != sha256_file(args.checkpoint):
        raise ValueError(
            f"{card_file} does not belong to {args.checkpoint} (the SHA-256 it records differs): the "
            f"checkpoint was replaced after the card was written. Finish its training, or train again."
        )
    target = Path(folder) / f"{name}.pt"
    check_writable_file(target, "--to")  # before scoring, not after
    _check_export_target(target, args.overwrite)
    model, checkpoint = load_checkpoint(args.checkpoint)
    model = encoder_of(
        model
    )  # a softmax classifier ships its encoder: load_pretrained gives embeddings
    image_size = model.image_size
    check_shifts(args.shifts, image_size, "--shifts")
    _check_scores_runs(
        model,
        str(args.checkpoint),
        ", and export records that score: use the checkpoint itself "
        "(enrol GALLERY ... --model CHECKPOINT)",
    )
    card["validation"]["shifts"] = args.shifts
    card["validation"]["with_shifts"] = _validation_report(
        model,
        image_size,
        card["validation"]["episodes"],
        args.shifts,
        args.data_dir,
        card,
    )
    result = one_shot_accuracy(
        model,
        load_one_shot_runs(image_size, args.data_dir),
        shifts=args.shifts,
    )
    card["runs"] = {**_runs_report(result), "shifts": args.shifts}

    def write_weights(temporary: Path) -> None:
        save_checkpoint(
            temporary,
            model,
            checkpoint["config"],
            checkpoint["history"],
            checkpoint["selected"],
            steps_trained=checkpoint["steps_trained"],
            complete=True,
        )  # without the training state
        card["checkpoint_sha256"] = sha256_file(temporary)

    # Both or neither: weights without their card (a full disk) would be neither shipped nor replaceable cleanly;
    # and one export at a time, so that two exports under one name never leave one's weights with the other's card.
    with file_lock(target, "the export"):
        _check_export_target(
            target, args.overwrite
        )  # again: another export may have written it meanwhile
        write_together(
            [
                (target, write_weights),
                (
                    card_path(target),
                    lambda temporary: write_json(temporary, card),
                ),
            ]
        )
    print(result.summary(per_run=True))
    print(f"shipped as {name}: {printable(target)}")
    return 0


# ----------------------------------------------------------------------------------------------
# the parser
# ----------------------------------------------------------------------------------------------

SHIFTS_HELP = "test-time augmentation: average the embedding over shifts by this many pixels (0: none)"
INK = {
    "choices": INK_POLARITIES,
    "default": None,
    "help": "how the pictures are drawn: dark ink on light paper, light ink on dark paper, or auto (each "
    "picture's border says); default: as the model reads them, with a warning for pictures drawn the "
    "other way",
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m siamese_tutorial",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"siamese_tutorial {__version__}",
    )
    data_dir = {
        "type": Path,
        "help": f"where Omniglot is (default: {default_data_dir()})",
    }
    parser.add_argument("--data-dir", default=None, **data_dir)
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser
    )

    def command(name: str, run, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--data-dir", default=argparse.SUPPRESS, **data_dir
        )  # also after the sub-command
        sub.set_defaults(run=run)
        return sub

    get = command(
        "download",
        _download,
        "download the Omniglot files that are missing (md5-checked), and decode them",
    )
    get.add_argument(
        "splits",
        nargs="*",
        metavar="SPLIT",
        help=f"which files (default: all of {', '.join(SPLITS)})",
    )
    get.add_argument(
        "--force",
        action="store_true",
        help="download again even if the file is there",
    )

    train = command(
        "train",
        _train,
        "train a ConvEncoder, on Omniglot's background set or a folder of pictures (--data)",
    )
    _add_config_options(train)
    train.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the checkpoint to write (NAME.pt; the card goes to NAME.json)",
    )
    again = train.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        action="store_true",
        help="continue the training saved in --out",
    )
    again.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out with a new training",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    evaluate = command(
        "evaluate",
        _evaluate,
        "one-shot accuracy of a checkpoint or a shipped encoder",
    )
    evaluate.add_argument(
        "model",
        help="a checkpoint file, or the name of a shipped pretrained encoder",
    )
    evaluate.add_argument(
        "--runs",
        action="store_true",
        help="the 20 official runs (the test: use once)",
    )
    evaluate.add_argument(
        "--validation",
        action="store_true",
        help="episodes of the validation alphabets, built like the runs and at random",
    )
    evaluate.add_argument(
        "--episodes",
        type=_positive_int,
        default=200,
        help="validation episodes (default: 200)",
    )
    evaluate.add_argument(
        "--shifts", type=_non_negative_int, default=0, help=SHIFTS_HELP
    )
    evaluate.add_argument(
        "--json",
        type=Path,
        default=None,
        help="also write the results to this file",
    )

    export = command(
        "export",
        _export,
        "score a finished checkpoint once on the 20 runs and ship it with its card",
    )
    export.add_argument(
        "checkpoint",
        type=Path,
        help="a checkpoint written by `train` (its .json card beside it)",
    )
    export.add_argument(
        "--name",
        required=True,
        help="the name load_pretrained() will know it by (letters, digits, _ and -)",
    )
    export.add_argument(
        "--to",
        type=Path,
        default=None,
        help="the folder to write it to (default: the package's weights, from a source checkout only)",
    )
    export.add_argument(
        "--shifts", type=_non_negative_int, default=0, help=SHIFTS_HELP
    )
    export.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an encoder of that name in the folder",
    )

    enrol = command(
        "enrol",
        gallery_cli.enrol,
        "enrol a class from its pictures, or a folder of classes (--folder), "
        "into a gallery file (created if missing)",
    )
    enrol.add_argument(
        "gallery", type=Path, help="the gallery file (e.g. gallery.pt)"
    )
    enrol.add_argument(
        "name", nargs="?", help="the name to enrol the pictures under"
    )
    enrol.add_argument(
        "pictures",
        nargs="*",
        help="one or more pictures of that class (or folders of them)",
    )
    enrol.add_argument(
        "--folder",
        type=Path,
        default=None,
        help="enrol each sub-folder of this folder as a class named after it, from its pictures "
        "(instead of NAME PICTURE...)",
    )
    enrol.add_argument("--ink", **INK)
    enrol.add_argument(
        "--model",
        default=None,
        help="a checkpoint or a shipped encoder's name (to create the gallery; kept in it)",
    )
    enrol.add_argument(
        "--calibrate",
        type=Path,
        default=None,
        help="a folder of classes the model never saw, to choose the threshold on (default: the "
        "classes the model was validated on)",
    )
    enrol.add_argument(
        "--expected-size",
        type=_positive_int,
        default=None,
        help=f"about how many classes the gallery will hold (the threshold depends on it; default "
        f"{gallery_cli.EXPECTED_SIZE}; only when the gallery is created)",
    )
    enrol.add_argument(
        "--shifts",
        type=_non_negative_int,
        default=None,
        help=SHIFTS_HELP
        + " (default: the shipped encoder's own; only when the gallery is created)",
    )

    identify = command(
        "identify",
        gallery_cli.identify,
        "name each picture with its nearest enrolled class, or 'unknown'",
    )
    identify.add_argument(
        "gallery", type=Path, help="a gallery file made by `enrol`"
    )
    identify.add_argument(
        "pictures",
        nargs="+",
        help="the pictures to identify, or folders of them",
    )
    identify.add_argument("--ink", **INK)

    verify = command(
        "verify",
        gallery_cli.verify,
        "say whether each picture is of an enrolled class",
    )
    verify.add_argument(
        "gallery", type=Path, help="a gallery file made by `enrol`"
    )
    verify.add_argument(
        "name", help="the enrolled class to check the pictures against"
    )
    verify.add_argument(
        "pictures", nargs="+", help="the pictures to check, or folders of them"
    )
    verify.add_argument("--ink", **INK)
    return parser


def _show_warning(
    message: Warning | str,
    category: type,
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """A warning on the command line: ``warning: ...`` on one line of stderr, not Python's ``file.py:454:
    UserWarning:`` and a line of the package's source."""
    print(f"warning: {printable(message)}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 done, 2 a mistake or a missing file, 130 Ctrl-C, 141
    when the output's reader went away, as a program stopped by SIGPIPE).

    A mistake is one line on stderr, ``error: ...``, and a warning ``warning: ...``; names and paths in
    them are :func:`~siamese_tutorial.checks.printable`, so that neither breaks into more lines."""
    with (
        warnings.catch_warnings(),
        _stops_as_ctrl_c(),
    ):  # the caller's ways are back once the command is done
        warnings.showwarning = _show_warning
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as stop:  # --help, --version, or an argument error already printed on one line
            return int(stop.code or 0)
        try:
            return args.run(args)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:  # the reader of the output has gone (`identify g.pt pictures/ | head`): no error
            os.dup2(
                os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno()
            )  # nothing more to flush at exit
            return 141  # 128 + SIGPIPE, as a program the signal stopped
        except (
            OmniglotDataError,
            ValueError,
            FileNotFoundError,
            FloatingPointError,
            OSError,
        ) as error:
            print(f"error: {printable(error)}", file=sys.stderr)
            return 2
