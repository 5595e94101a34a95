"""The command line's gallery commands: ``enrol``, ``identify`` and ``verify`` (their options are in :mod:`.cli`).

A gallery file keeps the model it belongs to (a checkpoint's absolute path, or a shipped encoder's
name), how that model reads pictures, and its open-set threshold, chosen on classes the model never
saw when the first ``enrol`` creates the file. ``enrol --folder DIR`` enrols every sub-folder of
``DIR`` as a class in one start; ``identify`` and ``verify`` take folders of pictures as well as
pictures. Every name and path printed goes through :func:`~siamese_tutorial.checks.printable`: a
file or class name with a line break cannot forge a line of the answers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .checks import check_shifts, listing, printable
from .files import absolute, check_writable_file, file_lock
from .folders import picture_files
from .gallery import (
    UNKNOWN,
    Gallery,
    calibrate_open_set,
    check_command_line_meta,
    check_name,
    command_line_meta,
    folder_classes,
)
from .machine import keep_freed_memory
from .pictures import (
    IMAGE_SUFFIXES,
    PictureReader,
)
from .pretrained import available_pretrained, load_model
from .progress import progress_bar
from .recipe import calibration_classes, reading

__all__ = ["EXPECTED_SIZE", "enrol", "identify", "verify"]

EXPECTED_SIZE = 10
"""The gallery size a new gallery's threshold is chosen for when ``enrol --expected-size`` is not given
(with ``--folder``: at least the classes enrolled)."""

ANSWER_CHUNK = 1024
"""Pictures embedded and answered at a time by ``identify`` and ``verify`` (their lines are printed as they come)."""


def _model_key(name_or_path: str) -> str:
    """How a gallery records its model: a checkpoint's absolute path (it works from any folder), or a shipped name."""
    return (
        str(absolute(name_or_path))
        if Path(name_or_path).is_file()
        else name_or_path
    )


def _open_gallery(
    args: argparse.Namespace,
) -> tuple[Gallery, int, dict[str, Any]]:
    """The gallery of ``args.gallery`` with its encoder, the encoder's image size and how to read pictures."""
    if args.gallery.is_dir():
        raise ValueError(
            f"{args.gallery} is a folder, not a gallery file; give the gallery's file, e.g. "
            f"{args.gallery / 'gallery.pt'}."
        )
    if not args.gallery.is_file():
        raise FileNotFoundError(
            f"no gallery at {args.gallery}; create it with `enrol --model MODEL {args.gallery} ...`."
        )
    meta = Gallery.read_meta(args.gallery)
    check_command_line_meta(meta, args.gallery)
    model = meta["model"]
    if not Path(model).is_file() and model not in available_pretrained():
        raise FileNotFoundError(
            f"the model of {args.gallery}, {model}, is not there (moved, or a path relative to the "
            f"folder the gallery was made in?); put it back, or enrol again with --model."
        )
    model, image_size, _ = load_model(model)
    gallery = Gallery.load(args.gallery, model)
    if gallery.threshold is None:
        raise ValueError(
            f"{args.gallery} has no threshold (made with Gallery(...) in Python?); set one from "
            f"calibrate_open_set, or enrol again with --model to make a calibrated gallery."
        )
    return gallery, image_size, meta["reading"]


def _with_ink(settings: dict[str, Any], ink: str | None) -> dict[str, Any]:
    """The model's reading of pictures, with the ink polarity the user chose (``--ink``), if any."""
    return settings if ink is None else {**settings, "ink": ink}


def _existing_gallery(
    args: argparse.Namespace,
) -> tuple[Gallery, int, dict[str, Any]]:
    """The gallery ``enrol`` adds to, refusing options that only a new gallery can apply (unless they agree with it)."""
    gallery, image_size, settings = _open_gallery(args)
    meta = Gallery.read_meta(args.gallery)
    if args.model is not None and _model_key(args.model) != _model_key(
        meta["model"]
    ):
        raise ValueError(
            f"{args.gallery} belongs to the model {meta['model']}; enrol into another gallery file to "
            f"use {args.model}."
        )
    calibration = meta.get("calibration", {})
    chosen = {
        "--shifts": (args.shifts, gallery.shifts),
        "--expected-size": (
            args.expected_size,
            calibration.get("expected_size", calibration.get("gallery_size")),
        ),
        "--calibrate": (
            None if args.calibrate is None else str(absolute(args.calibrate)),
            calibration.get("folder"),
        ),
    }
    for option, (given, recorded) in chosen.items():
        if given is not None and given != recorded:
            made = recorded if recorded is not None else "(none)"
            raise ValueError(
                f"{args.gallery} exists, made with {option} {made}; {option} is applied when a gallery "
                f"is created (its threshold depends on it): drop it to enrol into this gallery, or enrol "
                f"into a new gallery file."
            )
    return gallery, image_size, settings


