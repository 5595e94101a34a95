"""Argument checks shared by the modules (one clear message for each kind of bad input), and input conversion."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "check_positive",
    "check_number",
    "check_finite",
    "check_identifier",
    "check_shifts",
    "printable",
    "listing",
    "as_numpy",
    "as_labels",
    "default_device",
    "resolve_device",
    "DIVERGED",
]

DIVERGED = (
    "lower the learning rate (lr), or check the training images for NaN or "
    "infinite values"
)
"""What to do when a training diverges: the loop and the checkpoints say it."""


def check_positive(**values: int) -> None:
    """Raise ``ValueError`` unless every value is an integer >= 1, naming the first that is not."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1; got {value!r}")


def check_number(
    name: str,
    value: float,
    *,
    low: float = -math.inf,
    low_inclusive: bool = True,
    high: float = math.inf,
    high_inclusive: bool = True,
) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number above ``low`` and below ``high`` (or equal to
    either bound where it is inclusive)."""
    bounds = (
        [f">= {low:g}" if low_inclusive else f"> {low:g}"]
        if low > -math.inf
        else []
    )
    bounds += (
        [f"<= {high:g}" if high_inclusive else f"< {high:g}"]
        if high < math.inf
        else []
    )
    try:
        ok = (
            math.isfinite(value)
            and (value >= low if low_inclusive else value > low)
            and (value <= high if high_inclusive else value < high)
        )
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(
            f"{name} must be a finite number{' ' + ' and '.join(bounds) if bounds else ''}; "
            f"got {value!r}"
        )


def check_finite(x: Tensor, what: str, advice: str) -> None:
    """Raise ``FloatingPointError`` if ``x`` holds NaN or infinity, saying how many values and what to do.

    NaN must never pass silently: a NaN distance compared with a margin is simply "not closer", so a
    loss or an accuracy computed from it would look valid.
    """
    bad = ~torch.isfinite(x)
    if bad.any():
        raise FloatingPointError(
            f"{what}: {int(bad.sum())} of {x.numel()} values are NaN or infinite; {advice}"
        )


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def check_identifier(name: str, what: str) -> str:
    """A plain name (letters, digits, ``_`` and ``-``, not starting with a digit or ``-``): never a path."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ValueError(
            f"{what} must be a plain name of letters, digits, '_' and '-' that starts with a letter or '_' "
            f"(not a path); got {name!r}"
        )
    return name


def check_shifts(shifts: int, image_size: int, what: str = "shifts") -> int:
    """``shifts`` if it is a whole number of pixels from 0 to ``image_size - 1`` (test-time shifts of
    :func:`~siamese_tutorial.evaluation.embed`), else a ``ValueError`` naming ``what`` (e.g. ``"--shifts"``)."""
    whole = isinstance(shifts, int) and not isinstance(shifts, bool)
    if whole and 0 <= shifts < image_size:
        return shifts
    why = (
        f"is not smaller than the {image_size}-pixel images"
        if whole and shifts > 0
        else "is not a whole number >= 0"
    )
    raise ValueError(
        f"{what} {shifts!r} {why}: shifts must be a whole number of pixels from 0 to {image_size - 1} "
        f"(the images are {image_size} pixels wide); got {shifts!r}."
    )


def printable(text: object) -> str:
    """``str(text)`` with every character that does not print (a line break, a tab, an escape code, a byte
    that is not UTF-8) written as its Python escape (``\\n``, ``\\x1b``, ``\\udcff``), so that a name or a
    path from a user's files can never break or forge a line of output."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def listing(names: Sequence[object], most: int = 5) -> str:
    """Up to ``most`` names, comma-separated and :func:`printable`, then how many more: ``"a, b, c and 1,997 more"``."""
    shown = ", ".join(printable(name) for name in names[:most])
    return shown + (
        f" and {len(names) - most:,} more" if len(names) > most else ""
    )


def as_numpy(x: Tensor | np.ndarray | Sequence[float]) -> np.ndarray:
    """A tensor (even one that requires grad, or on a GPU), array or list as a NumPy array."""
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def as_labels(
    labels: Tensor | np.ndarray | Sequence[int],
    device: str | torch.device | None = None,
) -> Tensor:
    """Class labels as a tensor: a tensor as it is, a NumPy array or a list of numbers converted (onto
    ``device`` if given, e.g. the embeddings' device), anything else refused in one line."""
    if isinstance(labels, Tensor):
        return labels
    try:
        array = np.asarray(labels)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{array.dtype} values")
        return torch.as_tensor(array, device=device)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(
            f"labels must be class indices: a tensor, a NumPy array or a list of integers; got a "
            f"{type(labels).__name__} ({error})"
        ) from None


def default_device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a ``torch.device`` that works here (None: :func:`default_device`), or a clear ``ValueError``."""
    if device is None:
        return default_device()
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"{device!r} is not a device; use 'cpu', 'cuda' or 'cuda:N'."
        ) from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available()
        and (device.index or 0) < torch.cuda.device_count(),
        "mps": torch.backends.mps.is_available(),
    }.get(device.type, False)
    if not available:
        raise ValueError(
            f"device {str(device)!r} is not available on this machine; use 'cpu'"
            + (" or 'cuda'" if torch.cuda.is_available() else "")
            + "."
        )
    return device
