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
import os
import shlex
import sys
import warnings
from pathlib import Path
from typing import Any

from . import cli_parser, gallery_cli
from .checks import check_identifier, check_shifts, printable
from .cli_checks import (
    _card_to_export,
    _check_report_target,
    _check_scores_runs,
    _runs_report,
)
from .cli_train import (
    _command,
    _explicit_settings,
    _OldCardGoes,
    _refuse_unused,
    _settings_to_train,
    _stops_as_ctrl_c,
    _validation_of,
)
from .evaluation import one_shot_accuracy
from .files import (
    check_writable_file,
    file_lock,
    sha256_file,
    write_json,
    write_together,
)
from .models import encoder_of
from .omniglot import (
    SPLITS,
    OmniglotDataError,
    download,
    load_one_shot_runs,
    prepare,
)
from .pretrained import PRETRAINED_DIR, load_model
from .recipe import (
    TrainConfig,
    Validation,
    card_path,
    fit_batch,
    held_out_classes,
    load_training_data,
    make_card,
    train_encoder,
)
from .training import (
    load_checkpoint,
    resolve_device,
    save_checkpoint,
)

__all__ = ["build_parser", "main"]


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
    given = _explicit_settings(args)
    # a small folder: fewer classes per batch, said
    adapt_p = "p" not in given and not args.resume
    settings = _settings_to_train(args, out, card, given)
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
    validation = _validation_of(config, validation_set)
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
    card = _card_to_export(args.checkpoint)
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
    _ship(target, model, checkpoint, card, args.overwrite)
    print(result.summary(per_run=True))
    print(f"shipped as {name}: {printable(target)}")
    return 0


# ----------------------------------------------------------------------------------------------
# the parser
# ----------------------------------------------------------------------------------------------


def _ship(
    target: Path,
    model: Any,
    checkpoint: dict[str, Any],
    card: dict[str, Any],
    overwrite: bool,
) -> None:
    """Write an exported encoder and its card: both or neither, one export at a time."""

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
            target, overwrite
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


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (:mod:`siamese_tutorial.cli_parser`), with its commands."""
    return cli_parser.build_parser(
        __doc__,
        {
            "download": _download,
            "train": _train,
            "evaluate": _evaluate,
            "export": _export,
            "enrol": gallery_cli.enrol,
            "identify": gallery_cli.identify,
            "verify": gallery_cli.verify,
        },
    )


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
