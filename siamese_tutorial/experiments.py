"""The record of how the shipped encoders were made: the recipe search, its seeds and budgets.

``benchmarks/experiments.py`` trains every run of the search with the package's command line,
scores it on validation (and, once per final recipe, on the 20 official runs) and writes
``results/experiments.json``; ``benchmarks/run.py`` writes the speed measurements to
``results/benchmarks.json``. Both files ship with the package, so that a chapter opened alone
(Colab, or the package installed from a wheel) reads them as the book does. This module turns
them into the tables and rows the book shows, so that the chapters hold no plumbing.

Each experiment is a dict with ``group`` (``"recipe"``, ``"search"``, ``"contrastive"``,
``"classifier"``), ``label``, ``command``, ``steps``, ``minutes``, ``machine``, ``validation``
(accuracy by episode ``style`` and test-time ``shifts``, at the kept step), optionally
``validation_normalized`` (the classifier's features L2-normalised) and ``chosen`` (which of the
two was chosen on validation), ``validation_history`` (``[step, accuracy]`` pairs, runs-style
episodes without shifts), for a run whose weights were averaged (``--ema``) ``validation_raw_history``
(the raw weights' scores at the same steps; ``validation_history`` holds the averaged weights'),
``test_time_views`` (runs-style validation with the 3-pixel shifts' 5 views alone and with each set of
extra views, rotations, scales, shears, added to them) and ``runs`` (the 20 official runs, scored once).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .files import read_json

__all__ = [
    "RESULTS_DIR",
    "load_experiments",
    "load_benchmarks",
    "chosen_validation",
    "seed_table",
    "budget_rows",
    "average_table",
    "shifts_table",
    "views_table",
]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
"""Where the records ship, inside the package."""


def load_experiments() -> dict[str, dict[str, Any]]:
    """Every experiment of the recipe search, by name (see the module's docstring)."""
    return read_json(RESULTS_DIR / "experiments.json", "the experiments' record")


def load_benchmarks() -> dict[str, Any]:
    """The last run of ``make benchmarks``: losses, training, evaluation and chapters, with the machine."""
    return read_json(RESULTS_DIR / "benchmarks.json", "the benchmark results")


def chosen_validation(entry: dict[str, Any]) -> dict[str, dict[str, float]]:
    """An experiment's validation accuracy, ``{style: {shifts: accuracy}}``, in the form chosen on validation.

    For the classifier that is its features L2-normalised or raw, whichever validated better.
    """
    return entry[entry.get("chosen", "validation")]


def _runs_shifts(entry: dict[str, Any]) -> str:
    """The test-time shifts an experiment's runs were scored with (chosen on validation), or "0" if unscored."""
    return str(entry["runs"]["shifts"]) if "runs" in entry else "0"


def seed_table(experiments: dict[str, dict[str, Any]], groups: tuple[str, ...],
               shifts: int | None = None) -> pd.DataFrame:
    """One row per experiment of ``groups``, group by group: validation (both styles) and the 20 runs.

    The validation is with ``shifts`` pixels of test-time shifts, by default those the runs were
    scored with (0 where they were not). Columns: ``recipe``, ``steps``, ``shifts``,
    ``validation, runs-style (%)``, ``validation, random (%)`` and ``20 runs (of 400)`` (missing where
    the runs were not scored).
    """
    rows = []
    chosen = [entry for entry in experiments.values() if entry["group"] in groups]
    for entry in sorted(chosen, key=lambda entry: groups.index(entry["group"])):  # in the order of groups
        shifts_of = _runs_shifts(entry) if shifts is None else str(shifts)
        validation = chosen_validation(entry)
        rows.append({
            "recipe": entry["label"],
            "steps": entry["steps"],
            "shifts": int(shifts_of),
            "validation, runs-style (%)": 100 * validation["runs"][shifts_of],
            "validation, random (%)": 100 * validation["random"][shifts_of],
            "20 runs (of 400)": entry.get("runs", {}).get("correct"),
        })
    return pd.DataFrame(rows).astype({"20 runs (of 400)": "Int64"})  # whole trials, <NA> where not scored


def budget_rows(experiments: dict[str, dict[str, Any]], names: dict[str, str],
                history: str = "validation_history") -> list[dict[str, Any]]:
    """Runs-style validation along each run's schedule, for :func:`~siamese_tutorial.plotting.plot_accuracy_by_budget`.

    Parameters
    ----------
    experiments : dict
        From :func:`load_experiments`.
    names : dict of str to str
        The groups to draw, each with the name of its line; runs of one group are its seeds.
    history : str
        ``"validation_history"`` (the kept weights: the averaged ones where weights were averaged) or
        ``"validation_raw_history"`` (the raw weights of a run whose weights were averaged).

    Returns
    -------
    list of dict
        ``{"recipe", "budget", "accuracy"}`` with the budget in steps and the accuracy in [0, 1]
        (runs-style validation episodes without test-time shifts, as recorded along the way).
    """
    return [
        {"recipe": names[entry["group"]], "budget": step, "accuracy": accuracy}
        for entry in experiments.values() if entry["group"] in names
        for step, accuracy in entry.get(history, [])
    ]


def average_table(experiments: dict[str, dict[str, Any]], group: str) -> pd.DataFrame:
    """The runs of ``group`` (trained with averaged weights), one row per seed: the best runs-style validation
    (no shifts) of the raw weights and of their average, at the same validated steps, and the 20 runs.

    Columns: ``recipe``, ``raw weights (%)``, ``averaged weights (%)``, ``gain (points)``,
    ``averaged, shifts (%)`` (runs-style validation with the runs' shifts) and ``20 runs (of 400)``.
    """
    rows = []
    for entry in experiments.values():
        if entry["group"] != group:
            continue
        raw = max(accuracy for _, accuracy in entry["validation_raw_history"])
        averaged = max(accuracy for _, accuracy in entry["validation_history"])
        shifts = _runs_shifts(entry)
        rows.append({
            "recipe": entry["label"],
            "raw weights (%)": 100 * raw,
            "averaged weights (%)": 100 * averaged,
            "gain (points)": 100 * (averaged - raw),
            "averaged, shifts (%)": 100 * entry["validation"]["runs"][shifts],
            "20 runs (of 400)": entry.get("runs", {}).get("correct"),
        })
    return pd.DataFrame(rows)


def shifts_table(entry: dict[str, Any]) -> pd.DataFrame:
    """An experiment's validation accuracy for each number of test-time shifts, both episode styles."""
    validation = chosen_validation(entry)
    return pd.DataFrame([
        {"shifts (pixels)": int(shifts), "validation, runs-style (%)": 100 * validation["runs"][shifts],
         "validation, random (%)": 100 * validation["random"][shifts]}
        for shifts in sorted(validation["runs"], key=int)
    ])


def views_table(experiments: dict[str, dict[str, Any]], names: dict[str, str]) -> pd.DataFrame:
    """Runs-style validation of the named experiments with each set of test-time views, one row per set.

    Parameters
    ----------
    experiments : dict
        From :func:`load_experiments`.
    names : dict of str to str
        The experiments to show (those measured with extra views), each with the name of its column.

    Returns
    -------
    pandas.DataFrame
        Column ``test-time views`` (the 3-pixel shifts' 5 views first, then each set of extra views added),
        then ``<name> (%)`` for each experiment.
    """
    columns = {f"{shown} (%)": experiments[name]["test_time_views"] for name, shown in names.items()}
    first = next(iter(columns.values()))
    return pd.DataFrame([
        {"test-time views": views, **{column: 100 * scores[views] for column, scores in columns.items()}}
        for views in first
    ])
