"""Shared fixtures: the real Omniglot data, loaded once per test session from the project's data folder."""

import pytest

from siamese_tutorial.data import load_omniglot, load_one_shot_runs


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