def _new_gallery(
    args: argparse.Namespace,
    model: Any,
    image_size: int,
    card: dict[str, Any],
    classes: int,
    said: list[str],
) -> Gallery:
    """A gallery for ``model`` (``args.model``, with its ``card``), its threshold chosen on held-out classes for a
    gallery of ``--expected-size`` (default: :data:`EXPECTED_SIZE`, or the ``classes`` about to be enrolled if more);
    how, and what it could not do as asked, goes to ``said`` (printed once the gallery is written)."""
    settings = reading(card["config"])
    shifts = (
        card.get("runs", {}).get("shifts", 0)
        if args.shifts is None
        else args.shifts
    )
    check_shifts(shifts, image_size, "--shifts")
    held_out, source = calibration_classes(
        card, image_size, args.calibrate, args.data_dir
    )
    expected = (
        max(EXPECTED_SIZE, classes)
        if args.expected_size is None
        else args.expected_size
    )
    size = min(expected, held_out.num_classes - 1)
    if size < 1:
        raise ValueError(
            f"{source} has {held_out.num_classes} class(es): choosing a threshold needs 2 or more (one "
            f"enrolled, one stranger); give --calibrate FOLDER with more classes the model never saw."
        )
    calibration = calibrate_open_set(
        model, held_out, gallery_size=size, shifts=shifts
    )
    gallery = Gallery(
        model,
        calibration.threshold,
        shifts,
        meta=command_line_meta(
            _model_key(args.model),
            settings,
            {
                "on": source,
                "gallery_size": size,
                "expected_size": expected,
                "folder": None
                if args.calibrate is None
                else str(absolute(args.calibrate)),
                **calibration.rates,
            },
        ),
    )
    said += _calibration_said(
        calibration, source, size, expected, held_out.num_classes
    )
    if args.calibrate is None and card["config"].get("data") is None:
        said.append(
            "note: these rates are for Omniglot's characters; for pictures of another kind, choose the "
            "threshold on classes of that kind the model never saw: --calibrate FOLDER"
        )
    return gallery


def _calibration_said(
    calibration: Any, source: str, size: int, expected: int, classes: int
) -> list[str]:
    """What a new gallery's threshold is, and what it could not be chosen for."""
    said: list[str] = []
    rates = calibration.rates
    said.append(
        f"new gallery; threshold {calibration.threshold:.3f} chosen on {source} (galleries of {size}): "
        f"{rates['false_accept']:.1%} strangers accepted, {rates['false_reject']:.1%} enrolled rejected"
    )
    if size < expected:
        said.append(
            f"note: the threshold is chosen for galleries of {size}, not of {expected} (--expected-size; by "
            f"default {EXPECTED_SIZE}, or the classes enrolled if more): "
            f"there are only {classes} classes to choose it on ({source}); a larger gallery lets in "
            f"more strangers than said above. Give --calibrate FOLDER with more than {expected} classes the "
            f"model never saw."
        )
    return said


def _check_enrol_arguments(args: argparse.Namespace) -> None:
    """``enrol GALLERY NAME PICTURE...`` or ``enrol GALLERY --folder DIR``, and no name that is a picture's path."""
    if args.folder is not None:
        if args.name is not None:
            raise ValueError(
                f"give either a class's name and its pictures, or --folder {args.folder}, not both "
                f"(--folder enrols each sub-folder as a class named after it)."
            )
        return
    if args.name is None:
        raise ValueError(
            "give the class's name and its pictures (enrol GALLERY NAME PICTURE...), or --folder DIR to "
            "enrol each sub-folder of DIR as a class."
        )
    name = Path(args.name)
    if name.is_dir():
        raise ValueError(
            f"{printable(args.name)} is a folder, not a class's name: to enrol each of its sub-folders as "
            f"a class, give --folder {printable(args.name)}; to enrol its pictures as one class, give "
            f"the name first: enrol GALLERY NAME {printable(args.name)}/*.png"
        )
    if name.suffix.lower() in IMAGE_SUFFIXES and name.is_file():
        raise ValueError(
            f"{printable(args.name)} is a picture, not a class's name: give the name first, then the "
            f"pictures (enrol GALLERY NAME PICTURE...)."
        )
    if not args.pictures:
        raise ValueError(
            f"give one or more pictures of {args.name!r} after its name (enrol GALLERY NAME PICTURE...)."
        )


def enrol(args: argparse.Namespace) -> int:
    """``enrol``: a class from its pictures, or every sub-folder of ``--folder``, into a gallery file (created if
    missing), holding the gallery's lock from reading it to writing it back: enrolments started together all land."""
    _check_enrol_arguments(args)
    check_writable_file(args.gallery, "the gallery")
    keep_freed_memory()  # embedding thousands of pictures on the CPU: half the time (see its docstring)
    with file_lock(
        args.gallery,
        "the gallery",
        on_wait=lambda message: print(
            printable(message), file=sys.stderr, flush=True
        ),
    ):
        return _enrol_holding_lock(args)


