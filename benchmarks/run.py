"""Benchmarks, in one run: loss and mining throughput against pytorch-metric-learning, training
throughput of the recipe, one-shot evaluation time, the time to execute each chapter, and how the
built book's pages load on a slow connection (``pages.py``).

    python benchmarks/run.py                 # everything (about 15 minutes on 2 CPU cores)
    python benchmarks/run.py --only losses   # one part: losses, training, evaluation, chapters, pages

Results go to ``siamese_tutorial/book/results/benchmarks.json`` (shipped with the package, read by the
book), the pages' to ``benchmarks/pages.json`` (the book does not read them: a new measurement must not
make its chapters stale), and all to ``benchmarks/RESULTS.md``, with the machine they were measured
on. These are measurements, not tests: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pages
import torch
from pytorch_metric_learning import distances, losses, miners, reducers
from torch.utils.flop_counter import FlopCounterMode

from siamese_tutorial.data import PKBatches, with_rotations
from siamese_tutorial.evaluation import one_shot_accuracy
from siamese_tutorial.files import read_json, write_json, write_text
from siamese_tutorial.losses import (
    batch_all_triplet_loss,
    batch_contrastive_loss,
    batch_hard_triplet_loss,
    semi_hard_triplet_loss,
)
from siamese_tutorial.models import ConvEncoder
from siamese_tutorial.omniglot import (
    default_data_dir,
    load_omniglot,
    load_one_shot_runs,
)
from siamese_tutorial.pretrained import available_pretrained, load_pretrained
from siamese_tutorial.recipe import (
    TrainConfig,
    machine_description,
    train_encoder,
)
from siamese_tutorial.training import keep_freed_memory

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MARGIN = 0.2
BATCH_SIZES = (128, 256, 512, 1024)
EMBEDDING_SIZES = (64, 128, 256, 512)
K = 4  # images per class in a batch: P = B / K classes


def seconds_per_call(
    fn: Callable[[], object], min_time: float = 0.3, repeats: int = 5
) -> float:
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
    hard_loss = losses.TripletMarginLoss(
        margin=MARGIN, distance=euclidean, reducer=reducers.MeanReducer()
    )
    all_loss = losses.TripletMarginLoss(
        margin=MARGIN, distance=euclidean
    )  # all triplets, mean of non-zero
    contrastive = losses.ContrastiveLoss(
        pos_margin=0.0, neg_margin=1.0, distance=euclidean
    )
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


def bench_losses(device: str = "cpu") -> list[dict]:
    theirs = pml_losses()
    rows = []
    for b in BATCH_SIZES:
        for d in EMBEDDING_SIZES:
            generator = torch.Generator().manual_seed(b + d)
            base = torch.randn(b, d, generator=generator).to(device)
            labels = torch.arange(b // K).repeat_interleave(K).to(device)
            for name in OURS:
                results = {}
                for library, fn in (
                    ("ours", OURS[name]),
                    ("pml", theirs[name]),
                ):
                    z = base.clone().requires_grad_(True)

                    def step() -> None:
                        z.grad = None
                        fn(z, labels).backward()
                        synchronize(torch.device(device))

                    results[library] = (
                        seconds_per_call(step),
                        float(fn(z, labels).detach()),
                    )
                row = {
                    "loss": name,
                    "batch": b,
                    "dim": d,
                    "device": device,
                    "ours_ms": 1000 * results["ours"][0],
                    "pml_ms": 1000 * results["pml"][0],
                    "speedup": results["pml"][0] / results["ours"][0],
                }
                if name in SAME_QUANTITY:
                    row["agree"] = abs(
                        results["ours"][1] - results["pml"][1]
                    ) <= 1e-4 * max(1.0, abs(results["pml"][1]))
                rows.append(row)
                print(
                    f"{name:12s} B={b:5d} D={d:4d}  ours {row['ours_ms']:8.2f} ms  pml {row['pml_ms']:8.2f} ms  "
                    f"x{row['speedup']:.2f}  {'agree' if row.get('agree') else '' if 'agree' not in row else 'DIFFER'}",
                    flush=True,
                )
    return rows


def recipe_batches_and_encoder(config: TrainConfig, data) -> tuple:
    """The recipe's P x K batches (distorted on the device) and a fresh encoder, as train_encoder builds them."""
    device = torch.device(config.device)
    torch.manual_seed(config.seed)
    batches = iter(
        PKBatches(
            with_rotations(data),
            config.p,
            config.k,
            seed=config.seed,
            augment=True,
            device=device,
        )
    )
    encoder = (
        ConvEncoder(
            width=config.width,
            blocks=config.blocks,
            embedding_dim=config.embedding_dim,
            normalize=True,
            image_size=config.image_size,
        )
        .to(device)
        .train()
    )
    return batches, encoder


