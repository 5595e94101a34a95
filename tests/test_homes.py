"""Messages and documentation point to where things really live."""

from pathlib import Path

import pytest

from siamese_tutorial import omniglot
from siamese_tutorial.baselines import mhd_cost
from siamese_tutorial.evaluation import one_shot_accuracy_from_cost

ROOT = Path(__file__).resolve().parent.parent


def test_the_empty_runs_message_names_the_real_home_of_load_one_shot_runs():
    # Before: "load the official runs with data.load_one_shot_runs()", which does not exist.
    with pytest.raises(
        ValueError,
        match=r"with siamese_tutorial\.omniglot\.load_one_shot_runs\(\)",
    ):
        one_shot_accuracy_from_cost(mhd_cost, [])
    assert hasattr(omniglot, "load_one_shot_runs")


def test_the_data_folder_readme_names_the_module_that_reads_it():
    # Before: "`siamese_tutorial.data` looks for, in this order", but Omniglot's files are read by siamese_tutorial.omniglot.
    text = (ROOT / "data" / "README.md").read_text()
    assert (
        "`siamese_tutorial.omniglot`" in text
        and "`siamese_tutorial.data` looks for" not in text
    )
