"""Command line: download Omniglot, train an encoder, evaluate it, ship it; enrol, identify, verify.

    python -m siamese_tutorial download
    python -m siamese_tutorial train --steps 3000 --out runs/triplet.pt
    python -m siamese_tutorial train --resume --out runs/triplet.pt     # continue a stopped training
    python -m siamese_tutorial evaluate runs/triplet.pt --validation
    python -m siamese_tutorial evaluate triplet --runs --shifts 3        # a shipped encoder
    python -m siamese_tutorial export runs/triplet.pt --name mine --to my_encoders/
    python -m siamese_tutorial train --data my_pictures/ --image-size 64 --out runs/mine.pt
    python -m siamese_tutorial enrol gallery.pt alice alice1.png alice2.png --model runs/mine.pt
    python -m siamese_tutorial identify gallery.pt someone.png
    python -m siamese_tutorial verify gallery.pt alice someone.png

Training never looks at the 20 test runs: the step to keep is chosen on validation episodes drawn
from the 10 evaluation alphabets no run uses. ``evaluate --runs`` is for the final figure.
Every mistake a user can make ends with one line that says what was wrong, and exit status 2.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any, NoReturn

import torch

from . import __version__
from .checks import check_identifier
from .data import INK_POLARITIES, load_image_folder, load_images
from .gallery import UNKNOWN, Gallery, calibrate_open_set
from .evaluation import one_shot_accuracy
from .files import absolute, check_writable_file, file_lock, sha256_file, write_json, write_together
from .models import encoder_of
from .omniglot import (
    SPLITS,
    OmniglotDataError,
    default_data_dir,
    download,
    load_one_shot_runs,
    load_validation_set,
    prepare,
)
from .pretrained import PRETRAINED_DIR, available_pretrained, load_pretrained, read_card
from .recipe import (
    TrainConfig,
    Validation,
    card_path,
    fit_batch,
    load_training_data,
    make_card,
    reading,
    train_encoder,
)
from .training import load_checkpoint, read_checkpoint, resolve_device, save_checkpoint

__all__ = ["build_parser", "main"]

class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (and no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


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
        raise ValueError(f"unknown split(s) {unknown}; choose from {sorted(SPLITS)}.")
    for split in args.splits or list(SPLITS):
        path = download(split, args.data_dir, force=args.force)
        print(f"{split}: {path} ({prepare(split, args.data_dir)} images decoded into the cache)", flush=True)
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
        options: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **options)
            continue
        if int in typing.get_args(kind):  # int | None
            options["type"], options["metavar"] = _int_or_none, "N|none"
        else:
            options["type"] = {int: int, float: float}.get(kind, str)
        if "choices" in f.metadata:
            options["choices"] = f.metadata["choices"]
        parser.add_argument(flag, **options)


def _explicit_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}


def _command(config: TrainConfig, out: Path) -> str:
    """The command that trains this recipe: every setting that differs from the defaults."""
    defaults = TrainConfig()
    words = ["python", "-m", "siamese_tutorial", "train"]
    for name, value in config.recipe().items():
        if value != getattr(defaults, name):
            flag = "--" + name.replace("_", "-")
            words += [flag if value else "--no-" + flag[2:]] if isinstance(value, bool) else [flag, str(value)]
    return shlex.join(words + ["--out", str(out)])


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _train(args: argparse.Namespace) -> int:
    out: Path = args.out
    card = card_path(out)  # refuses names that do not end in .pt: the card must never overwrite the weights
    check_writable_file(out, "--out")
    # Held for the whole training: a second `train --out` of the same file is refused, never both "saved".
    with file_lock(out, "--out", wait=False):
        return _train_into(args, out, card)


def _train_into(args: argparse.Namespace, out: Path, card: Path) -> int:
    """``train``, while holding the lock of ``out``."""
    settings = _explicit_settings(args)
    adapt_p = "p" not in settings and not args.resume  # a small folder: fewer classes per batch, said
    if args.resume:
        if not out.is_file():
            raise FileNotFoundError(f"--resume: there is no checkpoint at {out} to continue; train without --resume.")
        settings = {**read_checkpoint(out)["config"], **settings}
    elif out.exists() and not args.overwrite:
        raise ValueError(f"{out} exists: continue it with --resume, replace it with --overwrite, "
                         f"or choose another --out.")
    config = TrainConfig.from_dict(settings)
    resolve_device(config.device)
    if args.overwrite and not args.resume:
        card.unlink(missing_ok=True)  # an old card must never sit beside new weights
    train_set, validation_set, record = load_training_data(config, args.data_dir, check_batch=False)
    config, note = fit_batch(config, train_set, validation_set.num_classes, adapt=adapt_p)
    print("command:", _command(config, out), flush=True)
    if note is not None:
        print(note, flush=True)
    validation = Validation(validation_set, episodes=config.validation_episodes)
    if validation.n_way < Validation.n_way:
        print(f"note: validation episodes are {validation.n_way}-way, not {Validation.n_way}-way: the "
              f"{validation_set.num_classes} held-out classes allow no more (add classes, or raise "
              f"--validation-fraction)", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)  # a scheduler's "stop" saves the state, as Ctrl-C does
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background
    try:
        _, history = train_encoder(config, train_set, validation, out, resume=args.resume, progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"interrupted; the checkpoint {out} holds the last step: continue with "
              f"python -m siamese_tutorial train --resume --out {out}", file=sys.stderr)
        raise
    write_json(card, make_card(_command(config, out), config, out, history, validation, record))
    step, score = history.best_validation
    print(f"trained {history.step[-1]} steps in {history.seconds[-1] / 60:.1f} min; kept step {step} "
          f"(validation accuracy {score:.4f}: {validation.describe()}); saved {out} and {card}")
    return 0


# ----------------------------------------------------------------------------------------------
# evaluate and export
# ----------------------------------------------------------------------------------------------


def _load_model(name_or_path: str):
    """A checkpoint file or a shipped encoder's name -> (model, its image size, its card or None)."""
    path = Path(name_or_path)
    if path.is_file():
        model, checkpoint = load_checkpoint(path)
        card = read_card(card_path(path)) if path.suffix == ".pt" and card_path(path).is_file() else None
        card = card or {"config": checkpoint["config"]}
    elif name_or_path in available_pretrained():
        model, card = load_pretrained(name_or_path), available_pretrained()[name_or_path]
    else:
        raise ValueError(f"{name_or_path!r} is neither a checkpoint file nor a shipped pretrained encoder "
                         f"({', '.join(available_pretrained()) or 'none'}).")
    size = getattr(encoder_of(model), "image_size", None)
    if size is None:
        raise ValueError(f"{name_or_path} is not an image encoder (it has no image_size): it cannot compare pictures.")
    return model, size, card


