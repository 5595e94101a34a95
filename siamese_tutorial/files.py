"""Files that are never half-written nor lost to a concurrent writer: atomic writes, locks, JSON cards, hashes.

Every file the package writes (downloads, the data cache, checkpoints, cards, galleries) goes
through :func:`atomic_write`: the bytes go to a temporary file beside the target, which is renamed
over the target only once complete. A crash, an error or a ``SIGKILL`` while writing leaves the old
file, if any, untouched. A killed writer cannot delete its temporary file, so the next writer of
the same target removes the temporary files of writers that are no longer running.
:func:`write_together` does the same for files that belong together (a checkpoint and its card).

A read-modify-write (enrolling into a gallery) or a long ownership of a file (a training writing its
checkpoint) holds :func:`file_lock`, so that two processes never both think they wrote one file.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import http.client
import json
import os
import re
import secrets
import tempfile
import urllib.error
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; file_lock then only creates and removes its lock file
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "atomic_write",
    "write_together",
    "write_text",
    "write_json",
    "read_json",
    "sha256_file",
    "check_writable_file",
    "check_format",
    "file_lock",
    "FileBusyError",
    "absolute",
]

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
        if (
            match
            and match["name"] == path.name
            and not _alive(int(match["pid"]))
        ):
            part.unlink(missing_ok=True)


def _part_name(path: Path) -> Path:
    """A fresh temporary name beside ``path`` that :func:`_remove_stale_parts` recognises once its writer is dead."""
    return path.with_name(
        f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part"
    )


def _through_link(path: Path) -> Path:
    """The file a symbolic link points to (written in place of the link, which would otherwise become a copy)."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _mode_for(path: Path) -> int:
    """The permissions a new version of ``path`` gets: the old file's, else what ``open()`` would give."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _os_error_behind(error: BaseException) -> OSError | None:
    """The ``OSError`` an error was raised from (torch.save reports a full disk as a ``RuntimeError``)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError) and error.errno is not None:
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return None


_NETWORK_ERRORS = (
    urllib.error.URLError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
)
"""Errors of a writer that fetches its bytes: the network failed, not the file (a name lookup that
fails carries an errno, and would read as a refused write)."""


def _could_not_write(path: Path, error: BaseException) -> BaseException:
    """An error while writing ``path``, as one clear ``OSError`` when the system refused the bytes."""
    if isinstance(error, _NETWORK_ERRORS):
        return error
    cause = _os_error_behind(error)
    if cause is None:
        return error
    advice = (
        "free some space or write elsewhere"
        if cause.errno in (errno.ENOSPC, errno.EDQUOT)
        else "check the folder and try again"
    )
    clear = OSError(
        f"could not write {path}: {cause.strerror or cause}; {advice} (the old file, if any, is untouched)"
    )
    clear.errno = (
        cause.errno
    )  # set after: OSError(errno, text) would print as "[Errno 28] text"
    return clear


def write_together(
    files: Sequence[tuple[str | Path, Callable[[Path], None]]],
) -> None:
    """Write several files that belong together so that all are replaced, or none.

    Each ``write(temporary_path)`` writes its file into a temporary path beside the target, in the
    order given (a later one may read an earlier one's temporary file, e.g. to hash it). Only when
    all are complete are they renamed over their targets, one after the other; an error while
    writing (propagated; a full disk as one clear ``OSError``) removes every temporary file and
    leaves every target as it was. A target's permissions are kept.

    Parameters
    ----------
    files : sequence of (path, write)
        The targets (their folders are created if needed) and the function that writes each.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for target, write in files:
            target = _through_link(Path(target))
            target.parent.mkdir(parents=True, exist_ok=True)
            _remove_stale_parts(target)
            temporary = _part_name(target)
            staged.append((target, temporary))
            try:
                write(temporary)
            except Exception as error:
                clear = _could_not_write(target, error)
                if clear is error:
                    raise
                raise clear from error
            os.chmod(temporary, _mode_for(target))
        for target, temporary in staged:
            try:
                os.replace(temporary, target)
            except OSError as error:  # e.g. an immutable file: one clear line, not "[Errno 1] ... -> ..."
                raise _could_not_write(target, error) from error
    finally:
        for _, temporary in staged:
            temporary.unlink(missing_ok=True)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Write a file through ``write(file)`` into a temporary file beside it, renamed only once complete.

    A crash or an error while writing (the exception propagates; a full disk or another refusal of
    the system becomes one clear ``OSError`` naming the file) leaves the old file, if any, untouched;
    the temporary file is removed, or, after a ``SIGKILL``, removed by the next writer of ``path``.
    The file keeps the permissions of the file it replaces (a private ``chmod 600`` file stays
    private); a new one gets those ``open()`` would give it. A symbolic link is written through: the
    file it points to is replaced, and the link kept.

    Parameters
    ----------
    path : str or Path
        The file to write; its folder is created if needed.
    write : callable
        ``write(file)`` writes the content to the binary file object it is given.
    """

    def write_file(temporary: Path) -> None:
        with open(temporary, "xb") as file:
            write(file)

    write_together([(path, write_file)])


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
        raise FileNotFoundError(
            f"{path} does not exist; it should be {what}."
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}); it should be {what}."
        ) from error


