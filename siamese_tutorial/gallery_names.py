"""What a gallery accepts: class names, plain metadata, consistent entries, a folder's classes."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .checks import (
    listing,
)
from .folders import class_folders
from .pictures import INK_POLARITIES

__all__ = [
    "UNKNOWN",
    "MAX_NAME",
    "check_name",
    "check_plain",
    "folder_classes",
]

UNKNOWN = "unknown"
"""What :meth:`~siamese_tutorial.gallery.Gallery.identify` answers for an image of no enrolled class."""


def _check_entries(names: Any, counts: Any, prototypes: Any) -> None:
    """Raise ``ValueError`` (what is wrong, in a few words) unless a gallery file's ``names`` (a list of names
    :func:`check_name` accepts, none twice), ``counts`` (a list of as many integers >= 1) and ``prototypes``
    (``(G, D)`` finite floats, one row per name; None when there are none) are what :meth:`Gallery.enrol` makes.

    A name edited into the file must not forge an answer: a line break, ``unknown``, a number."""
    if (
        not isinstance(names, list)
        or not isinstance(counts, list)
        or len(counts) != len(names)
    ):
        raise ValueError("its names, counts and prototypes do not match")
    for name in names:
        try:
            check_name(name)
        except ValueError as error:
            raise ValueError(
                f"it holds a name that enrol refuses: {error}"
            ) from None
    twice = [name for name, n in Counter(names).items() if n > 1]
    if twice:
        raise ValueError(
            f"it holds the name(s) {listing([repr(n) for n in twice])} more than once"
        )
    wrong = [
        count
        for count in counts
        if isinstance(count, bool) or not isinstance(count, int) or count < 1
    ]
    if wrong:
        raise ValueError(
            f"it says a class was enrolled from {wrong[0]!r} pictures; counts are integers >= 1"
        )
    if not names:
        if prototypes is not None:
            raise ValueError("its names, counts and prototypes do not match")
        return
    if (
        not isinstance(prototypes, Tensor)
        or not prototypes.is_floating_point()
        or prototypes.dim() != 2
        or len(prototypes) != len(names)
    ):
        raise ValueError("its names, counts and prototypes do not match")
    if not torch.isfinite(prototypes).all():
        raise ValueError("its prototypes hold NaN or infinite values")


def folder_classes(
    folder: str | Path, enrolled: Sequence[str] = ()
) -> list[tuple[str, list[Path]]]:
    """The classes :meth:`Gallery.enrol_folder` would enrol from ``folder``, checked: ``(name, pictures)`` each.

    Each sub-folder's name must be a name :func:`check_name` accepts and not one of ``enrolled``, and
    it must hold pictures (:func:`~siamese_tutorial.pictures.class_folders` says what else is refused);
    else a ``ValueError`` naming the folder. No picture is read.
    """
    classes = class_folders(folder)
    for name, files in classes:
        where = Path(folder) / name
        try:
            check_name(name)
        except ValueError as error:
            raise ValueError(
                f"the class folder {where} cannot be a class's name ({error}); rename the "
                f"folder."
            ) from None
        if name in enrolled:
            raise ValueError(
                f"the class folder {where}: {name!r} is already enrolled; remove it from the gallery "
                f"first, or move the folder out of {folder}."
            )
        if not files:
            raise ValueError(
                f"the class folder {where} has no pictures; add some, or remove the folder."
            )
    return classes


MAX_NAME = 200
"""The longest name a class can be enrolled under (every answer prints it)."""


def check_name(name: str) -> str:
    """An enrolled class's name: a non-empty printable string of at most :data:`MAX_NAME` characters, no spaces
    around it, not (a variant of) ``"unknown"``.

    A name that prints like the answer for strangers, or that holds a line break, would make an
    answer read wrong.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"the name must be a non-empty string; got {name!r}")
    if len(name) > MAX_NAME:
        raise ValueError(
            f"the name is {len(name)} characters long; give one of at most {MAX_NAME}."
        )
    if name != name.strip() or not name.isprintable():
        raise ValueError(
            f"the name {name!r} has spaces around it or characters that do not print (a line break?); "
            f"give a plain name."
        )
    if name.casefold() == UNKNOWN.casefold():
        raise ValueError(
            f"{name!r} reads like {UNKNOWN!r}, the answer for strangers; enrol under another name."
        )
    return name


_PLAIN = (str, int, float, bool, type(None))


def check_plain(value: Any, where: str) -> None:
    """Raise ``ValueError`` unless ``value`` is plain: str, int, finite float, bool, None, lists/tuples and
    str-keyed dicts of them (what a gallery file can hold and load back safely), naming the first that is not."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(
                    f"{where} has the key {key!r}, a {type(key).__name__}; keys must be strings."
                )
            check_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_plain(item, f"{where}[{i}]")
    elif (
        type(value) not in _PLAIN
    ):  # exactly: a NumPy float is a float subclass, but does not load back
        raise ValueError(
            f"{where} is a {type(value).__module__}.{type(value).__name__} ({value!r}); a gallery keeps "
            f"plain values only (str, int, float, bool, None, lists and dicts): convert it, e.g. "
            f"str(path) or float(x)."
        )
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(
            f"{where} is {value!r}; a gallery keeps finite numbers only."
        )


def command_line_meta(
    model: str, reading: dict[str, Any], calibration: dict[str, Any]
) -> dict[str, Any]:
    """The metadata a gallery made by the command line keeps: its model (a checkpoint's absolute path
    or a shipped name), how that model reads pictures, and how its threshold was chosen."""
    return {"model": model, "reading": reading, "calibration": calibration}


def check_command_line_meta(meta: dict[str, Any], path: Path) -> None:
    """Refuse a gallery whose metadata is not what :func:`command_line_meta` writes."""
    if not isinstance(meta.get("model"), str) or not isinstance(
        meta.get("reading"), dict
    ):
        raise ValueError(
            f"{path} does not say which model it belongs to (made with Gallery.save in Python?); "
            f"use it with Gallery.load in Python, or make one with `enrol --model MODEL`."
        )
    read = meta["reading"]
    if not (
        isinstance(read.get("grayscale"), bool)
        and isinstance(read.get("invert"), bool)
        and read.get("ink") in (None, *INK_POLARITIES)
    ):
        raise ValueError(
            f"{path} is damaged or was edited (how it reads pictures, {read!r}, is not what "
            f"enrol writes); delete it and enrol again."
        )