def _check_shifts(shifts: int, image_size: int) -> None:
    if shifts >= image_size:
        raise ValueError(f"--shifts {shifts} is not smaller than the {image_size}-pixel images; use 0 to {image_size - 1}.")


def _runs_report(result) -> dict[str, Any]:
    return {"accuracy": result.accuracy, "correct": result.correct, "total": result.total,
            "ci95": list(result.confidence_interval), "per_run": dict(zip(result.run_names, result.run_accuracies))}


def _validation_report(model, image_size: int, episodes: int, shifts: int, data_dir: Path | None,
                       card: dict[str, Any]) -> dict[str, Any]:
    """Validation episodes of the classes the model was validated on: Omniglot's 10 alphabets, or its folder's."""
    if card["config"].get("data") is None:
        dataset, source, styles = load_validation_set(image_size, data_dir), "Omniglot's 10 validation alphabets", \
            ("runs", "random")
    else:  # a model trained on a folder is scored on the classes it held out there, not on Omniglot
        dataset, source = _calibration_set(card, image_size, None, data_dir)
        styles = ("random",)  # a folder does not say who drew each picture
    report = {}
    for style in styles:
        validation = Validation(dataset, episodes=episodes, style=style, shifts=shifts)
        result = validation.result(model)
        print(f"validation on {source}, {validation.describe()}:\n{result.summary(per_run=False)}")
        report[style] = {"accuracy": result.accuracy, "ci95": list(result.confidence_interval), "task": validation.describe()}
    return report


