"""siamese_tutorial.files: atomic writes, and what a killed writer leaves behind."""

import contextlib
import errno
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

from siamese_tutorial import files
from siamese_tutorial.files import (
    FileBusyError,
    atomic_write,
    check_writable_file,
    file_lock,
    read_json,
    write_json,
    write_text,
    write_together,
)

# files.py imports nothing but the standard library: loaded alone, a child process starts in a blink
# (importing the package would import torch).
LOAD_FILES = textwrap.dedent(f"""
    import importlib.util, sys
    spec = importlib.util.spec_from_file_location("files", {files.__file__!r})
    files = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(files)
""")


def child(code, *args, **kwargs):
    """A real process that runs ``code`` with siamese_tutorial.files loaded as ``files``."""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            LOAD_FILES + textwrap.dedent(code),
            *map(str, args),
        ],
        **kwargs,
    )


def test_atomic_write_replaces_only_when_complete(tmp_path):
    target = tmp_path / "sub" / "card.json"
    atomic_write(target, lambda file: file.write(b"first"))
    assert target.read_bytes() == b"first"
    umask = os.umask(0)
    os.umask(umask)
    assert (
        target.stat().st_mode & 0o777 == 0o666 & ~umask
    )  # as open() would make it, not mkstemp's 0600

    def fail(file):
        file.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, fail)
    assert target.read_bytes() == b"first" and [
        p.name for p in target.parent.iterdir()
    ] == ["card.json"]


