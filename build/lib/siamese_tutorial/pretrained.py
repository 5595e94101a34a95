"""Encoders trained by this package's own recipe and shipped inside it.

Each shipped encoder is a checkpoint ``weights/<name>.pt`` (written by
:func:`siamese_tutorial.training.save_checkpoint`) with a card ``weights/<name>.json`` beside it:
the command that trained it, its training time and machine, the validation score that chose it,
its accuracy on the 20 official one-shot runs (measured once, after training), and the SHA-256 of
the checkpoint, checked on loading so that weights and card always belong together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from .checks import check_identifier
from .files import read_json, sha256_file
from .training import load_checkpoint

__all__ = ["PRETRAINED_DIR", "available_pretrained", "load_pretrained", "read_card"]

PRETRAINED_DIR = Path(__file__).resolve().parent / "weights"


def read_card(card: Path) -> dict[str, Any]:
    """A card's content, checked to have what loading and reporting need."""
    content = read_json(card, "the card of a shipped encoder")
    missing = [key for key in ("command", "config", "checkpoint_sha256") if not isinstance(content, dict)
               or key not in content]
    if missing:
        raise ValueError(f"{card} is not a complete card: {', '.join(missing)} missing. Export the encoder again.")
    return content


def available_pretrained(folder: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """The shipped encoders (or those exported into ``folder``): name -> card."""
    folder = Path(folder) if folder is not None else PRETRAINED_DIR
    return {card.stem: read_card(card) for card in sorted(folder.glob("*.json"))}


def load_pretrained(name: str, folder: str | Path | None = None) -> nn.Module:
    """A shipped encoder, in eval mode on the CPU; its card is ``available_pretrained()[name]``.

    Parameters
    ----------
    name : str
        The encoder's name, e.g. ``"triplet"``.
    folder : str or Path, optional
        Where ``export`` put it; default: the package's own shipped encoders.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the shipped ones), or weights that are not those
        their card describes.
    """
    check_identifier(name, "the encoder's name")
    folder = Path(folder) if folder is not None else PRETRAINED_DIR
    cards = available_pretrained(folder)
    if name not in cards:
        raise ValueError(f"No pretrained encoder named {name!r} in {folder}; there are {sorted(cards) or 'none'}.")
    weights = folder / f"{name}.pt"
    if not weights.is_file():
        raise ValueError(f"{weights} is missing beside its card {name}.json; export the encoder again.")
    if sha256_file(weights) != cards[name]["checkpoint_sha256"]:
        raise ValueError(f"{weights} is not the checkpoint its card {name}.json describes (SHA-256 differs); "
                         f"export the encoder again.")
    model, _ = load_checkpoint(weights)
    return model