def _evaluate(args: argparse.Namespace) -> int:
    if not (args.runs or args.validation):
        raise ValueError("say what to evaluate on: --runs (the 20 official runs), --validation, or both.")
    if args.json is not None:
        check_writable_file(args.json, "--json")
    model, image_size, card = _load_model(args.model)
    _check_shifts(args.shifts, image_size)
    report: dict[str, Any] = {"model": args.model, "shifts": args.shifts}
    if args.validation:
        report["validation"] = _validation_report(model, image_size, args.episodes, args.shifts, args.data_dir, card)
    if args.runs:
        result = one_shot_accuracy(model, load_one_shot_runs(image_size, args.data_dir), shifts=args.shifts)
        if card["config"].get("data") is not None:
            print(f"note: {args.model} was trained on {card['config']['data']}, not on Omniglot; the runs are "
                  f"Omniglot's characters")
        print("the 20 official runs of 20-way within-alphabet one-shot classification (Lake et al. 2015)")
        print(result.summary(per_run=True))
        report["runs"] = _runs_report(result)
    if args.json is not None:
        write_json(args.json, report)
    return 0


def _in_source_checkout() -> bool:
    return (PRETRAINED_DIR.parent.parent / "pyproject.toml").is_file()


def _export(args: argparse.Namespace) -> int:
    """Score a finished checkpoint once on the 20 runs, and write it with its card into a folder."""
    name = check_identifier(args.name, "--name")
    if args.to is None and not _in_source_checkout():
        raise ValueError("give --to FOLDER: the package's own weights folder is written only from a source checkout.")
    folder = args.to if args.to is not None else PRETRAINED_DIR
    card_file = card_path(args.checkpoint)
    if not card_file.is_file():
        raise FileNotFoundError(f"{card_file} is missing: export a checkpoint whose training finished "
                                f"(`train` writes the card at the end; continue a stopped one with --resume).")
    card = read_card(card_file)
    if not isinstance(card.get("validation"), dict) or "episodes" not in card["validation"]:
        raise ValueError(f"{card_file} records no validation; export a checkpoint trained by `train`.")
    if card["checkpoint_sha256"] != sha256_file(args.checkpoint):
        raise ValueError(f"{card_file} does not belong to {args.checkpoint} (the SHA-256 it records differs): the "
                         f"checkpoint was replaced after the card was written. Finish its training, or train again.")
    check_writable_file(Path(folder) / f"{name}.pt", "--to")  # before scoring, not after
    model, checkpoint = load_checkpoint(args.checkpoint)
    image_size = encoder_of(model).image_size
    _check_shifts(args.shifts, image_size)
    card["validation"]["shifts"] = args.shifts
    card["validation"]["with_shifts"] = _validation_report(model, image_size, card["validation"]["episodes"],
                                                           args.shifts, args.data_dir, card)
    result = one_shot_accuracy(model, load_one_shot_runs(image_size, args.data_dir), shifts=args.shifts)
    card["runs"] = {**_runs_report(result), "shifts": args.shifts}
    target = Path(folder) / f"{name}.pt"

    def write_weights(temporary: Path) -> None:
        save_checkpoint(temporary, model, checkpoint["config"], checkpoint["history"], checkpoint["selected"],
                        steps_trained=checkpoint["steps_trained"], complete=True)  # without the training state
        card["checkpoint_sha256"] = sha256_file(temporary)

    # Both or neither: weights without their card (a full disk) would be neither shipped nor replaceable cleanly;
    # and one export at a time, so that two exports under one name never leave one's weights with the other's card.
    with file_lock(target, "the export"):
        write_together([(target, write_weights), (card_path(target), lambda temporary: write_json(temporary, card))])
    print(result.summary(per_run=True))
    print(f"shipped as {name}: {target}")
    return 0


# ----------------------------------------------------------------------------------------------
# a gallery in a file: enrol, identify, verify
# ----------------------------------------------------------------------------------------------


def _calibration_set(card: dict[str, Any], image_size: int, folder: Path | None, data_dir: Path | None):
    """Held-out classes to choose the open-set threshold on: a folder given, else those the model was validated on."""
    settings = reading(card["config"])
    if folder is not None:
        return load_image_folder(folder, image_size, **settings), str(folder)
    if card["config"].get("data") is None:
        return load_validation_set(image_size, data_dir), "Omniglot's 10 validation alphabets"
    names = card.get("data", {}).get("validation_classes")
    if not names:
        raise ValueError("the model's card does not say which classes it held out; give --calibrate FOLDER, a folder "
                         "of classes the model was not trained on.")
    config = card["config"]
    # The folder as `train` recorded it, absolute (its config holds it as typed, maybe relative to another folder);
    # as typed if it has moved since.
    where = card.get("data", {}).get("folder")
    where = where if where is not None and Path(where).is_dir() else config["data"]
    everything = load_image_folder(where, image_size, settings["grayscale"], config["groups"],
                                   settings["invert"], settings.get("ink"))
    keep = torch.tensor([name in names for name in everything.class_names])
    return everything.select_classes(keep.nonzero().flatten()), f"{len(names)} held-out classes of {config['data']}"


