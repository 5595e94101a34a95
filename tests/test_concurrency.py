"""Two things at once: enrolments and trainings started together, in real processes, never lose an update."""

import multiprocessing
import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from test_folders import TINY, folder_model  # noqa: F401 (a fixture: a tiny model trained on a folder)

from siamese_tutorial import cli, files
from siamese_tutorial.gallery import Gallery
from siamese_tutorial.training import load_checkpoint

if "fork" not in multiprocessing.get_all_start_methods():
    pytest.skip(
        "needs fork() to start processes that share this one's imports",
        allow_module_level=True,
    )
FORK = multiprocessing.get_context("fork")


def holder(path):
    """A real process that holds the lock of ``path`` until :func:`release` (it loads files.py alone: fast)."""
    code = textwrap.dedent(f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("files", {files.__file__!r})
        files = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(files)
        with files.file_lock(sys.argv[1]):
            print("holding", flush=True)
            sys.stdin.readline()
    """)
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "holding"
    return process


def release(process):
    # A line, not the end of stdin: a child forked meanwhile holds the pipe open too.
    process.communicate("go\n", timeout=60)


def command_in_child(argv, log, slow_save=False):
    """Run the command line in a real child process, forked from this one (torch already imported: no start-up cost),
    its output going to the file ``log``; returns the process, whose exit code is the command's.

    ``slow_save``: the child pauses before it writes a gallery, as a busy machine may: writers that read
    the gallery at the same time then all write it back after each other's reads.
    """

    def run():
        # A forked child must not enter torch's OpenMP thread pool, which fork() does not carry over:
        # with more than one thread it would wait forever for threads that exist only in the parent.
        torch.set_num_threads(1)
        if slow_save:
            save = Gallery.save
            Gallery.save = lambda gallery, path: (
                time.sleep(0.5),
                save(gallery, path),
            )
        with open(log, "w") as out:
            sys.stdout = sys.stderr = out
            code = cli.main([str(a) for a in argv])
            out.flush()
        os._exit(code)

    open(log, "w").close()  # there before the child writes it
    process = FORK.Process(target=run)
    process.start()
    return process


def test_four_enrolments_started_together_all_land(folder_model, tmp_path):
    # Before: all four printed "enrolled" and exited 0; the gallery then held one of the four new names.
    root, model = folder_model
    gallery, pics = tmp_path / "g.pt", root / "pics"
    assert (
        cli.main(
            [
                "enrol",
                str(gallery),
                "first",
                str(pics / "class00" / "0.png"),
                "--model",
                str(model),
            ]
        )
        == 0
    )
    names = [f"class0{c}" for c in range(1, 5)]
    logs = tmp_path / "logs"
    logs.mkdir()
    jobs = [
        command_in_child(
            ["enrol", gallery, name, pics / name / "0.png"],
            logs / name,
            slow_save=True,
        )
        for name in names
    ]
    for job in jobs:
        job.join(timeout=300)
    assert [job.exitcode for job in jobs] == [0] * 4, [
        (logs / name).read_text() for name in names
    ]
    assert sorted(
        Gallery.load(gallery, load_checkpoint(model)[0]).names
    ) == sorted(["first", *names])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "g.pt",
        "logs",
    ]  # no lock file nor temporary file left


def test_a_second_training_into_the_same_file_is_refused(
    folder_model, tmp_path, capsys
):
    # Before: two `train --out m.pt` started together both printed "saved m.pt"; the file held one.
    root, _ = folder_model
    out = tmp_path / "m.pt"
    training = holder(
        out
    )  # what a running `train --out m.pt` holds while it trains
    try:
        code = cli.main(
            ["train", "--data", str(root / "pics"), *TINY, "--out", str(out)]
        )
        _, err = capsys.readouterr()
        assert (
            code == 2
            and err
            == f"error: --out {out} is being written by process {training.pid}; wait until it "
            f"has finished, or use another file.\n"
        )
        assert not out.exists()
    finally:
        release(training)
    assert (
        cli.main(
            ["train", "--data", str(root / "pics"), *TINY, "--out", str(out)]
        )
        == 0
    )  # free again


def test_readers_do_not_wait_for_a_writer_and_a_writer_waits_its_turn(
    folder_model, tmp_path, capsys
):
    root, model = folder_model
    gallery, pics = tmp_path / "g.pt", root / "pics"
    assert (
        cli.main(
            [
                "enrol",
                str(gallery),
                "first",
                str(pics / "class00" / "0.png"),
                "--model",
                str(model),
            ]
        )
        == 0
    )
    writer = holder(gallery)
    try:
        assert (
            cli.main(
                ["identify", str(gallery), str(pics / "class00" / "1.png")]
            )
            == 0
        )  # atomic renames: no lock
        log = tmp_path / "enrol.log"
        enrol = command_in_child(
            ["enrol", gallery, "second", pics / "class01" / "0.png"], log
        )
        waiting = f"the gallery {gallery} is being written by process {writer.pid}; waiting for it to finish\n"
        for _ in range(6000):  # it says so before it waits
            if not enrol.is_alive() or log.read_text().startswith(waiting):
                break
            enrol.join(timeout=0.05)
        assert (
            enrol.is_alive() and log.read_text() == waiting
        )  # still waiting: the other writer holds the lock
    finally:
        release(writer)
    enrol.join(timeout=300)
    assert (
        enrol.exitcode == 0 and "holds 2: first, second" in log.read_text()
    ), log.read_text()
