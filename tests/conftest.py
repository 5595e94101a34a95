"""Shared fixtures: the real Omniglot data, loaded once per test session from the project's data folder."""

import os
import subprocess
from pathlib import Path

import pytest
import torch

from siamese_tutorial.omniglot import load_omniglot, load_one_shot_runs


@pytest.fixture(scope="session")
def omniglot_background():
    return load_omniglot("background", image_size=28, download=False)


@pytest.fixture(scope="session")
def omniglot_evaluation():
    return load_omniglot("evaluation", image_size=28, download=False)


@pytest.fixture(scope="session")
def one_shot_runs():
    """The 20 official runs at the original 105 x 105 size (binary images)."""
    return load_one_shot_runs(image_size=105, download=False)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: thread start-up and contention on a busy CI machine cost more than they save."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def read_only():
    """``read_only(folder)`` makes a folder refuse new files, for real, until the test ends.

    File modes do not bind root (as in CI's containers), so there the folder gets the immutable
    flag, which binds root too; the test is skipped where neither works.
    """
    made = []

    def make(folder):
        if os.geteuid() != 0:
            folder.chmod(0o555)
        elif (
            subprocess.run(
                ["chattr", "+i", str(folder)], capture_output=True
            ).returncode
            != 0
        ):
            pytest.skip(
                "cannot make a folder read-only here (root, and no chattr)"
            )
        made.append(folder)
        return folder

    yield make
    for folder in made:
        if os.geteuid() != 0:
            folder.chmod(0o755)
        else:
            subprocess.run(["chattr", "-i", str(folder)], check=True)


@pytest.fixture
def built_book():
    """The built HTML book that SIAMESE_BOOK_HTML names (make test sets it after make book), else a skip."""
    if not os.environ.get("SIAMESE_BOOK_HTML"):
        pytest.skip(
            "no built book: set SIAMESE_BOOK_HTML=_build/html after make book (make test does)"
        )
    return Path(os.environ["SIAMESE_BOOK_HTML"])