def _model_key(name_or_path: str) -> str:
    """How a gallery records its model: a checkpoint's absolute path (it works from any folder), or a shipped name."""
    return str(absolute(name_or_path)) if Path(name_or_path).is_file() else name_or_path


def _open_gallery(args: argparse.Namespace) -> tuple[Gallery, int, dict[str, Any]]:
    """The gallery of ``args.gallery`` with its encoder, the encoder's image size and how to read pictures."""
    if args.gallery.is_dir():
        raise ValueError(f"{args.gallery} is a folder, not a gallery file; give the gallery's file, e.g. "
                         f"{args.gallery / 'gallery.pt'}.")
    if not args.gallery.is_file():
        raise FileNotFoundError(f"no gallery at {args.gallery}; create it with `enrol --model MODEL {args.gallery} ...`.")
    meta = Gallery.read_meta(args.gallery)
    if not isinstance(meta.get("model"), str) or not isinstance(meta.get("reading"), dict):
        raise ValueError(f"{args.gallery} does not say which model it belongs to (made with Gallery.save in Python?); "
                         f"use it with Gallery.load in Python, or make one with `enrol --model MODEL`.")
    model = meta["model"]
    if not Path(model).is_file() and model not in available_pretrained():
        raise FileNotFoundError(f"the model of {args.gallery}, {model}, is not there (moved, or a path relative to the "
                                f"folder the gallery was made in?); put it back, or enrol again with --model.")
    model, image_size, _ = _load_model(model)
    gallery = Gallery.load(args.gallery, model)
    if gallery.threshold is None:
        raise ValueError(f"{args.gallery} has no threshold (made with Gallery(...) in Python?); set one from "
                         f"calibrate_open_set, or enrol again with --model to make a calibrated gallery.")
    return gallery, image_size, meta["reading"]


def _with_ink(settings: dict[str, Any], ink: str | None) -> dict[str, Any]:
    """The model's reading of pictures, with the ink polarity the user chose (``--ink``), if any."""
    return settings if ink is None else {**settings, "ink": ink}


def _existing_gallery(args: argparse.Namespace) -> tuple[Gallery, int, dict[str, Any]]:
    """The gallery ``enrol`` adds to, refusing options that only a new gallery can apply (unless they agree with it)."""
    gallery, image_size, settings = _open_gallery(args)
    meta = Gallery.read_meta(args.gallery)
    if args.model is not None and _model_key(args.model) != _model_key(meta["model"]):
        raise ValueError(f"{args.gallery} belongs to the model {meta['model']}; enrol into another gallery file to "
                         f"use {args.model}.")
    calibration = meta.get("calibration", {})
    chosen = {
        "--shifts": (args.shifts, gallery.shifts),
        "--expected-size": (args.expected_size, calibration.get("expected_size", calibration.get("gallery_size"))),
        "--calibrate": (None if args.calibrate is None else str(absolute(args.calibrate)), calibration.get("folder")),
    }
    for option, (given, recorded) in chosen.items():
        if given is not None and given != recorded:
            made = recorded if recorded is not None else "(none)"
            raise ValueError(f"{args.gallery} exists, made with {option} {made}; {option} is applied when a gallery "
                             f"is created (its threshold depends on it): drop it to enrol into this gallery, or enrol "
                             f"into a new gallery file.")
    return gallery, image_size, settings


