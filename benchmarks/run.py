"""Benchmarks, in one run: loss and mining throughput against pytorch-metric-learning, training
throughput of the recipe, one-shot evaluation time, and the time to execute each chapter.

    python benchmarks/run.py                 # everything (about 10 minutes on 2 CPU cores)
    python benchmarks/run.py --only losses   # one part: losses, training, evaluation, chapters

Results go to ``benchmarks/results.json`` (read by the book's introduction) and
``benchmarks/RESULTS.md``, with the machine they were measured on. These are measurements, not
tests: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from pytorch_metric_learning import distances, losses, miners, reducers

from siamese_tutorial.evaluation import one_shot_accuracy
from siamese_tutorial.losses import batch_all_triplet_loss, batch_contrastive_loss, batch_hard_triplet_loss
from siamese_tutorial.omniglot import load_omniglot, load_one_shot_runs
from siamese_tutorial.pretrained import available_pretrained, load_pretrained
from siamese_tutorial.recipe import TrainConfig, machine_description, train_encoder

HERE = Path(__file__).resolve().parent
MARGIN = 0.2
BATCH_SIZES = (128, 256, 512, 1024)
EMBEDDING_SIZES = (64, 128, 256, 512)
K = 4  # images per class in a batch: P = B / K classes


def seconds_per_call(fn: Callable[[], object], min_time: float = 0.3, repeats: int = 5) -> float:
    """Median over ``repeats`` of the mean time of a call, each timing at least ``min_time`` seconds."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < min_time or calls == 0:
            fn()
            calls += 1
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


def pml_losses() -> dict[str, Callable]:
    """pytorch-metric-learning's versions, on plain (unnormalised) Euclidean distances like ours."""
    euclidean = distances.LpDistance(normalize_embeddings=False)
    hard_miner = miners.BatchHardMiner(distance=euclidean)
    hard_loss = losses.TripletMarginLoss(margin=MARGIN, distance=euclidean, reducer=reducers.MeanReducer())
    all_loss = losses.TripletMarginLoss(margin=MARGIN, distance=euclidean)  # all triplets, mean of non-zero
    contrastive = losses.ContrastiveLoss(pos_margin=0.0, neg_margin=1.0, distance=euclidean)
    return {
        "batch_hard": lambda z, y: hard_loss(z, y, hard_miner(z, y)),
        "batch_all": lambda z, y: all_loss(z, y),
        "contrastive": lambda z, y: contrastive(z, y),
    }


OURS = {
    "batch_hard": lambda z, y: batch_hard_triplet_loss(z, y, MARGIN),
    "batch_all": lambda z, y: batch_all_triplet_loss(z, y, MARGIN),
    "contrastive": lambda z, y: batch_contrastive_loss(z, y, 1.0),
}
# pytorch-metric-learning's ContrastiveLoss is relu(d) + relu(m - d), unsquared and without the
# 1/2 factors of Hadsell et al. (2006), each averaged over its non-zero pairs: the same work, a
# different number. The triplet losses compute the same quantity and must agree.
SAME_QUANTITY = {"batch_hard", "batch_all"}


