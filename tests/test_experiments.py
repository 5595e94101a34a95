"""Tests of siamese_tutorial.experiments: the tables and rows the appendix draws from the record."""

from pathlib import Path

import pytest

from siamese_tutorial.experiments import average_table, budget_rows, load_experiments, seed_table, views_table


def record():
    validation = {"runs": {"0": 0.80, "3": 0.82}, "random": {"0": 0.78, "3": 0.79}}
    return {
        "plain": {"group": "recipe", "label": "plain", "steps": 4, "validation": validation,
                  "validation_history": [[2, 0.7], [4, 0.8]], "runs": {"correct": 380, "shifts": 3}},
        "avg-s0": {"group": "ema", "label": "averaged, seed 0", "steps": 4, "validation": validation,
                   "validation_history": [[2, 0.75], [4, 0.80]], "validation_raw_history": [[2, 0.72], [4, 0.77]],
                   "runs": {"correct": 390, "shifts": 3}},
        "avg-s1": {"group": "ema", "label": "averaged, seed 1", "steps": 4, "validation": validation,
                   "validation_history": [[2, 0.79], [4, 0.76]], "validation_raw_history": [[2, 0.70], [4, 0.80]]},
    }


def test_average_table_compares_the_best_raw_and_averaged_scores_of_each_seed():
    table = average_table(record(), "ema")
    assert table["recipe"].tolist() == ["averaged, seed 0", "averaged, seed 1"]
    assert table["raw weights (%)"].tolist() == pytest.approx([77.0, 80.0])
    assert table["averaged weights (%)"].tolist() == pytest.approx([80.0, 79.0])
    assert table["gain (points)"].tolist() == pytest.approx([3.0, -1.0])
    assert table["averaged, shifts (%)"].tolist() == pytest.approx([82.0, 80.0])  # the runs' shifts, else none
    assert table["20 runs (of 400)"].tolist()[0] == 390


def test_seed_table_reads_validation_with_the_runs_shifts_or_the_shifts_asked_for():
    table = seed_table(record(), ("ema", "recipe"))
    assert table["recipe"].tolist() == ["averaged, seed 0", "averaged, seed 1", "plain"]  # in the order of groups
    assert table["shifts"].tolist() == [3, 0, 3]  # the runs' shifts; none where the runs were not scored
    assert table["validation, runs-style (%)"].tolist() == pytest.approx([82.0, 80.0, 82.0])
    assert table["20 runs (of 400)"].tolist()[:1] == [390] and table["20 runs (of 400)"].isna().tolist()[1]
    asked = seed_table(record(), ("ema",), shifts=3)
    assert asked["shifts"].tolist() == [3, 3]
    assert asked["validation, random (%)"].tolist() == pytest.approx([79.0, 79.0])


def test_budget_rows_draw_the_kept_or_the_raw_weights_history():
    names = {"ema": "averaged"}
    assert [row["accuracy"] for row in budget_rows(record(), names)] == [0.75, 0.80, 0.79, 0.76]
    raw = budget_rows(record(), names, history="validation_raw_history")
    assert [(row["budget"], row["accuracy"]) for row in raw] == [(2, 0.72), (4, 0.77), (2, 0.70), (4, 0.80)]
    assert budget_rows(record(), {"recipe": "plain"}, history="validation_raw_history") == []


def test_views_table_has_a_row_per_set_of_views_and_a_column_per_encoder():
    experiments = record()
    experiments["plain"]["test_time_views"] = {"3-pixel shifts: the 5 views": 0.82, "+ rotations": 0.815}
    experiments["avg-s0"]["test_time_views"] = {"3-pixel shifts: the 5 views": 0.80, "+ rotations": 0.8025}
    table = views_table(experiments, {"avg-s0": "averaged", "plain": "plain"})
    assert table.columns.tolist() == ["test-time views", "averaged (%)", "plain (%)"]
    assert table["test-time views"].tolist() == ["3-pixel shifts: the 5 views", "+ rotations"]
    assert table["averaged (%)"].tolist() == pytest.approx([80.0, 80.25])
    assert table["plain (%)"].tolist() == pytest.approx([82.0, 81.5])


def test_the_shipped_record_has_the_fields_the_appendix_reads():
    experiments = load_experiments()
    recipe = seed_table(experiments, ("recipe",))
    assert len(recipe) == 3 and recipe["20 runs (of 400)"].notna().all()
    for entry in experiments.values():
        assert {"group", "label", "command", "steps", "validation"} <= entry.keys()
        if entry["group"] == "ema":  # the runs whose weights were averaged
            assert len(entry["validation_raw_history"]) == len(entry["validation_history"])


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
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text().splitlines()
    experiments = load_experiments()
    for start, group in README_ROWS.items():
        (row,) = [line for line in readme if line.startswith(f"| {start}")]
        correct = seed_table(experiments, (group,))["20 runs (of 400)"].tolist()
        figures = ", ".join(map(str, correct))
        if len(correct) > 1:
            figures += f" (mean {sum(correct) / len(correct) / 400:.2%})"
        assert row.endswith(f"| {figures} |"), (row, figures)