def step_flops(config: TrainConfig, data) -> int:
    """Floating-point operations of one step of the recipe, forward and backward, as torch's
    ``FlopCounterMode`` counts them (convolutions and matrix products; the rest is bandwidth)."""
    batches, encoder = recipe_batches_and_encoder(config, data)
    images, labels = next(batches)
    with FlopCounterMode(display=False) as counter:
        semi_hard_triplet_loss(
            encoder(images), labels, config.margin, check=False
        ).backward()
    return counter.get_total_flops()


def matmul_seconds(flops: int, device: torch.device) -> float:
    """The time the machine takes for ``flops`` in a square float32 matrix product (2 n^3 operations):
    the arithmetic bound of a step of as many operations."""
    n = round((flops / 2) ** (1 / 3))
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)

    def product() -> None:
        torch.mm(a, b)
        synchronize(device)

    return seconds_per_call(product) * flops / (2 * n**3)


def minimal_loop_seconds_per_step(
    config: TrainConfig, data, steps: int, warmup: int
) -> float:
    """The recipe's step written out with the package's parts and nothing else: P x K sampling and
    distortions on the device, the encoder, the semi-hard loss, Adam, the cosine schedule. No
    statistics, no logging, no checks: the floor the package's loop is measured against."""
    device = torch.device(config.device)
    if device.type == "cpu":
        keep_freed_memory()  # as train_encoder does
    batches, encoder = recipe_batches_and_encoder(config, data)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=steps
    )

    def step() -> None:
        images, labels = next(batches)
        loss = semi_hard_triplet_loss(
            encoder(images), labels, config.margin, check=False
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()

    for _ in range(warmup):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps - warmup):
        step()
    synchronize(device)
    return (time.perf_counter() - start) / (steps - warmup)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def package_seconds_per_step(config: TrainConfig, data, warmup: int) -> float:
    """``train_encoder`` with the recipe (no validation), from the log step after the warm-up to the end."""
    _, history = train_encoder(config, data, progress=False)
    first = history.step.index(warmup)
    return (history.seconds[-1] - history.seconds[first]) / (
        history.step[-1] - history.step[first]
    )


BASELINE = """
import json, sys, torch
try:  # the layout since the recipe moved out of training
    from siamese_tutorial.omniglot import load_omniglot
    from siamese_tutorial.recipe import TrainConfig, train_encoder
except ImportError:  # older commits
    from siamese_tutorial.data import load_omniglot
    from siamese_tutorial.training import TrainConfig, train_encoder
config = TrainConfig(loss="semi_hard", image_size=40, steps={steps}, device="cpu", log_every=10, validate_every={steps})
_, history = train_encoder(config, load_omniglot("background", image_size=40), progress=False)
first = history.step.index({warmup})
print(json.dumps((history.seconds[-1] - history.seconds[first]) / (history.step[-1] - history.step[first])))
"""


def baseline_seconds_per_step(commit: str, steps: int, warmup: int) -> float:
    """The same recipe trained by the package as it was at ``commit`` (a git worktree), on the CPU."""
    folder = Path(tempfile.mkdtemp(prefix="siamese-baseline-"))
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(folder), commit],
        cwd=HERE.parent,
        check=True,
        capture_output=True,
    )
    try:
        env = {
            **os.environ,
            "PYTHONPATH": str(folder),
            "SIAMESE_TUTORIAL_DATA": str(default_data_dir()),
        }
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                BASELINE.format(steps=steps, warmup=warmup),
            ],
            env=env,
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(folder)],
            cwd=HERE.parent,
            capture_output=True,
        )