def bench_losses() -> list[dict]:
    theirs = pml_losses()
    rows = []
    for b in BATCH_SIZES:
        for d in EMBEDDING_SIZES:
            generator = torch.Generator().manual_seed(b + d)
            base = torch.randn(b, d, generator=generator)
            labels = torch.arange(b // K).repeat_interleave(K)
            for name in OURS:
                results = {}
                for library, fn in (("ours", OURS[name]), ("pml", theirs[name])):
                    z = base.clone().requires_grad_(True)

                    def step() -> None:
                        z.grad = None
                        fn(z, labels).backward()

                    results[library] = (seconds_per_call(step), float(fn(z, labels).detach()))
                row = {"loss": name, "batch": b, "dim": d, "ours_ms": 1000 * results["ours"][0],
                       "pml_ms": 1000 * results["pml"][0], "speedup": results["pml"][0] / results["ours"][0]}
                if name in SAME_QUANTITY:
                    row["agree"] = abs(results["ours"][1] - results["pml"][1]) <= 1e-4 * max(1.0, abs(results["pml"][1]))
                rows.append(row)
                print(f"{name:12s} B={b:5d} D={d:4d}  ours {row['ours_ms']:8.2f} ms  pml {row['pml_ms']:8.2f} ms  "
                      f"x{row['speedup']:.2f}  {'agree' if row.get('agree') else '' if 'agree' not in row else 'DIFFER'}",
                      flush=True)
    return rows


def bench_training(steps: int = 60) -> dict:
    """Images per second of the shipped triplet encoder's recipe (its card's configuration), steady state."""
    config = TrainConfig(**{**available_pretrained()["triplet"]["config"], "steps": steps, "time_budget": None,
                            "device": "cpu", "validate_every": steps, "log_every": 1})
    background = load_omniglot("background", image_size=config.image_size)
    _, history = train_encoder(config, background, progress=False)
    # from the end of step 10 on: the first steps warm up the allocator and oneDNN's kernels
    seconds = history.seconds[-1] - history.seconds[9]
    images = (steps - 10) * config.p * config.k
    return {"steps": steps - 10, "images_per_step": config.p * config.k, "image_size": config.image_size,
            "loss": config.loss, "seconds": seconds, "images_per_second": images / seconds}


def bench_evaluation() -> dict:
    """Time to score the shipped triplet encoder on the 400 one-shot trials, as its card does (images loaded)."""
    encoder, shifts = load_pretrained("triplet"), available_pretrained()["triplet"]["runs"]["shifts"]
    runs = load_one_shot_runs(image_size=encoder.image_size)
    seconds = seconds_per_call(lambda: one_shot_accuracy(encoder, runs, shifts=shifts), repeats=3)
    return {"trials": 400, "shifts": shifts, "seconds": seconds}


def bench_chapters() -> dict:
    """Wall time to execute each notebook of the book, as the book build does."""
    import nbformat
    from nbclient import NotebookClient

    times = {}
    for path in sorted((HERE.parent / "book").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(notebook, timeout=900, resources={"metadata": {"path": str(path.parent)}}).execute()
        times[path.stem] = time.perf_counter() - start
        print(f"{path.stem}: {times[path.stem]:.0f} s", flush=True)
    return times


def write_markdown(results: dict) -> None:
    lines = ["# Benchmark results", "", f"Measured on: {results['machine']}, {results['date']}.", ""]
    if "losses" in results:
        lines += ["## Losses and mining, forward + backward, against pytorch-metric-learning", "",
                  "| loss | batch | dim | ours (ms) | pml (ms) | speed-up | same value |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
        lines += [f"| {r['loss']} | {r['batch']} | {r['dim']} | {r['ours_ms']:.2f} | {r['pml_ms']:.2f} | "
                  f"{r['speedup']:.2f} | {'yes' if r.get('agree') else 'no' if 'agree' in r else 'n/a'} |"
                  for r in results["losses"]]
        lines.append("")
    if "training" in results:
        t = results["training"]
        lines += [f"Training ({t['loss']}, {t['image_size']} x {t['image_size']} images): {t['images_per_second']:.0f} "
                  f"images/s ({t['steps']} steps of {t['images_per_step']} images).", ""]
    if "evaluation" in results:
        lines += [f"One-shot evaluation of the 400 trials: {results['evaluation']['seconds']:.2f} s.", ""]
    if "chapters" in results:
        lines += ["| notebook | seconds |", "| --- | ---: |"]
        lines += [f"| {name} | {seconds:.0f} |" for name, seconds in results["chapters"].items()] + [""]
    (HERE / "RESULTS.md").write_text("\n".join(lines))


def main() -> None:
    parts = {"losses": bench_losses, "training": bench_training, "evaluation": bench_evaluation,
             "chapters": bench_chapters}
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(parts), action="append", help="run only this part (repeatable)")
    args = parser.parse_args()
    path = HERE / "results.json"
    results = json.loads(path.read_text()) if path.exists() and args.only else {}
    results.update({"machine": machine_description("cpu"), "date": time.strftime("%Y-%m-%d")})
    for name in args.only or parts:
        print(f"== {name}", flush=True)
        results[name] = parts[name]()
    path.write_text(json.dumps(results, indent=2) + "\n")
    write_markdown(results)
    print(f"written {path} and {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
