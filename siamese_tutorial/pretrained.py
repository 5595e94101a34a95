"""Encoders trained by this package's own recipe and shipped inside it.

Each shipped encoder is a checkpoint ``weights/<name>.pt`` (written by
:func:`siamese_tutorial.training.save_checkpoint`) with a card ``weights/<name>.json`` beside it:
the command that trained it, its training time and machine, the validation score that chose it,
its accuracy on the 20 official one-shot runs (measured once, after training), and the SHA-256 of
the checkpoint, checked on loading so that weights and card always belong together.
:func:`load_model` loads either a shipped encoder or a checkpoint file, as the command line does.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from torch import nn

from .checkpoints import load_checkpoint
from .checks import check_identifier
from .files import read_json, sha256_file
from .models import encoder_of

__all__ = [
    "PRETRAINED_DIR",
    "available_pretrained",
    "load_pretrained",
    "load_model",
    "read_card",
]

PRETRAINED_DIR = Path(__file__).resolve().parent / "weights"


def read_card(card: Path) -> dict[str, Any]:
    """A card's content, checked to have what loading and reporting need."""
    content = read_json(card, "the card of a shipped encoder")
    missing = [
        key
        for key in ("command", "config", "checkpoint_sha256")
        if not isinstance(content, dict) or key not in content
    ]
    if missing:
        raise ValueError(
            f"{card} is not a complete card: {', '.join(missing)} missing. Export the encoder again."
        )
    return content


def available_pretrained(
    folder: str | Path | None = None,
) -> dict[str, dict[str, Any]]:
    """The shipped encoders (or those exported into ``folder``): name -> card."""
    folder = Path(folder) if folder is not None else PRETRAINED_DIR
    return {
        card.stem: read_card(card) for card in sorted(folder.glob("*.json"))
    }


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
        raise ValueError(
            f"No pretrained encoder named {name!r} in {folder}; there are {sorted(cards) or 'none'}."
        )
    weights = folder / f"{name}.pt"
    if not weights.is_file():
        raise ValueError(
            f"{weights} is missing beside its card {name}.json; export the encoder again."
        )
    if sha256_file(weights) != cards[name]["checkpoint_sha256"]:
        raise ValueError(
            f"{weights} is not the checkpoint its card {name}.json describes (SHA-256 differs); "
            f"export the encoder again."
        )
    model, _ = load_checkpoint(weights)
    return encoder_of(
        model
    )  # an encoder, even if exported by an earlier version with its classifier around it


def load_model(
    name_or_path: str | Path,
) -> tuple[nn.Module, int, dict[str, Any]]:
    """A checkpoint file or a shipped encoder's name: the model, its image size ``S`` and its card.

    A checkpoint's card is the ``.json`` beside it (``train`` writes it at the end) if it belongs to
    the checkpoint (its SHA-256), else ``{"config": <the checkpoint's own config>}``; a card that
    belongs to other weights is said (``UserWarning``) and not used.

    Raises
    ------
    ValueError
        For a name that is neither a file nor a shipped encoder, or a model that does not take
        ``S x S`` images (no ``image_size``).
    """
    path = Path(name_or_path)
    if path.is_file():
        model, checkpoint = load_checkpoint(path)
        card = None
        beside = path.with_suffix(".json")
        if path.suffix == ".pt" and beside.is_file():
            card = read_card(beside)
            if card["checkpoint_sha256"] != sha256_file(path):
                warnings.warn(
                    f"{beside} does not belong to {path} (it records other weights' SHA-256): not used; "
                    f"finish the training (--resume) or train again to write its card",
                    stacklevel=2,
                )
                card = None
        card = card or {"config": checkpoint["config"]}
    elif str(name_or_path) in available_pretrained():
        model, card = (
            load_pretrained(str(name_or_path)),
            available_pretrained()[str(name_or_path)],
        )
    else:
        raise ValueError(
            f"{name_or_path!r} is neither a checkpoint file nor a shipped pretrained encoder "
            f"({', '.join(available_pretrained()) or 'none'})."
        )
    size = getattr(encoder_of(model), "image_size", None)
    if size is None:
        raise ValueError(
            f"{name_or_path} is not an image encoder (it has no image_size): it cannot compare pictures."
        )
    return model, size, card
