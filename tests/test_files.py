"""siamese_tutorial.files: atomic writes, and what a killed writer leaves behind."""

import math
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from siamese_tutorial.files import atomic_write, check_writable_file, read_json, write_json

def test_atomic_write_replaces_only_when_complete(tmp_path):
    target = tmp_path / "sub" / "card.json"
    atomic_write(target, lambda file: file.write(b"first"))
    assert target.read_bytes() == b"first"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would make it, not mkstemp's 0600

    def fail(file):
        file.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, fail)
    assert target.read_bytes() == b"first" and [p.name for p in target.parent.iterdir()] == ["card.json"]



def test_a_killed_writer_leaves_a_part_file_that_the_next_writer_removes(tmp_path):
    # SIGKILL in the middle of a write: the old file is intact and a .part is left (a killed process
    # cannot clean up); the next write of the same file removes the dead writer's .part, and only it.
    target = tmp_path / "model.pt"
    atomic_write(target, lambda file: file.write(b"old"))
    child = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, signal
        from siamese_tutorial.files import atomic_write
        def write(file):
            file.write(b"half")
            file.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        atomic_write({str(target)!r}, write)
    """)])
    assert child.returncode == -signal.SIGKILL
    dead = list(tmp_path.glob(".model.pt.*.part"))
    assert len(dead) == 1 and target.read_bytes() == b"old"
    alive = tmp_path / f".model.pt.{os.getpid()}.abcd.part"  # a writer still at work: left alone
    alive.write_bytes(b"busy")
    other = tmp_path / ".model.pt.json.99999999.x.part"  # another file's temporary file: left alone
    other.write_bytes(b"")
    atomic_write(target, lambda file: file.write(b"new"))
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, other.name, "model.pt"])


def test_write_json_refuses_nan_and_read_json_names_the_file(tmp_path):
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        write_json(tmp_path / "card.json", {"accuracy": math.nan})
    assert not list(tmp_path.iterdir())
    (tmp_path / "card.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"card.json is not valid JSON .*; it should be a card"):
        read_json(tmp_path / "card.json", "a card")
    with pytest.raises(FileNotFoundError, match="missing.json does not exist; it should be a card"):
        read_json(tmp_path / "missing.json", "a card")


def test_check_writable_file_fails_before_any_work(tmp_path, read_only):
    assert check_writable_file(tmp_path / "new" / "m.pt", "--out") == tmp_path / "new" / "m.pt"
    with pytest.raises(ValueError, match="is a folder; give a file name inside it"):
        check_writable_file(tmp_path, "--out")
    locked = tmp_path / "locked"
    locked.mkdir()
    read_only(locked)
    with pytest.raises(ValueError, match="cannot be written"):
        check_writable_file(locked / "m.pt", "--out")
