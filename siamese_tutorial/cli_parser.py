"""The command line's parser: its commands and their options, each setting of the recipe once."""

from __future__ import annotations

import argparse
import typing
from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .checks import printable
from .config import TrainConfig
from .gallery_cli import EXPECTED_SIZE
from .omniglot import SPLITS, default_data_dir
from .pictures import INK_POLARITIES

__all__ = ["build_parser"]


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


SHIFTS_HELP = "test-time augmentation: average the embedding over shifts by this many pixels (0: none)"
INK = {
    "choices": INK_POLARITIES,
    "default": None,
    "help": "how the pictures are drawn: dark ink on light paper, light ink on dark paper, or auto (each "
    "picture's border says); default: as the model reads them, with a warning for pictures drawn the "
    "other way",
}


def build_parser(
    description: str, run: Mapping[str, Callable[[argparse.Namespace], int]]
) -> argparse.ArgumentParser:
    """The command line's parser; ``run[command]`` runs each command's arguments."""
    parser = _Parser(
        prog="python -m siamese_tutorial",
        description=description,
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

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--data-dir", default=argparse.SUPPRESS, **data_dir
        )  # also after the sub-command
        sub.set_defaults(run=run[name])
        return sub

    _add_download(command)
    _add_train(command)
    _add_evaluate(command)
    _add_export(command)
    _add_enrol(command)
    _add_identify(command)
    _add_verify(command)
    return parser


def _add_download(command: Callable[..., argparse.ArgumentParser]) -> None:
    get = command(
        "download",
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


def _add_train(command: Callable[..., argparse.ArgumentParser]) -> None:
    train = command(
        "train",
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


def _add_evaluate(command: Callable[..., argparse.ArgumentParser]) -> None:
    evaluate = command(
        "evaluate",
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


def _add_export(command: Callable[..., argparse.ArgumentParser]) -> None:
    export = command(
        "export",
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


def _add_enrol(command: Callable[..., argparse.ArgumentParser]) -> None:
    enrol = command(
        "enrol",
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
        f"{EXPECTED_SIZE}; only when the gallery is created)",
    )
    enrol.add_argument(
        "--shifts",
        type=_non_negative_int,
        default=None,
        help=SHIFTS_HELP
        + " (default: the shipped encoder's own; only when the gallery is created)",
    )


def _add_identify(command: Callable[..., argparse.ArgumentParser]) -> None:
    identify = command(
        "identify",
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


def _add_verify(command: Callable[..., argparse.ArgumentParser]) -> None:
    verify = command(
        "verify",
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
