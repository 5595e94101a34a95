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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..files import read_json

__all__ = [
    "RESULTS_DIR",
    "load_experiments",
    "load_benchmarks",
    "chosen_validation",
    "seed_table",
    "Idea",
    "IDEAS",
    "idea_rows",
    "ideas_table",
]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
"""Where the records ship, inside the package."""


def load_experiments() -> dict[str, dict[str, Any]]:
    """Every experiment of the recipe search, by name (see the module's docstring)."""
    return read_json(
        RESULTS_DIR / "experiments.json", "the experiments' record"
    )


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


def seed_table(
    experiments: dict[str, dict[str, Any]],
    groups: tuple[str, ...],
    shifts: int | None = None,
) -> pd.DataFrame:
    """One row per experiment of ``groups``, group by group: validation (both styles) and the 20 runs.

    The validation is with ``shifts`` pixels of test-time shifts, by default those the runs were
    scored with (0 where they were not). Columns: ``recipe``, ``steps``, ``shifts``,
    ``validation, runs-style (%)``, ``validation, random (%)`` and ``20 runs (of 400)`` (missing where
    the runs were not scored).
    """
    rows = []
    chosen = [
        entry for entry in experiments.values() if entry["group"] in groups
    ]
    for entry in sorted(
        chosen, key=lambda entry: groups.index(entry["group"])
    ):  # in the order of groups
        shifts_of = _runs_shifts(entry) if shifts is None else str(shifts)
        validation = chosen_validation(entry)
        rows.append(
            {
                "recipe": entry["label"],
                "steps": entry["steps"],
                "shifts": int(shifts_of),
                "validation, runs-style (%)": 100
                * validation["runs"][shifts_of],
                "validation, random (%)": 100
                * validation["random"][shifts_of],
                "20 runs (of 400)": entry.get("runs", {}).get("correct"),
            }
        )
    return pd.DataFrame(rows).astype(
        {"20 runs (of 400)": "Int64"}
    )  # whole trials, <NA> where not scored


@dataclass(frozen=True)
class Idea:
    """A variation of the recipe that the record measured.

    Attributes
    ----------
    group : str
        Its runs' ``group`` in the record (one run a seed).
    name : str
        Its name in the book's table and figure.
    against : str or None
        The group it was measured against, the recipe it varies (None for the first recipe).
    by_design : bool
        Trained and scored on the runs because a chapter compares it, not chosen by the rule.
    """

    group: str
    name: str
    against: str | None
    by_design: bool = False


IDEAS = (
    Idea("recipe", "the recipe", None, by_design=True),
    Idea("contrastive", "contrastive loss instead", "recipe", by_design=True),
    Idea("classifier", "softmax classifier instead", "recipe", by_design=True),
    Idea("search", "width 96 (6,100 steps)", "recipe"),
    Idea("mirror", "mirror images as classes", "recipe"),
    Idea("distortion1.5", "distortions x 1.5", "recipe"),
    Idea("distortion0.5", "distortions x 0.5", "recipe"),
    Idea("distortion0.5-12k", "x 0.5, 12,000 steps", "distortion0.5"),
    Idea("long", "x 0.5, 30,000 steps", "distortion0.5"),
    Idea("distortion0.25-12k", "x 0.25, 12,000 steps", "distortion0.5-12k"),
    Idea("pk64x2", "batches of 64 x 2", "distortion0.5-12k"),
    Idea("embedding64", "a 64-d embedding", "distortion0.5-12k"),
    Idea("embedding256", "a 256-d embedding", "distortion0.5-12k"),
    Idea("lr0.002", "learning rate x 2", "distortion0.5-12k"),
    Idea("lr0.0005", "learning rate x 0.5", "distortion0.5-12k"),
    Idea("group", "batches of one alphabet", "distortion0.5-12k"),
    Idea("batchhard", "batch-hard triplets", "distortion0.5-12k"),
    Idea("batchhardsoft", "batch-hard, soft margin", "distortion0.5-12k"),
)
"""Every idea the record measured, grouped by the recipe it varies ("x 0.5": distortions half as
strong). Each was trained with that recipe except in its name; the 12,000-step ones on a faster step."""


def _validation(entry: dict[str, Any]) -> float:
    """A run's runs-style validation in %, with the shifts its runs were scored with (3 where unscored)."""
    return (
        100
        * chosen_validation(entry)["runs"][
            _runs_shifts(entry) if "runs" in entry else "3"
        ]
    )


def idea_rows(experiments: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each idea of :data:`IDEAS` with its seeds' validation, its recipe's, and the runs where scored.

    Returns
    -------
    list of dict
        ``{"idea", "varies", "by_design", "seeds", "against", "runs"}``: ``varies`` the name of the
        recipe it varies (None for the first recipe); ``by_design`` as in :class:`Idea`; ``seeds`` the
        runs-style validation (%) of each seed, seed 0 first; ``against`` the same for the recipe it
        varies (empty for the first recipe); ``runs`` each seed's score on the 20 official runs (of
        400), where they were scored.
    """

    def runs_of(group: str | None) -> list[dict[str, Any]]:
        return [
            entry for entry in experiments.values() if entry["group"] == group
        ]

    names = {idea.group: idea.name for idea in IDEAS}
    return [
        {
            "idea": idea.name,
            "varies": names.get(idea.against),
            "by_design": idea.by_design,
            "seeds": [_validation(entry) for entry in runs_of(idea.group)],
            "against": [_validation(entry) for entry in runs_of(idea.against)],
            "runs": [
                entry["runs"]["correct"]
                for entry in runs_of(idea.group)
                if "runs" in entry
            ],
        }
        for idea in IDEAS
    ]


def ideas_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """:func:`idea_rows` as a table: one row per idea.

    Columns: ``idea``, ``varies`` (the recipe it varies), ``seeds``, ``validation (%)`` (the seeds'
    mean), ``vs. its recipe`` (that mean less its recipe's mean, in points; missing for the first
    recipe) and ``20 runs (of 400)`` (each seed's, where scored).
    """

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    return pd.DataFrame(
        [
            {
                "idea": row["idea"],
                "varies": row["varies"],
                "seeds": len(row["seeds"]),
                "validation (%)": mean(row["seeds"]),
                "vs. its recipe": mean(row["seeds"]) - mean(row["against"])
                if row["against"]
                else None,
                "20 runs (of 400)": ", ".join(map(str, row["runs"])) or None,
            }
            for row in rows
        ]
    )
