"""What ``evaluate`` and ``export`` check before they act, and how they report the runs' scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .cards import card_path
from .files import read_json, sha256_file
from .models import encoder_of
from .pretrained import read_card


def _runs_report(result) -> dict[str, Any]:
    return {
        "accuracy": result.accuracy,
        "correct": result.correct,
        "total": result.total,
        "ci95": list(result.confidence_interval),
        "per_run": dict(zip(result.run_names, result.run_accuracies)),
    }


def _check_report_target(path: Path) -> None:
    """``--json`` replaces an earlier report of ``evaluate``, never another file (a model's card, a picture)."""
    if not path.exists():
        return
    try:
        content = read_json(path, "a report of evaluate")
    except ValueError:
        content = None
    if not (
        isinstance(content, dict)
        and {"model", "shifts"} <= content.keys()
        and "checkpoint_sha256" not in content
    ):
        raise ValueError(
            f"--json {path} exists and is not a report of evaluate (a card? another file?): it would be "
            f"replaced; choose another --json."
        )


def _check_scores_runs(model: Any, name: str, then: str = "") -> None:
    """Refuse, before any work, a model the 20 runs cannot score: they are black-and-white (one channel)."""
    channels = getattr(encoder_of(model), "in_channels", 1)
    if channels != 1:
        raise ValueError(
            f"{name} reads colour pictures ({channels} channels: trained with --no-grayscale); the 20 "
            f"official runs are Omniglot's black-and-white characters and cannot score it{then}."
        )


def _card_to_export(checkpoint: Path) -> dict[str, Any]:
    """The card of a finished ``train`` checkpoint, checked to be its own and to record validation."""
    card_file = card_path(checkpoint)
    if not card_file.is_file():
        raise FileNotFoundError(
            f"{card_file} is missing: export a checkpoint whose training finished "
            f"(`train` writes the card at the end; continue a stopped one with --resume)."
        )
    card = read_card(card_file)
    if (
        not isinstance(card.get("validation"), dict)
        or "episodes" not in card["validation"]
    ):
        raise ValueError(
            f"{card_file} records no validation; export a checkpoint trained by `train`."
        )
    if card["checkpoint_sha256"] != sha256_file(checkpoint):
        raise ValueError(
            f"{card_file} does not belong to {checkpoint} (the SHA-256 it records differs): the "
            f"checkpoint was replaced after the card was written. Finish its training, or train again."
        )
    return card