def _new_gallery(args: argparse.Namespace, said: list[str]) -> tuple[Gallery, int, dict[str, Any]]:
    """A gallery for ``args.model``, its threshold chosen on held-out classes; how, and what it could not do as
    asked, goes to ``said`` (printed once the gallery is written)."""
    if args.model is None:
        raise ValueError(f"{args.gallery} does not exist yet: give --model (a checkpoint or a shipped encoder) "
                         f"to create it.")
    model, image_size, card = _load_model(args.model)
    settings = reading(card["config"])
    shifts = card.get("runs", {}).get("shifts", 0) if args.shifts is None else args.shifts
    _check_shifts(shifts, image_size)
    held_out, source = _calibration_set(card, image_size, args.calibrate, args.data_dir)
    expected = EXPECTED_SIZE if args.expected_size is None else args.expected_size
    size = min(expected, held_out.num_classes - 1)
    if size < 1:
        raise ValueError(f"{source} has {held_out.num_classes} class(es): choosing a threshold needs 2 or more (one "
                         f"enrolled, one stranger); give --calibrate FOLDER with more classes the model never saw.")
    calibration = calibrate_open_set(model, held_out, gallery_size=size, shifts=shifts)
    gallery = Gallery(model, calibration.threshold, shifts, meta={
        "model": _model_key(args.model), "reading": settings,
        "calibration": {"on": source, "gallery_size": size, "expected_size": expected,
                        "folder": None if args.calibrate is None else str(absolute(args.calibrate)),
                        **calibration.rates}})
    rates = calibration.rates
    said.append(f"new gallery; threshold {calibration.threshold:.3f} chosen on {source} (galleries of {size}): "
                f"{rates['false_accept']:.1%} strangers accepted, {rates['false_reject']:.1%} enrolled rejected")
    if size < expected:
        said.append(f"note: the threshold is chosen for galleries of {size}, not of {expected} (--expected-size): "
                    f"there are only {held_out.num_classes} classes to choose it on ({source}); a larger gallery lets in "
                    f"more strangers than said above. Give --calibrate FOLDER with more than {expected} classes the "
                    f"model never saw.")
    if args.calibrate is None and card["config"].get("data") is None:
        said.append("note: these rates are for Omniglot's characters; for pictures of another kind, choose the "
                    "threshold on classes of that kind the model never saw: --calibrate FOLDER")
    return gallery, image_size, settings


def _enrol(args: argparse.Namespace) -> int:
    check_writable_file(args.gallery, "the gallery")
    # Read, enrol, write back while holding the gallery's lock: enrolments started together all land, in turn.
    with file_lock(args.gallery, "the gallery", on_wait=lambda message: print(message, file=sys.stderr, flush=True)):
        return _enrol_holding_lock(args)


def _enrol_holding_lock(args: argparse.Namespace) -> int:
    said: list[str] = []  # said once the gallery is written: a picture that fails makes no "new gallery"
    gallery, image_size, settings = _existing_gallery(args) if args.gallery.is_file() else _new_gallery(args, said)
    gallery.enrol(args.name, load_images(args.pictures, image_size, **_with_ink(settings, args.ink)))
    gallery.save(args.gallery)
    for line in said:
        print(line)
    print(f"enrolled {args.name!r} from {len(args.pictures)} picture(s); {args.gallery} holds {len(gallery)}: "
          f"{', '.join(gallery.names)}")
    return 0


def _identify(args: argparse.Namespace) -> int:
    gallery, image_size, settings = _open_gallery(args)
    names, distances = gallery.nearest(load_images(args.pictures, image_size, **_with_ink(settings, args.ink)))
    for picture, name, distance in zip(args.pictures, names, distances.tolist()):
        answer = name if distance <= gallery.threshold else UNKNOWN
        print(f"{picture}: {answer} (nearest {name!r} at {distance:.3f}; threshold {gallery.threshold:.3f})")
    return 0


def _verify(args: argparse.Namespace) -> int:
    gallery, image_size, settings = _open_gallery(args)
    pictures = load_images(args.pictures, image_size, **_with_ink(settings, args.ink))
    accepted = gallery.verify(pictures, args.name)
    distances = gallery.distances(pictures)[:, gallery.names.index(args.name)]
    for picture, ok, distance in zip(args.pictures, accepted.tolist(), distances.tolist()):
        print(f"{picture}: {'yes' if ok else 'no'}, {'is' if ok else 'is not'} {args.name!r} "
              f"(distance {distance:.3f}; threshold {gallery.threshold:.3f})")
    return 0


# ----------------------------------------------------------------------------------------------
# the parser
# ----------------------------------------------------------------------------------------------

