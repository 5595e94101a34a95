"""Encoders trained by this package's own recipe and shipped inside it.

Each shipped encoder is a checkpoint ``weights/<name>.pt`` (written by
:func:`siamese_tutorial.training.save_checkpoint`) with a card ``weights/<name>.json`` beside it:
the command that trained it, its training time and machine, the validation score that chose it,
and its accuracy on the 20 official one-shot runs (measured once, after training).
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from .training import load_checkpoint

__all__ = ["PRETRAINED_DIR", "available_pretrained", "load_pretrained"]

PRETRAINED_DIR = Path(__file__).resolve().parent / "weights"


def available_pretrained() -> dict[str, dict]:
    """The shipped encoders: name -> card (recipe command, training time, accuracies)."""
    return {card.stem: json.loads(card.read_text()) for card in sorted(PRETRAINED_DIR.glob("*.json"))}


def load_pretrained(name: str) -> nn.Module:
    """A shipped encoder, in eval mode on the CPU; its card is :func:`available_pretrained()[name] <available_pretrained>`.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the shipped ones.
    """
    cards = available_pretrained()
    if name not in cards:
        raise ValueError(
            f"No pretrained encoder named {name!r}; the shipped ones are {sorted(cards) or 'none'}."
        )
    encoder, _ = load_checkpoint(PRETRAINED_DIR / f"{name}.pt")
    return encoder
