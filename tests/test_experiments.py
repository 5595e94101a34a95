"""Tests of siamese_tutorial.experiments: the tables and rows the appendix draws from the record."""

from pathlib import Path

import pytest

from siamese_tutorial.experiments import (
    IDEAS,
    idea_rows,
    ideas_table,
    load_experiments,
    seed_table,
)


def record():
    validation = {
        "runs": {"0": 0.80, "3": 0.82},
        "random": {"0": 0.78, "3": 0.79},
    }
    return {
        "plain": {
            "group": "recipe",
            "label": "plain",
            "steps": 4,
            "validation": validation,
            "validation_history": [[2, 0.7], [4, 0.8]],
            "runs": {"correct": 380, "shifts": 3},
        },
        "avg-s0": {
            "group": "ema",
            "label": "averaged, seed 0",
            "steps": 4,
            "validation": validation,
            "validation_history": [[2, 0.75], [4, 0.80]],
            "validation_raw_history": [[2, 0.72], [4, 0.77]],
            "runs": {"correct": 390, "shifts": 3},
        },
        "avg-s1": {
            "group": "ema",
            "label": "averaged, seed 1",
            "steps": 4,
            "validation": validation,
            "validation_history": [[2, 0.79], [4, 0.76]],
            "validation_raw_history": [[2, 0.70], [4, 0.80]],
        },
    }


def test_seed_table_reads_validation_with_the_runs_shifts_or_the_shifts_asked_for():
    table = seed_table(record(), ("ema", "recipe"))
    assert table["recipe"].tolist() == [
        "averaged, seed 0",
        "averaged, seed 1",
        "plain",
    ]  # in the order of groups
    assert table["shifts"].tolist() == [
        3,
        0,
        3,
    ]  # the runs' shifts; none where the runs were not scored
    assert table["validation, runs-style (%)"].tolist() == pytest.approx(
        [82.0, 80.0, 82.0]
    )
    assert (
        table["20 runs (of 400)"].tolist()[:1] == [390]
        and table["20 runs (of 400)"].isna().tolist()[1]
    )
    asked = seed_table(record(), ("ema",), shifts=3)
    assert asked["shifts"].tolist() == [3, 3]
    assert asked["validation, random (%)"].tolist() == pytest.approx(
        [79.0, 79.0]
    )


def test_ideas_set_each_idea_s_seeds_against_the_recipe_it_varies():
    experiments = record()
    experiments["wide"] = {
        "group": "search",
        "label": "wide",
        "steps": 4,
        "validation": {"runs": {"3": 0.81}, "random": {"3": 0.8}},
    }
    rows = idea_rows(experiments)
    assert [row["idea"] for row in rows] == [idea.name for idea in IDEAS]
    by_name = {row["idea"]: row for row in rows}
    recipe, wide = by_name[IDEAS[0].name], by_name["width 96 (6,100 steps)"]
    assert (
        recipe["seeds"] == pytest.approx([82.0])
        and recipe["against"] == []
        and recipe["runs"] == [380]
    )
    assert wide["seeds"] == pytest.approx([81.0]) and wide[
        "against"
    ] == pytest.approx([82.0])  # 3 pixels, unscored
    assert wide["runs"] == []
    table = ideas_table([recipe, wide])
    assert table.columns.tolist() == [
        "idea",
        "varies",
        "seeds",
        "validation (%)",
        "vs. its recipe",
        "20 runs (of 400)",
    ]
    assert table["vs. its recipe"].isna().tolist() == [True, False]
    assert table["varies"].isna().tolist() == [True, False]
    assert table["varies"].iloc[1] == IDEAS[0].name
    assert recipe["by_design"] and not wide["by_design"]
    assert table["vs. its recipe"].iloc[1] == pytest.approx(-1.0)
    assert (
        table["20 runs (of 400)"].iloc[0] == "380"
        and table["20 runs (of 400)"].isna().iloc[1]
    )


def test_the_shipped_record_has_the_fields_the_appendix_reads():
    experiments = load_experiments()
    recipe = seed_table(experiments, ("recipe",))
    assert len(recipe) == 3 and recipe["20 runs (of 400)"].notna().all()
    for entry in experiments.values():
        assert {
            "group",
            "label",
            "command",
            "steps",
            "validation",
        } <= entry.keys()
        assert (
            entry["group"] != "recipe" or entry["validation_history"]
        )  # what the budget buys
    # every idea has its runs in the record, and every group of the record is an idea
    assert {idea.group for idea in IDEAS} == {
        entry["group"] for entry in experiments.values()
    }
    assert all(row["seeds"] for row in idea_rows(experiments))


# The README's table of results is typed by hand: each row's start and the group of runs it reports.
README_ROWS = {
    "semi-hard triplets, 40 x 40": "recipe",
    "semi-hard triplets, distortions half as strong (": "distortion0.5",
    "semi-hard triplets, distortions half as strong, 12,000 steps": "distortion0.5-12k",
    "semi-hard triplets, distortions a quarter as strong": "distortion0.25-12k",
    "semi-hard triplets, distortions half as strong, 30,000 steps": "long",
    "contrastive loss": "contrastive",
    "softmax classifier": "classifier",
}


def test_the_readme_reports_the_runs_of_the_record():
    readme = (
        (Path(__file__).resolve().parent.parent / "README.md")
        .read_text()
        .splitlines()
    )
    experiments = load_experiments()
    for start, group in README_ROWS.items():
        (row,) = [line for line in readme if line.startswith(f"| {start}")]
        correct = seed_table(experiments, (group,))[
            "20 runs (of 400)"
        ].tolist()
        figures = ", ".join(map(str, correct))
        if len(correct) > 1:
            figures += f" (mean {sum(correct) / len(correct) / 400:.2%})"
        assert row.endswith(f"| {figures} |"), (row, figures)