def bench_training(
    device: str = "cpu",
    steps: int = 110,
    warmup: int = 10,
    baseline: str | None = None,
) -> dict:
    """Steps per second of the triplet recipe: the package's loop, a minimal loop, (CPU) an older commit,
    and the arithmetic bound: a matrix product of as many operations as a step.

    The three run one after the other in this process on the same machine, twice in turn, and each
    keeps its faster pass, so that a passing load spike does not decide the ratio.
    """
    config = TrainConfig(
        steps=steps, device=device, validate_every=steps, log_every=10
    )
    data = load_omniglot("background", image_size=config.image_size)
    times: dict[str, list[float]] = {
        "package": [],
        "minimal": [],
        "baseline": [],
    }
    for _ in range(2):
        times["package"].append(package_seconds_per_step(config, data, warmup))
        times["minimal"].append(
            minimal_loop_seconds_per_step(config, data, steps, warmup)
        )
        if baseline and device == "cpu":
            times["baseline"].append(
                baseline_seconds_per_step(baseline, steps, warmup)
            )
    best = {name: min(values) for name, values in times.items() if values}
    flops = step_flops(config, data)
    bound = matmul_seconds(flops, torch.device(device))
    result = {
        "device": str(device),
        "machine": machine_description(device),
        "steps_timed": steps - warmup,
        "images_per_step": config.p * config.k,
        "image_size": config.image_size,
        "loss": config.loss,
        "package_seconds_per_step": best["package"],
        "minimal_seconds_per_step": best["minimal"],
        "package_over_minimal": best["package"] / best["minimal"],
        "step_gflop": flops / 1e9,
        "matmul_seconds_same_flop": bound,
        "package_over_matmul": best["package"] / bound,
    }
    if "baseline" in best:
        result.update(
            {
                "baseline_commit": baseline,
                "baseline_seconds_per_step": best["baseline"],
                "package_over_baseline": best["package"] / best["baseline"],
            }
        )
    for name, value in best.items():
        print(f"{device}: {name} {value * 1000:.1f} ms a step", flush=True)
    return result


def bench_evaluation() -> dict:
    """Time to score the shipped triplet encoder on the 400 one-shot trials, as its card does (images loaded)."""
    encoder, shifts = (
        load_pretrained("triplet"),
        available_pretrained()["triplet"]["runs"]["shifts"],
    )
    runs = load_one_shot_runs(image_size=encoder.image_size)
    seconds = seconds_per_call(
        lambda: one_shot_accuracy(encoder, runs, shifts=shifts), repeats=3
    )
    return {"trials": 400, "shifts": shifts, "seconds": seconds}