def test_a_killed_writer_leaves_a_part_file_that_the_next_writer_removes(
    tmp_path,
):
    # SIGKILL in the middle of a write: the old file is intact and a .part is left (a killed process
    # cannot clean up); the next write of the same file removes the dead writer's .part, and only it.
    target = tmp_path / "model.pt"
    atomic_write(target, lambda file: file.write(b"old"))
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import os, signal
        from siamese_tutorial.files import atomic_write
        def write(file):
            file.write(b"half")
            file.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        atomic_write({str(target)!r}, write)
    """),
        ]
    )
    assert child.returncode == -signal.SIGKILL
    dead = list(tmp_path.glob(".model.pt.*.part"))
    assert len(dead) == 1 and target.read_bytes() == b"old"
    alive = (
        tmp_path / f".model.pt.{os.getpid()}.abcd.part"
    )  # a writer still at work: left alone
    alive.write_bytes(b"busy")
    other = (
        tmp_path / ".model.pt.json.99999999.x.part"
    )  # another file's temporary file: left alone
    other.write_bytes(b"")
    atomic_write(target, lambda file: file.write(b"new"))
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [alive.name, other.name, "model.pt"]
    )


def test_write_json_refuses_nan_and_read_json_names_the_file(tmp_path):
    with pytest.raises(
        ValueError, match="Out of range float values are not JSON compliant"
    ):
        write_json(tmp_path / "card.json", {"accuracy": math.nan})
    assert not list(tmp_path.iterdir())
    (tmp_path / "card.json").write_text("{not json")
    with pytest.raises(
        ValueError,
        match=r"card.json is not valid JSON .*; it should be a card",
    ):
        read_json(tmp_path / "card.json", "a card")
    with pytest.raises(
        FileNotFoundError,
        match="missing.json does not exist; it should be a card",
    ):
        read_json(tmp_path / "missing.json", "a card")


def test_check_writable_file_fails_before_any_work(tmp_path, read_only):
    assert (
        check_writable_file(tmp_path / "new" / "m.pt", "--out")
        == tmp_path / "new" / "m.pt"
    )
    with pytest.raises(
        ValueError, match="is a folder; give a file name inside it"
    ):
        check_writable_file(tmp_path, "--out")
    locked = tmp_path / "locked"
    locked.mkdir()
    read_only(locked)
    with pytest.raises(ValueError, match="cannot be written"):
        check_writable_file(locked / "m.pt", "--out")


# ----------------------------------------------------------------------------- permissions


def test_a_private_file_stays_private_when_replaced(tmp_path):
    # Before: every write gave the umask's 0644, so `chmod 600 gallery.pt` was undone by the next enrol.
    target = tmp_path / "gallery.pt"
    target.write_bytes(b"old")
    target.chmod(0o600)
    atomic_write(target, lambda file: file.write(b"new"))
    assert (
        target.read_bytes() == b"new"
        and target.stat().st_mode & 0o777 == 0o600
    )
    target.chmod(0o640)
    write_json(target, {"a": 1})
    assert target.stat().st_mode & 0o777 == 0o640


# ----------------------------------------------------------------------------- a full disk


def disk_full_inside_torch(file):
    """What torch.save does on a full disk: a RuntimeError raised while handling the OSError."""
    try:
        raise OSError(errno.ENOSPC, "No space left on device")
    except OSError:
        raise RuntimeError(
            "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"
        ) from None


def test_a_full_disk_is_one_clear_os_error_and_the_old_file_stays(tmp_path):
    target = tmp_path / "m.pt"
    target.write_bytes(b"old")
    with pytest.raises(
        OSError,
        match=r"^could not write .*m.pt: No space left on device; free some space",
    ) as error:
        atomic_write(target, disk_full_inside_torch)
    assert error.value.errno == errno.ENOSPC and "\n" not in str(error.value)
    assert target.read_bytes() == b"old" and [
        p.name for p in tmp_path.iterdir()
    ] == ["m.pt"]
    with pytest.raises(ZeroDivisionError):  # any other error passes unchanged
        atomic_write(target, lambda file: 1 / 0)


def test_a_network_error_inside_a_writer_is_not_called_a_refused_write(
    tmp_path,
):
    """A download that cannot resolve its host fails as the network, not the disk."""
    import socket
    import urllib.error

    def fetch(file):
        lookup = socket.gaierror(
            socket.EAI_NONAME, "Name or service not known"
        )
        raise urllib.error.URLError(lookup) from lookup

    with pytest.raises(urllib.error.URLError, match="Name or service"):
        atomic_write(tmp_path / "a.zip", fetch)
    assert list(tmp_path.iterdir()) == []


def test_files_written_together_are_all_replaced_or_none(tmp_path):
    weights, card = tmp_path / "m.pt", tmp_path / "m.json"
    weights.write_bytes(b"old weights")
    card.write_bytes(b"old card")

    def fail(temporary):
        temporary.write_bytes(b"half")
        disk_full_inside_torch(None)

    with pytest.raises(
        OSError, match="could not write .*m.json: No space left"
    ):
        write_together(
            [(weights, lambda t: t.write_bytes(b"new weights")), (card, fail)]
        )
    assert (
        weights.read_bytes() == b"old weights"
        and card.read_bytes() == b"old card"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.pt"]
    seen = {}

    def write_card(
        temporary,
    ):  # a later file may read an earlier one's temporary file
        seen["weights"] = next(tmp_path.glob(".m.pt.*.part")).read_bytes()
        temporary.write_bytes(b"new card")

    write_together(
        [
            (weights, lambda t: t.write_bytes(b"new weights")),
            (card, write_card),
        ]
    )
    assert (
        seen["weights"] == b"new weights" and card.read_bytes() == b"new card"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.pt"]


@pytest.fixture
def small_disk(tmp_path):
    """A real 200 kB file system (tmpfs); skipped where mounting is not allowed."""
    folder = tmp_path / "small"
    folder.mkdir()
    if (
        shutil.which("mount") is None
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(folder)],
            capture_output=True,
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a small tmpfs here")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_a_real_full_disk(small_disk):
    import torch

    target = small_disk / "m.pt"
    atomic_write(target, lambda file: torch.save(torch.zeros(10), file))
    before = target.read_bytes()
    with pytest.raises(
        OSError, match="could not write .*m.pt: No space left on device"
    ):
        atomic_write(
            target, lambda file: torch.save(torch.zeros(100_000), file)
        )
    assert target.read_bytes() == before and [
        p.name for p in small_disk.iterdir()
    ] == ["m.pt"]
    card = small_disk / "m.json"
    with pytest.raises(
        OSError, match="could not write .*m.json: No space left on device"
    ):
        write_together(
            [
                (target, lambda t: t.write_bytes(b"x" * 50_000)),
                (card, lambda t: t.write_bytes(b"x" * 300_000)),
            ]
        )
    assert target.read_bytes() == before and not card.exists()


def test_a_lock_on_a_disk_with_not_one_byte_left_still_ends_in_the_clear_message(
    small_disk,
):
    # Before: `enrol` into a full disk ended in "error: [Errno 28] No space left on device", naming no file: the
    # lock's note of who holds it could not be written.
    with open(
        small_disk / "filler", "wb", buffering=0
    ) as filler:  # every last byte
        for size in (4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    filler.write(b"\0" * size)
    target = small_disk / "g.pt"
    with pytest.raises(
        OSError,
        match="could not write .*g.pt: No space left on device; free some space",
    ):
        with file_lock(target, "the gallery"):
            write_text(target, "a gallery")
    assert [p.name for p in small_disk.iterdir()] == ["filler"]


def test_a_refused_command_leaves_no_empty_folder(tmp_path):
    # Before: check_writable_file and file_lock made the folders of the file to write, and a command refused
    # afterwards (a picture that could not be read) left them behind, empty.
    target = tmp_path / "new" / "deeper" / "g.pt"
    check_writable_file(target, "the gallery")
    with pytest.raises(ValueError, match="refused"):
        with file_lock(target, "the gallery"):
            raise ValueError("refused")
    assert not (tmp_path / "new").exists()
    with file_lock(target, "the gallery"):
        write_text(target, "kept")
    assert target.read_text() == "kept" and sorted(
        p.name for p in target.parent.iterdir()
    ) == ["g.pt"]
    (tmp_path / "a file").write_text("")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        check_writable_file(tmp_path / "a file" / "g.pt", "the gallery")


# ----------------------------------------------------------------------------- concurrent writers

COUNT = """
    import json, sys, time
    from pathlib import Path
    path = Path(sys.argv[1])
    with files.file_lock(path, "the counter"):
        seen = json.loads(path.read_text()) if path.exists() else []
        time.sleep(0.05)  # read, think, write back: where an unlocked writer loses another's update
        files.write_json(path, seen + [sys.argv[2]])