def _enrol_holding_lock(args: argparse.Namespace) -> int:
    said: list[
        str
    ] = []  # said once the gallery is written: a picture that fails makes no "new gallery"
    if args.gallery.is_file():
        gallery, image_size, settings = _existing_gallery(args)
    elif args.model is None:
        raise ValueError(
            f"{args.gallery} does not exist yet: give --model (a checkpoint or a shipped encoder) "
            f"to create it."
        )
    else:
        gallery = None
        model, image_size, card = load_model(args.model)
        settings = reading(card["config"])
    read = _with_ink(settings, args.ink)
    # What is enrolled is checked (and a class's pictures read) before a new gallery's threshold is chosen: minutes.
    if args.folder is not None:
        classes = len(
            folder_classes(
                args.folder, gallery.names if gallery is not None else ()
            )
        )
    else:
        check_name(args.name)
        reader = PictureReader(image_size, **read)
        files = picture_files(
            args.pictures
        )  # a folder given among them: its pictures
        images, classes = reader.read(files), 1
        reader.warn(stacklevel=2)
    if gallery is None:
        gallery = _new_gallery(args, model, image_size, card, classes, said)
    if args.folder is not None:
        names = gallery.enrol_folder(args.folder, **read, progress=True)
        pictures = sum(gallery.counts[-len(names) :])
    else:
        gallery.enrol(args.name, images)
        names, pictures = [args.name], len(files)
    gallery.save(args.gallery)
    for line in said:
        print(printable(line))
    what = (
        repr(names[0])
        if args.folder is None
        else f"{len(names):,} classes of {printable(args.folder)}"
    )
    print(
        f"enrolled {what} from {pictures:,} picture(s); {printable(args.gallery)} holds {len(gallery):,}: "
        f"{listing(gallery.names, 10)}"
    )
    expected = gallery.meta.get("calibration", {}).get("expected_size")
    if isinstance(expected, int) and len(gallery) > expected:
        print(
            f"note: {printable(args.gallery)} holds {len(gallery):,} classes, more than the {expected} its threshold "
            f"was chosen for (--expected-size): it lets in more strangers than it said when it was made; for a "
            f"gallery this large, make a new one with --expected-size {len(gallery)}"
        )
    return 0


def _answers(
    args: argparse.Namespace,
    opened: tuple[Gallery, int, dict[str, Any]],
    answer,
) -> int:
    """Read the pictures (and the pictures in folders) of ``args.pictures`` for the ``opened`` gallery, then print
    ``answer(paths, images)``'s lines, a chunk of pictures at a time; a bar on stderr where a folder was given."""
    gallery, image_size, settings = opened
    paths = picture_files(args.pictures)
    keep_freed_memory()  # embedding thousands of pictures on the CPU: half the time (see its docstring)
    shown = any(Path(p).is_dir() for p in args.pictures)
    reader = PictureReader(image_size, **_with_ink(settings, args.ink))
    with progress_bar(len(paths), "reading", "picture", visible=shown) as bar:
        images = []
        for start in range(0, len(paths), ANSWER_CHUNK):
            images.append(reader.read(paths[start : start + ANSWER_CHUNK]))
            bar.update(len(images[-1]))
    reader.warn(stacklevel=2)
    with progress_bar(
        len(paths), "answering", "picture", visible=shown
    ) as bar:
        for start, chunk in zip(range(0, len(paths), ANSWER_CHUNK), images):
            for line in answer(paths[start : start + ANSWER_CHUNK], chunk):
                print(line, flush=False)
            sys.stdout.flush()
            bar.update(len(chunk))
    return 0


def identify(args: argparse.Namespace) -> int:
    """``identify``: each picture's nearest enrolled class, or 'unknown', one line each, in order."""
    opened = _open_gallery(args)
    gallery = opened[0]

    def answer(paths: list[Path], images) -> list[str]:
        names, distances = gallery.nearest(images)
        threshold = gallery.threshold
        accepted = gallery.accepts(distances).tolist()
        return [
            f"{printable(path)}: {printable(name) if ok else UNKNOWN} (nearest {name!r} at "
            f"{distance:.3f}; threshold {threshold:.3f})"
            for path, name, ok, distance in zip(
                paths, names, accepted, distances.tolist()
            )
        ]

    return _answers(args, opened, answer)


def verify(args: argparse.Namespace) -> int:
    """``verify``: whether each picture is of the enrolled class ``args.name``, one line each, in order."""
    opened = _open_gallery(args)
    gallery = opened[0]
    column = gallery.index(
        args.name
    )  # an unknown name is refused before a picture is read

    def answer(paths: list[Path], images) -> list[str]:
        distances = gallery.distances(images)[:, column]
        threshold = gallery.threshold
        return [
            f"{printable(path)}: {'yes' if ok else 'no'}, {'is' if ok else 'is not'} {args.name!r} (distance "
            f"{distance:.3f}; threshold {threshold:.3f})"
            for path, ok, distance in zip(
                paths, gallery.accepts(distances).tolist(), distances.tolist()
            )
        ]

    return _answers(args, opened, answer)