CHAPTER = """
import resource, sys, time, nbformat
from nbclient import NotebookClient
notebook = nbformat.read(sys.argv[1], as_version=4)
start = time.perf_counter()
NotebookClient(notebook, timeout=900, resources={"metadata": {"path": sys.argv[2]}}).execute()
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def bench_chapters() -> dict:
    """Wall time and peak memory to execute each chapter of the book, each in a fresh process.

    The peak is the largest resident set of the kernel or of any process it started (Linux reports
    it in KiB): what a reader's machine, or Binder's 2 GB, must hold.
    """
    results = {}
    for path in sorted(
        (HERE.parent / "book").glob("[0-9]*.ipynb")
    ):  # the chapters; the introduction reads these results
        done = subprocess.run(
            [sys.executable, "-c", CHAPTER, str(path), str(path.parent)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "TQDM_DISABLE": "1"},
        )
        seconds, peak_kib = done.stdout.split()
        results[path.stem] = {
            "seconds": float(seconds),
            "peak_memory_mib": int(peak_kib) / 1024,
        }
        print(
            f"{path.stem}: {float(seconds):.0f} s, peak {int(peak_kib) / 1024:.0f} MiB",
            flush=True,
        )
    return results


def write_markdown(results: dict) -> None:
    lines = [
        "# Benchmark results",
        "",
        f"Written by `benchmarks/run.py` on {results['date']}; the machine of each part is",
        "given with it.",
        "",
    ]
    for device, rows in results.get("losses", {}).items():
        lines += [
            f"## Losses, forward + backward, against pytorch-metric-learning ({device})",
            "",
            "| loss | batch | dim | ours (ms) | pml (ms) | speed-up | same value |",
            "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        lines += [
            f"| {r['loss']} | {r['batch']} | {r['dim']} | {r['ours_ms']:.2f} | {r['pml_ms']:.2f} | "
            f"{r['speedup']:.2f} | {'yes' if r.get('agree') else 'no' if 'agree' in r else 'n/a'} |"
            for r in rows
        ] + [""]
    for device, t in results.get("training", {}).items():
        lines += [
            f"## Training throughput ({device}: {t['machine']})",
            "",
            f"The triplet recipe ({t['loss']}, {t['images_per_step']} images of {t['image_size']} x "
            f"{t['image_size']} a step), {t['steps_timed']} steps timed after a warm-up:",
            "",
            f"- the package's `train_encoder`: {1000 * t['package_seconds_per_step']:.1f} ms a step",
            f"- a minimal loop of the same recipe: {1000 * t['minimal_seconds_per_step']:.1f} ms a step "
            f"(the package takes {t['package_over_minimal']:.2f} times as long)",
        ]
        if "step_gflop" in t:
            lines.append(
                f"- the arithmetic of a step: {t['step_gflop']:.1f} GFLOP, which a float32 matrix product "
                f"does in {1000 * t['matmul_seconds_same_flop']:.1f} ms on this machine (the package's step "
                f"takes {t['package_over_matmul']:.2f} times as long)"
            )
        if "baseline_seconds_per_step" in t:
            lines.append(
                f"- the package at commit {t['baseline_commit']}: {1000 * t['baseline_seconds_per_step']:.1f} "
                f"ms a step (now {t['package_over_baseline']:.2f} times as long)"
            )
        lines.append("")
    if "evaluation" in results:
        lines += [
            f"One-shot evaluation of the 400 trials: {results['evaluation']['seconds']:.2f} s.",
            "",
        ]
    if "chapters" in results:
        lines += [
            "| notebook | seconds | peak memory (MiB) |",
            "| --- | ---: | ---: |",
        ]
        lines += [
            f"| {name} | {c['seconds']:.0f} | {c['peak_memory_mib']:.0f} |"
            for name, c in results["chapters"].items()
        ]
        lines.append("")
    if pages.RESULTS.exists():
        lines += pages.markdown(
            read_json(pages.RESULTS, "the pages' measurements")
        )
    write_text(HERE / "RESULTS.md", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only",
        choices=("losses", "training", "evaluation", "chapters", "pages"),
        action="append",
        help="run only this part (repeatable)",
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="cpu, or cuda where a GPU is lent (losses and training)",
    )
    parser.add_argument(
        "--baseline",
        default="53ec2fc",
        help="the commit whose training loop the CPU throughput is compared with",
    )
    args = parser.parse_args()
    parts = {
        "losses": lambda: bench_losses(args.device),
        "training": lambda: bench_training(
            args.device, baseline=args.baseline
        ),
        "evaluation": bench_evaluation,
        "chapters": bench_chapters,
        "pages": lambda: pages.run(ROOT / "_build" / "html"),
    }
    path = (
        ROOT / "siamese_tutorial" / "book" / "results" / "benchmarks.json"
    )  # ships with the package
    results = (
        read_json(path, "earlier benchmark results") if path.exists() else {}
    )
    measured = {
        "machine": machine_description("cpu"),
        "date": time.strftime("%Y-%m-%d"),
    }
    chosen = args.only or list(parts)
    for name in chosen:
        print(f"== {name} ({args.device})", flush=True)
        value = parts[name]()
        if (
            name == "pages"
        ):  # not shipped: the chapters read benchmarks.json, and would run again
            write_json(pages.RESULTS, {**value, **measured})
        elif name in (
            "losses",
            "training",
        ):  # kept per device: a GPU run adds to the CPU figures
            results.setdefault(name, {})[args.device] = value
        else:
            results[name] = value
    if set(chosen) != {"pages"}:
        results.update(measured)
        write_json(path, results)
        print(f"written {path}")
    write_markdown(results)
    print(f"written {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