EXPECTED_SIZE = 10
"""The gallery size a new gallery's threshold is chosen for when ``enrol --expected-size`` is not given."""
SHIFTS_HELP = "test-time augmentation: average the embedding over shifts by this many pixels (0: none)"
INK = {"choices": INK_POLARITIES, "default": None,
       "help": "how the pictures are drawn: dark ink on light paper, light ink on dark paper, or auto (each "
               "picture's border says); default: as the model reads them, with a warning for pictures drawn the "
               "other way"}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m siamese_tutorial", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"siamese_tutorial {__version__}")
    data_dir = {"type": Path, "help": f"where Omniglot is (default: {default_data_dir()})"}
    parser.add_argument("--data-dir", default=None, **data_dir)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, run, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--data-dir", default=argparse.SUPPRESS, **data_dir)  # also after the sub-command
        sub.set_defaults(run=run)
        return sub

    get = command("download", _download, "download the Omniglot files that are missing (md5-checked), and decode them")
    get.add_argument("splits", nargs="*", metavar="SPLIT", help=f"which files (default: all of {', '.join(SPLITS)})")
    get.add_argument("--force", action="store_true", help="download again even if the file is there")

    train = command("train", _train, "train a ConvEncoder, on Omniglot's background set or a folder of pictures (--data)")
    _add_config_options(train)
    train.add_argument("--out", type=Path, required=True, help="the checkpoint to write (NAME.pt; the card goes to NAME.json)")
    again = train.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the training saved in --out")
    again.add_argument("--overwrite", action="store_true", help="replace an existing --out with a new training")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    evaluate = command("evaluate", _evaluate, "one-shot accuracy of a checkpoint or a shipped encoder")
    evaluate.add_argument("model", help="a checkpoint file, or the name of a shipped pretrained encoder")
    evaluate.add_argument("--runs", action="store_true", help="the 20 official runs (the test: use once)")
    evaluate.add_argument("--validation", action="store_true",
                          help="episodes of the validation alphabets, built like the runs and at random")
    evaluate.add_argument("--episodes", type=_positive_int, default=200, help="validation episodes (default: 200)")
    evaluate.add_argument("--shifts", type=_non_negative_int, default=0, help=SHIFTS_HELP)
    evaluate.add_argument("--json", type=Path, default=None, help="also write the results to this file")

    export = command("export", _export, "score a finished checkpoint once on the 20 runs and ship it with its card")
    export.add_argument("checkpoint", type=Path, help="a checkpoint written by `train` (its .json card beside it)")
    export.add_argument("--name", required=True, help="the name load_pretrained() will know it by (letters, digits, _ and -)")
    export.add_argument("--to", type=Path, default=None,
                        help="the folder to write it to (default: the package's weights, from a source checkout only)")
    export.add_argument("--shifts", type=_non_negative_int, default=0, help=SHIFTS_HELP)

    enrol = command("enrol", _enrol, "enrol a class from its pictures into a gallery file (created if missing)")
    enrol.add_argument("gallery", type=Path, help="the gallery file (e.g. gallery.pt)")
    enrol.add_argument("name", help="the name to enrol the pictures under")
    enrol.add_argument("pictures", nargs="+", help="one or more pictures of that class")
    enrol.add_argument("--ink", **INK)
    enrol.add_argument("--model", default=None,
                       help="a checkpoint or a shipped encoder's name (to create the gallery; kept in it)")
    enrol.add_argument("--calibrate", type=Path, default=None,
                       help="a folder of classes the model never saw, to choose the threshold on (default: the "
                            "classes the model was validated on)")
    enrol.add_argument("--expected-size", type=_positive_int, default=None,
                       help=f"about how many classes the gallery will hold (the threshold depends on it; default "
                            f"{EXPECTED_SIZE}; only when the gallery is created)")
    enrol.add_argument("--shifts", type=_non_negative_int, default=None,
                       help=SHIFTS_HELP + " (default: the shipped encoder's own; only when the gallery is created)")

    identify = command("identify", _identify, "name each picture with its nearest enrolled class, or 'unknown'")
    identify.add_argument("gallery", type=Path, help="a gallery file made by `enrol`")
    identify.add_argument("pictures", nargs="+", help="the pictures to identify")
    identify.add_argument("--ink", **INK)

    verify = command("verify", _verify, "say whether each picture is of an enrolled class")
    verify.add_argument("gallery", type=Path, help="a gallery file made by `enrol`")
    verify.add_argument("name", help="the enrolled class to check the pictures against")
    verify.add_argument("pictures", nargs="+", help="the pictures to check")
    verify.add_argument("--ink", **INK)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 done, 2 a mistake or a missing file, 130 Ctrl-C)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, --version, or an argument error already printed on one line
        return int(stop.code or 0)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (OmniglotDataError, ValueError, FileNotFoundError, FloatingPointError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