"""


def test_concurrent_read_modify_writes_never_lose_an_update(tmp_path):
    target = tmp_path / "names.json"
    writers = [child(COUNT, target, f"w{i}") for i in range(6)]
    assert [w.wait(timeout=60) for w in writers] == [0] * 6
    assert sorted(json.loads(target.read_text())) == [
        f"w{i}" for i in range(6)
    ]
    assert [p.name for p in tmp_path.iterdir()] == [
        "names.json"
    ]  # the lock file goes with its last holder


def test_a_busy_file_is_refused_or_waited_for_and_a_killed_holder_frees_it(
    tmp_path,
):
    target = tmp_path / "m.pt"
    refuse = """
        import sys
        try:
            with files.file_lock(sys.argv[1], "--out", wait=False):
                print("got it")
        except files.FileBusyError as error:
            print(error)
    """
    with file_lock(target, "--out"):
        busy = child(refuse, target, stdout=subprocess.PIPE, text=True)
        out, _ = busy.communicate(timeout=60)
        assert (
            out.strip()
            == f"--out {target} is being written by process {os.getpid()}; wait until it has "
            f"finished, or use another file."
        )
        with pytest.raises(
            FileBusyError
        ):  # also within one process: a second holder is refused
            with file_lock(target, wait=False):
                pass
    # A holder killed by SIGKILL (it cannot clean up) frees the lock all the same.
    holder = child(
        """
        import os, signal, sys
        with files.file_lock(sys.argv[1]):
            print("holding", flush=True)
            sys.stdin.readline()
    """,
        target,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "holding"
    with pytest.raises(FileBusyError):
        with file_lock(target, wait=False):
            pass
    holder.kill()
    holder.wait(timeout=60)
    with file_lock(target, "the gallery"):
        pass
    assert not list(tmp_path.iterdir())


def test_a_symbolic_link_is_written_through_and_shares_the_lock(tmp_path):
    # Before: the link was replaced by a file, and the file it pointed to kept the old content.
    real = tmp_path / "store" / "gallery.pt"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "gallery.pt"
    link.symlink_to(real)
    atomic_write(link, lambda file: file.write(b"new"))
    assert link.is_symlink() and real.read_bytes() == b"new"
    with file_lock(real):
        with pytest.raises(FileBusyError):
            with file_lock(link, wait=False):
                pass


def test_a_file_that_cannot_be_replaced_is_one_clear_line(tmp_path):
    target = tmp_path / "g.pt"
    target.write_bytes(b"old")
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["chattr", "+i", str(target)], capture_output=True
        ).returncode
    ):
        pytest.skip("cannot make a file immutable here")
    try:
        with pytest.raises(
            OSError,
            match=r"^could not write .*g.pt: Operation not permitted; check the folder",
        ):
            atomic_write(target, lambda file: file.write(b"new"))
    finally:
        subprocess.run(["chattr", "-i", str(target)], check=True)
    assert target.read_bytes() == b"old" and [
        p.name for p in tmp_path.iterdir()
    ] == ["g.pt"]
