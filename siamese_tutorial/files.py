"""Files that are never half-written: atomic writes, JSON cards, content hashes.

Every file the package writes (downloads, the data cache, checkpoints, cards, galleries) goes
through :func:`atomic_write`: the bytes go to a temporary file beside the target, which is renamed
over the target only once complete. A crash, an error or a ``SIGKILL`` while writing leaves the old
file, if any, untouched. A killed writer cannot delete its temporary file, so the next writer of
the same target removes the temporary files of writers that are no longer running.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["atomic_write", "write_text", "write_json", "read_json", "sha256_file", "check_writable_file"]

_PART = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.part")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, but belongs to someone else
        return True
    return True


def _remove_stale_parts(path: Path) -> None:
    """Delete the temporary files of dead writers of ``path`` (named ``.<name>.<pid>.<random>.part``)."""
    for part in path.parent.glob(f".{glob.escape(path.name)}.*.part"):
        match = _PART.fullmatch(part.name)
        if match and match["name"] == path.name and not _alive(int(match["pid"])):
            part.unlink(missing_ok=True)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Write a file through ``write(file)`` into a temporary file beside it, renamed only once complete.

    A crash or an error while writing (the exception propagates) leaves the old file, if any,
    untouched; the temporary file is removed, or, after a ``SIGKILL``, removed by the next writer
    of ``path``. The new file gets the permissions ``open()`` would give it.

    Parameters
    ----------
    path : str or Path
        The file to write; its folder is created if needed.
    write : callable
        ``write(file)`` writes the content to the binary file object it is given.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
        umask = os.umask(0)  # mkstemp makes the file private (0600): give it what open() would
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)
        os.replace(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) atomically: the old file, if any, stays until the new one is complete."""
    atomic_write(path, lambda file: file.write(text.encode()))


def write_json(path: str | Path, content: Any) -> None:
    """Write ``content`` as indented JSON, atomically; non-finite numbers are refused, not written as NaN."""
    write_text(path, json.dumps(content, indent=2, allow_nan=False) + "\n")


def read_json(path: str | Path, what: str) -> Any:
    """The JSON content of ``path``, or a ``ValueError`` that names the file and ``what`` it should be."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist; it should be {what}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}); it should be {what}.") from error


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_writable_file(path: str | Path, what: str) -> Path:
    """Fail now, with one clear line, if ``path`` cannot be written later: a folder, or a folder that refuses files.

    Creates the parent folder if it is missing. Returns ``path`` as a ``Path``.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {path} is a folder; give a file name inside it, e.g. {path / 'model.pt'}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as error:
        raise ValueError(
            f"{what} {path} cannot be written ({error.strerror or error}); choose a folder you can write to."
        ) from error
    return path
