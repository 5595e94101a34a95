"""Command line: ``python -m siamese_tutorial download``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .data import SPLITS, OmniglotDataError, default_data_dir, download


def _download(args: argparse.Namespace) -> int:
    unknown = sorted(set(args.splits) - set(SPLITS))
    if unknown:
        print(f"error: unknown split(s) {unknown}; choose from {sorted(SPLITS)}.", file=sys.stderr)
        return 2
    for split in args.splits or list(SPLITS):
        path = download(split, args.data_dir, force=args.force)
        print(f"{split}: {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m siamese_tutorial", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    get = commands.add_parser("download", help="download the Omniglot files that are missing (md5-checked)")
    get.add_argument("splits", nargs="*", metavar="SPLIT",
                     help=f"which files (default: all of {', '.join(SPLITS)})")
    get.add_argument("--data-dir", type=Path, default=None,
                     help=f"where to put them (default: {default_data_dir()})")
    get.add_argument("--force", action="store_true", help="download again even if the file is there")
    get.set_defaults(run=_download)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except OmniglotDataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
