"""Accuracy against training time: the triplet and the contrastive recipe given 5, 10, 30 and 60 minutes.

    python benchmarks/curve.py                     # train what is missing, score everything
    python benchmarks/curve.py --budgets 5 10      # only these budgets (minutes)

Each run is the package's own command line, ``python -m siamese_tutorial train``, on one CPU thread,
two runs at a time (the triplet and the contrastive run of a budget, one per core of a 2-core
machine). The number of steps is the budget over the measured seconds per step, so that the
cosine schedule ends on time, and ``--minutes`` stops a slower machine at the budget in any case.
A checkpoint already in ``runs/curve/`` with its card is not trained again.

Each run keeps the step with the best validation score (episodes of the 10 validation alphabets).
The 20 official runs are scored once per run, for this table, with the test-time augmentation
of the recipe's shipped encoder (its card's ``shifts``, chosen on validation). Results go to
``benchmarks/curve.json``, read by the book.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from siamese_tutorial.__main__ import VALIDATION_EPISODES, VALIDATION_SEED
from siamese_tutorial.data import load_one_shot_runs, load_validation_set
from siamese_tutorial.evaluation import episode_accuracy, one_shot_accuracy
from siamese_tutorial.pretrained import available_pretrained
from siamese_tutorial.training import load_checkpoint

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RUNS = Path("runs") / "curve"  # relative to ROOT, so that the commands recorded in the cards are portable
BUDGETS = (5, 10, 30, 60)
SEED = 0
# The recipes, and the seconds one training step takes on one thread of the 2-core machine (with
# the other core busy), validation included: measured, then used to fit the schedule to a budget.
RECIPES = {
    "triplet": (["--loss", "semi_hard", "--margin", "0.2", "--image-size", "40"], 0.60),
    "contrastive": (["--loss", "contrastive", "--margin", "0.5", "--image-size", "40"], 0.60),
}


def checkpoint(recipe: str, minutes: int) -> Path:
    return ROOT / RUNS / f"{recipe}-{minutes}min.pt"


def train_command(recipe: str, minutes: int) -> list[str]:
    args, seconds_per_step = RECIPES[recipe]
    steps = int(minutes * 60 / seconds_per_step)
    return [sys.executable, "-m", "siamese_tutorial", "train", *args, "--steps", str(steps), "--minutes",
            str(minutes), "--seed", str(SEED), "--quiet", "--out", str(RUNS / f"{recipe}-{minutes}min.pt")]


def train_missing(budgets: list[int]) -> None:
    """Train, two at a time on one thread each, the runs whose checkpoint is not there yet."""
    (ROOT / RUNS).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for minutes in budgets:
        todo = [recipe for recipe in RECIPES if not checkpoint(recipe, minutes).with_suffix(".json").exists()]
        jobs = [subprocess.Popen(train_command(recipe, minutes), env=env, cwd=ROOT) for recipe in todo]
        print(f"{minutes} min: training {', '.join(todo) or 'nothing (done before)'}", flush=True)
        if any(job.wait() for job in jobs):
            raise SystemExit(f"a training run of the {minutes}-minute budget failed")


def score(budgets: list[int]) -> list[dict]:
    rows = []
    for minutes in budgets:
        for recipe in RECIPES:
            shifts = available_pretrained()[recipe]["runs"]["shifts"]
            path = checkpoint(recipe, minutes)
            card = json.loads(path.with_suffix(".json").read_text())
            encoder, _ = load_checkpoint(path)
            size = card["config"]["image_size"]
            validation = episode_accuracy(encoder, load_validation_set(size), num_episodes=VALIDATION_EPISODES,
                                          seed=VALIDATION_SEED, shifts=shifts)
            test = one_shot_accuracy(encoder, load_one_shot_runs(size), shifts=shifts)
            rows.append({
                "recipe": recipe, "budget_minutes": minutes, "training_minutes": card["training_minutes"],
                "steps_trained": card["steps_trained"], "step_kept": card["validation"]["step_kept"],
                "seed": card["config"]["seed"], "command": card["command"], "machine": card["machine"],
                "shifts": shifts, "validation_accuracy": validation.accuracy,
                "runs_accuracy": test.accuracy, "runs_correct": test.correct, "runs_ci95": list(test.confidence_interval),
            })
            print(f"{recipe:12s} {minutes:3d} min: validation {validation.accuracy:.4f}, "
                  f"20 runs {test.correct}/400 = {100 * test.accuracy:.2f}%", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS), help="minutes of training")
    budgets = parser.parse_args().budgets
    train_missing(budgets)
    path = HERE / "curve.json"
    old = json.loads(path.read_text()) if path.exists() else []
    rows = [row for row in old if row["budget_minutes"] not in budgets] + score(budgets)
    rows.sort(key=lambda row: (row["recipe"], row["budget_minutes"]))
    path.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"written {path}")


if __name__ == "__main__":
    main()
