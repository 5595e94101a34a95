"""Command line: download Omniglot, train an encoder, evaluate it on the one-shot task.

    python -m siamese_tutorial download
    python -m siamese_tutorial train --loss batch_hard --steps 3000 --out runs/triplet.pt
    python -m siamese_tutorial evaluate runs/triplet.pt --runs
    python -m siamese_tutorial evaluate triplet --runs          # a shipped pretrained encoder

Training never looks at the 20 test runs: the step to keep is chosen on validation episodes drawn
from the 10 evaluation alphabets no run uses. ``evaluate --runs`` is for the final figure.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from .data import (SPLITS, OmniglotDataError, atomic_write, default_data_dir, download, load_omniglot,
                   load_one_shot_runs, load_validation_set)
from .evaluation import episode_accuracy, one_shot_accuracy
from .training import OBJECTIVES, TrainConfig, default_device, load_checkpoint, train_encoder

VALIDATION_EPISODES = 200
VALIDATION_SEED = 0


def _download(args: argparse.Namespace) -> int:
    unknown = sorted(set(args.splits) - set(SPLITS))
    if unknown:
        raise ValueError(f"unknown split(s) {unknown}; choose from {sorted(SPLITS)}.")
    for split in args.splits or list(SPLITS):
        path = download(split, args.data_dir, force=args.force)
        print(f"{split}: {path}")
    return 0


def validation_score(image_size: int, episodes: int = VALIDATION_EPISODES, data_dir: Path | None = None):
    """``encoder -> accuracy`` on fixed 20-way 1-shot within-alphabet episodes of the validation alphabets."""
    validation = load_validation_set(image_size, data_dir)

    def score(encoder) -> float:
        return episode_accuracy(encoder, validation, num_episodes=episodes, seed=VALIDATION_SEED).accuracy

    return score


def _train(args: argparse.Namespace) -> int:
    config = TrainConfig(
        loss=args.loss, margin=args.margin, squared=args.squared, p=args.p, k=args.k,
        image_size=args.image_size, augment=args.augment, rotations=args.rotations,
        within_alphabet=args.within_alphabet, width=args.width,
        blocks=args.blocks, embedding_dim=args.embedding_dim or None, normalize=args.normalize,
        steps=args.steps, time_budget=args.minutes * 60 if args.minutes else None, lr=args.lr,
        weight_decay=args.weight_decay, seed=args.seed, device=args.device,
        validate_every=args.validate_every,
    )
    if config.steps is None and config.time_budget is None:
        raise ValueError("give --steps or --minutes (or both): how long to train.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    train_set = load_omniglot("background", config.image_size, args.data_dir)
    validate = validation_score(config.image_size, args.validation_episodes, args.data_dir)
    start = time.perf_counter()
    _, history = train_encoder(config, train_set, validate, checkpoint_path=args.out, progress=not args.quiet)
    minutes = (time.perf_counter() - start) / 60
    step, score = history.best_validation
    card = {
        "command": args.command_line,
        "config": config.to_dict(),
        "steps_trained": history.step[-1],
        "training_minutes": round(minutes, 2),
        "machine": machine_description(config.device),
        "validation": {"accuracy": score, "step_kept": step, "episodes": args.validation_episodes,
                       "task": "20-way 1-shot within-alphabet episodes of the validation alphabets"},
    }
    _write_json(args.out.with_suffix(".json"), card)
    print(f"trained {history.step[-1]} steps in {minutes:.1f} min; kept step {step} "
          f"(validation accuracy {score:.4f} on {args.validation_episodes} episodes); saved {args.out}")
    return 0


def machine_description(device: str | None = None) -> str:
    """The processor (or GPU), its core count and the torch version: where a time was measured."""
    import os
    import platform

    import torch

    if (device or default_device().type) == "cuda" and torch.cuda.is_available():
        chip = torch.cuda.get_device_name()
    else:
        cpuinfo = Path("/proc/cpuinfo")
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")] if cpuinfo.exists() else []
        chip = (f"{names[0] if names else platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                f"{torch.get_num_threads()} torch threads")
    return f"{chip}, torch {torch.__version__}"


def _write_json(path: Path, content: dict) -> None:
    atomic_write(path, lambda file: file.write((json.dumps(content, indent=2) + "\n").encode()))


def _export(args: argparse.Namespace) -> int:
    """Ship a trained checkpoint inside the package, with its card and its one look at the 20 runs."""
    from .pretrained import PRETRAINED_DIR

    card_path = args.checkpoint.with_suffix(".json")
    if not card_path.exists():
        raise FileNotFoundError(f"{card_path} is missing: export a checkpoint written by `train`, beside its card.")
    card = json.loads(card_path.read_text())
    encoder, _ = load_checkpoint(args.checkpoint)
    if args.shifts:  # the validation score that chose the test-time augmentation, beside the one without
        validation = load_validation_set(card["config"]["image_size"], args.data_dir)
        card["validation"]["shifts"] = args.shifts
        card["validation"]["accuracy_with_shifts"] = episode_accuracy(
            encoder, validation, num_episodes=card["validation"]["episodes"], seed=VALIDATION_SEED, shifts=args.shifts
        ).accuracy
    runs = load_one_shot_runs(card["config"]["image_size"], args.data_dir)
    result = one_shot_accuracy(encoder, runs, shifts=args.shifts)
    card["runs"] = {"accuracy": result.accuracy, "correct": result.correct, "total": result.total,
                    "ci95": list(result.confidence_interval), "shifts": args.shifts,
                    "per_run": dict(zip(result.run_names, result.run_accuracies))}
    target = PRETRAINED_DIR / f"{args.name}.pt"
    atomic_write(target, lambda file: file.write(args.checkpoint.read_bytes()))
    _write_json(PRETRAINED_DIR / f"{args.name}.json", card)
    print(result.summary(per_run=True))
    print(f"shipped as {args.name}: {target}")
    return 0


def _load_encoder(name_or_path: str):
    from .pretrained import available_pretrained, load_pretrained

    if Path(name_or_path).is_file():
        encoder, checkpoint = load_checkpoint(name_or_path)
        return encoder, checkpoint["config"]
    if name_or_path in available_pretrained():
        encoder = load_pretrained(name_or_path)
        return encoder, available_pretrained()[name_or_path]["config"]
    raise ValueError(
        f"{name_or_path!r} is neither a checkpoint file nor a shipped pretrained encoder "
        f"({', '.join(available_pretrained()) or 'none'})."
    )


def _evaluate(args: argparse.Namespace) -> int:
    if not (args.runs or args.validation):
        raise ValueError("say what to evaluate on: --runs (the 20 official runs), --validation, or both.")
    encoder, config = _load_encoder(args.model)
    image_size = config["image_size"]
    report = {"model": args.model}
    if args.validation:
        result = episode_accuracy(encoder, load_validation_set(image_size, args.data_dir),
                                  num_episodes=args.episodes, seed=VALIDATION_SEED, shifts=args.shifts)
        print(f"validation: {args.episodes} episodes of 20-way 1-shot within-alphabet")
        print(result.summary(per_run=False))
        report["validation"] = {"accuracy": result.accuracy, "ci95": list(result.confidence_interval),
                                "episodes": args.episodes, "shifts": args.shifts}
    if args.runs:
        result = one_shot_accuracy(encoder, load_one_shot_runs(image_size, args.data_dir), shifts=args.shifts)
        print("the 20 official runs of 20-way within-alphabet one-shot classification (Lake et al. 2015)")
        print(result.summary(per_run=True))
        report["runs"] = {"accuracy": result.accuracy, "ci95": list(result.confidence_interval), "shifts": args.shifts,
                          "correct": result.correct, "total": result.total,
                          "per_run": dict(zip(result.run_names, result.run_accuracies))}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


SHIFTS_HELP = "test-time augmentation: average the embedding over shifts by this many pixels (0: none)"


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m siamese_tutorial", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=None,
                        help=f"where Omniglot is (default: {default_data_dir()})")
    commands = parser.add_subparsers(dest="command", required=True)

    get = commands.add_parser("download", help="download the Omniglot files that are missing (md5-checked)")
    get.add_argument("splits", nargs="*", metavar="SPLIT", help=f"which files (default: all of {', '.join(SPLITS)})")
    get.add_argument("--force", action="store_true", help="download again even if the file is there")
    get.set_defaults(run=_download)

    defaults = TrainConfig()
    train = commands.add_parser("train", help="train a ConvEncoder on the background set",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("--loss", choices=sorted(OBJECTIVES), default=defaults.loss)
    train.add_argument("--margin", type=float, default=defaults.margin)
    train.add_argument("--squared", action="store_true", help="squared distances (triplet losses)")
    train.add_argument("--p", type=int, default=defaults.p, help="classes per batch")
    train.add_argument("--k", type=int, default=defaults.k, help="images per class in a batch")
    train.add_argument("--image-size", type=int, default=defaults.image_size)
    train.add_argument("--augment", action=argparse.BooleanOptionalAction, default=defaults.augment,
                       help="random affine distortions")
    train.add_argument("--rotations", action=argparse.BooleanOptionalAction, default=defaults.rotations,
                       help="rotations by 90/180/270 degrees as new classes")
    train.add_argument("--within-alphabet", action=argparse.BooleanOptionalAction, default=defaults.within_alphabet,
                       help="draw a batch's classes from as few alphabets as possible (harder negatives)")
    train.add_argument("--width", type=int, default=defaults.width, help="filters per conv block")
    train.add_argument("--blocks", type=int, default=defaults.blocks, help="conv blocks")
    train.add_argument("--embedding-dim", type=int, default=defaults.embedding_dim,
                       help="size of the embedding (0: the flattened conv features)")
    train.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=defaults.normalize,
                       help="L2-normalise the embeddings")
    train.add_argument("--steps", type=int, default=None, help="optimizer steps (cosine learning-rate schedule)")
    train.add_argument("--minutes", type=float, default=None, help="time budget")
    train.add_argument("--lr", type=float, default=defaults.lr)
    train.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    train.add_argument("--seed", type=int, default=defaults.seed)
    train.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    train.add_argument("--validate-every", type=int, default=defaults.validate_every)
    train.add_argument("--validation-episodes", type=int, default=VALIDATION_EPISODES)
    train.add_argument("--out", type=Path, required=True, help="checkpoint to write")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("evaluate", help="one-shot accuracy of a checkpoint or a shipped encoder")
    evaluate.add_argument("model", help="a checkpoint file, or the name of a shipped pretrained encoder")
    evaluate.add_argument("--runs", action="store_true", help="the 20 official runs (the test: use once)")
    evaluate.add_argument("--validation", action="store_true", help="episodes of the validation alphabets")
    evaluate.add_argument("--episodes", type=int, default=VALIDATION_EPISODES)
    evaluate.add_argument("--shifts", type=_non_negative, default=0, help=SHIFTS_HELP)
    evaluate.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    evaluate.set_defaults(run=_evaluate)

    export = commands.add_parser("export", help="ship a trained checkpoint in the package (scores it on the 20 runs)")
    export.add_argument("checkpoint", type=Path, help="a checkpoint written by `train` (its .json card beside it)")
    export.add_argument("--name", required=True, help="the name load_pretrained() will know it by")
    export.add_argument("--shifts", type=_non_negative, default=0, help=SHIFTS_HELP)
    export.set_defaults(run=_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.command_line = "python -m siamese_tutorial " + shlex.join(argv if argv is not None else sys.argv[1:])
    if args.command == "train":
        print("command:", args.command_line)
    try:
        return args.run(args)
    except (OmniglotDataError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