def check_format(
    content: Any, expected: str, path: str | Path, what: str, remedy: str
) -> bool:
    """Whether ``content`` is a dict whose ``"format"`` is ``expected`` (``"<kind>/<N>"``): True if it is, False if
    it has no format of that kind (not such a file: the caller says so); ``ValueError`` for another ``N``.

    A later format was written by a newer siamese_tutorial: the message says to upgrade (never to delete
    the file); an earlier one, that this version no longer reads it, and ``remedy`` (e.g. "train again.")."""
    found = content.get("format") if isinstance(content, dict) else None
    if found == expected:
        return True
    kind, _, number = expected.rpartition("/")
    found_kind, _, found_number = (
        found.rpartition("/") if isinstance(found, str) else ("", "", "")
    )
    if found_kind != kind or not (found_number.isdigit() and number.isdigit()):
        return False
    from . import (
        __version__,  # here: the package is imported by the time a file is read
    )

    if int(found_number) > int(number):
        raise ValueError(
            f"{path} is a {what} of a newer format ({found}) than siamese_tutorial {__version__} "
            f"reads ({expected}); upgrade siamese_tutorial to use it."
        )
    raise ValueError(
        f"{path} is a {what} of an older format ({found}) that siamese_tutorial {__version__} no "
        f"longer reads; {remedy}"
    )


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def absolute(path: str | Path) -> Path:
    """``path`` made absolute against the current folder, ``..`` removed (symbolic links are kept as given).

    Paths stored in files (a gallery's model, a card's data folder) are stored so, to work from any folder.
    """
    return Path(os.path.abspath(path))


def check_writable_file(path: str | Path, what: str) -> Path:
    """Fail now, with one clear line, if ``path`` cannot be written later: a folder, or a folder that refuses files.

    Creates nothing (a command refused later leaves no empty folder behind): a missing folder is
    checked at the nearest folder above it that exists, and created when the file is written.
    Returns ``path`` as a ``Path``.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(
            f"{what} {path} is a folder; give a file name inside it, e.g. {path / 'model.pt'}."
        )
    above = path.parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise ValueError(
            f"{what} {path} cannot be written: {above} is a file, not a folder; choose another path."
        )
    try:
        with tempfile.TemporaryFile(dir=above):
            pass
    except OSError as error:
        raise ValueError(
            f"{what} {path} cannot be written ({error.strerror or error}); choose a folder you can write to."
        ) from error
    return path


def _make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and the folders above it that are missing; return those this call created, outermost first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    created = []
    for each in reversed(missing):
        try:
            each.mkdir()
            created.append(each)
        except (
            FileExistsError
        ):  # another process made it meanwhile: it is not ours to remove
            pass
    return created


# ----------------------------------------------------------------------------------------------
# Locks: one writer of a file at a time
# ----------------------------------------------------------------------------------------------


class FileBusyError(OSError):
    """Another process holds the lock of a file (:func:`file_lock` with ``wait=False``)."""


def _lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def _holder(lock: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        return f"process {int(lock.read_text().strip())}"
    return "another process"


def _acquire(
    lock: Path,
    path: Path,
    what: str,
    wait: bool,
    on_wait: Callable[[str], None] | None,
    created: list[Path],
) -> int:
    """Open and lock ``lock``, waiting or refusing; the open descriptor (see :func:`file_lock`)."""
    while True:
        try:
            # again after a wait: the last holder may have removed it
            created += _make_folders(lock.parent)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise OSError(
                f"cannot lock {what} {path} ({error.strerror or error}: {lock}); choose a folder you can "
                f"write to."
            ) from error
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    message = (
                        f"{what} {path} is being written by {_holder(lock)}"
                    )
                    if not wait:
                        raise FileBusyError(
                            f"{message}; wait until it has finished, or use another file."
                        ) from None
                    if on_wait is not None:
                        on_wait(f"{message}; waiting for it to finish")
                        on_wait = None
                    fcntl.flock(fd, fcntl.LOCK_EX)
            # The last holder removes the lock file: if ours was removed (or replaced) while we waited, start again.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(lock))
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            return fd
        os.close(fd)


@contextlib.contextmanager
def file_lock(
    path: str | Path,
    what: str = "file",
    *,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the exclusive lock of ``path`` (an advisory ``flock`` on ``.NAME.lock`` beside it) while inside.

    Every writer that reads, changes and writes ``path`` back, or owns it for long, holds it: a
    second writer waits (``wait=True``; ``on_wait(message)`` is told once that it waits) or is refused
    with :class:`FileBusyError` (``wait=False``), and never loses the first one's update. Readers need
    no lock: :func:`atomic_write` replaces a file in one step. The lock is released when the block
    ends or the process dies (even by ``SIGKILL``), and its file is removed by its last holder.

    Parameters
    ----------
    path : str or Path
        The file to lock (it need not exist); its folder is created if needed, and removed again at the
        end if nothing was written into it (a refused command leaves no empty folder).
    what : str
        What the file is, for the messages (e.g. "the gallery").
    wait : bool
        Wait for the lock, or refuse at once if another process holds it.
    on_wait : callable, optional
        Called with a one-line message before waiting.
    """
    path = Path(path)
    # two names of one file (a symbolic link) share its lock
    lock = _lock_path(_through_link(path))
    # folders made for the lock: removed again if the holder wrote nothing into them
    created: list[Path] = []
    fd = _acquire(lock, path, what, wait, on_wait, created)
    try:
        # who holds it, for a waiter's message only: a full disk may refuse it
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            # while still holding it: a waiter on this file then sees it gone and starts again
            os.unlink(lock)
        os.close(fd)
        # a refused command leaves no empty folder (rmdir refuses a full one)
        for folder in reversed(created):
            try:
                folder.rmdir()
            except OSError:
                break
