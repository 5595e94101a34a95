"""The checkpoint file: weights, the recipe that rebuilds the network, its history and its training state.

:func:`save_checkpoint` writes it atomically (a crash leaves the previous file), :func:`read_checkpoint`
reads one without building anything, :func:`load_checkpoint` rebuilds the model. The format is
versioned (:data:`CHECKPOINT_FORMAT`); a file of another version or kind is refused with what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .checks import DIVERGED, check_finite
from .files import atomic_write, check_format
from .history import History
from .models import Encoder, SiameseNetwork, SoftmaxClassifier, build_encoder

__all__ = [
    "CHECKPOINT_FORMAT",
    "save_checkpoint",
    "read_checkpoint",
    "load_checkpoint",
    "architecture",
]

CHECKPOINT_FORMAT = "siamese_tutorial.checkpoint/2"


def architecture(model: nn.Module) -> dict[str, Any]:
    """How to rebuild ``model``: the encoder's config, and the wrapper around it if any."""
    wrapper = {SiameseNetwork: "siamese", SoftmaxClassifier: "classifier"}.get(
        type(model)
    )
    encoder = model.encoder if wrapper else model
    if not isinstance(encoder, Encoder):
        raise ValueError(
            f"cannot checkpoint a {type(model).__name__}: the model must be an Encoder of "
            "siamese_tutorial.models (or a SiameseNetwork or SoftmaxClassifier around one), so that "
            "load_checkpoint can rebuild it"
        )
    return {
        "encoder": encoder.config(),
        "wrapper": wrapper,
        "num_classes": model.num_classes if wrapper == "classifier" else None,
    }


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    config: dict[str, Any],
    history: History | None = None,
    selected: dict[str, Any] | None = None,
    *,
    weights: dict[str, Tensor] | None = None,
    steps_trained: int | None = None,
    complete: bool = True,
    resume: dict[str, Any] | None = None,
) -> None:
    """Write weights, architecture, training config and history to ``path``, atomically.

    The file is written to a temporary file in the same folder and renamed over ``path``: a crash
    or an error while saving leaves the previous checkpoint intact. NaN or infinite weights are
    refused (``FloatingPointError``) rather than saved.

    Parameters
    ----------
    path : str or Path
        Destination (its folder is created if needed).
    model : nn.Module
        An :class:`~siamese_tutorial.models.Encoder`, or a wrapper around one.
    config : dict
        The training recipe (plain Python values), e.g. ``TrainConfig.to_dict()``.
    history : History, optional
        Training history.
    selected : dict, optional
        Which step the weights are from and its validation score, ``{"step": ..., "score": ...}``.
    weights : dict of Tensor, optional
        The weights to store (default: ``model``'s own), e.g. the best validated ones.
    steps_trained : int, optional
        Steps done so far.
    complete : bool
        Whether training has finished.
    resume : dict, optional
        :meth:`Trainer.state_dict`, to continue training.
    """
    weights = {
        k: v.detach().cpu() for k, v in (weights or model.state_dict()).items()
    }
    for name, value in weights.items():
        if value.is_floating_point():
            check_finite(
                value, f"not saving {path}: the weights {name}", DIVERGED
            )
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "architecture": architecture(model),
        "state_dict": weights,
        "config": dict(config),
        "history": history.to_dict() if history is not None else None,
        "selected": dict(selected or {}),
        "steps_trained": steps_trained,
        "complete": complete,
        "resume": resume,
    }
    atomic_write(path, lambda file: torch.save(checkpoint, file))


def read_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """The raw content of a checkpoint file (no model built), checked to be one of this package.

    Read with ``weights_only=True``: no arbitrary code runs while loading.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}; check the path, or train and save one first"
        )
    try:
        checkpoint = torch.load(
            path, map_location=map_location, weights_only=True
        )
    except Exception as error:
        # Not "delete it": it may be a picture or another file given by mistake.
        raise ValueError(
            f"{path} could not be read as a checkpoint ({type(error).__name__}): it is another kind of file, or a "
            f"checkpoint that is damaged (truncated?). Give a checkpoint written by save_checkpoint (`train` writes "
            f"them); a damaged one cannot be repaired: train again, or restore a good copy."
        ) from error
    if not check_format(
        checkpoint, CHECKPOINT_FORMAT, path, "checkpoint", "train again."
    ):
        if isinstance(checkpoint, dict) and str(
            checkpoint.get("format")
        ).startswith("siamese_tutorial.gallery/"):
            raise ValueError(
                f"{path} is a gallery, not a checkpoint (a model); give a checkpoint written by "
                f"save_checkpoint (`train` writes them), or a shipped encoder's name."
            )
        raise ValueError(
            f"{path} is not a siamese_tutorial checkpoint (expected format {CHECKPOINT_FORMAT!r}); "
            "write checkpoints with save_checkpoint"
        )
    return checkpoint


def load_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a checkpoint written by :func:`save_checkpoint`, with its weights.

    Parameters
    ----------
    path : str or Path
        The checkpoint file.
    map_location : str or torch.device
        Where to put the weights.

    Returns
    -------
    model : nn.Module
        The encoder (or its wrapper), in ``eval()`` mode; call ``.train()`` to train it further.
    checkpoint : dict
        ``architecture``, ``state_dict``, ``config``, ``history`` (a :class:`History` or None),
        ``selected``, ``steps_trained``, ``complete``, ``resume``.
    """
    checkpoint = read_checkpoint(path, map_location)
    try:
        architecture = checkpoint["architecture"]
        encoder = build_encoder(
            architecture["encoder"]["name"],
            **architecture["encoder"]["kwargs"],
        )
        wrapper = architecture["wrapper"]
        model = {
            "siamese": lambda: SiameseNetwork(encoder),
            None: lambda: encoder,
            "classifier": lambda: SoftmaxClassifier(
                encoder, architecture["num_classes"]
            ),
        }[wrapper]()
        model.load_state_dict(checkpoint["state_dict"])
        for name, value in checkpoint["state_dict"].items():
            if value.is_floating_point():
                check_finite(
                    value,
                    f"{path}: the weights {name}",
                    "this checkpoint cannot be used; train again",
                )
        history = (
            History.from_dict(checkpoint["history"])
            if checkpoint["history"] is not None
            else None
        )
    except (
        KeyError,
        TypeError,
        ValueError,
        RuntimeError,
        AttributeError,
    ) as error:
        raise ValueError(
            f"{path} is a damaged siamese_tutorial checkpoint ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else 'missing data'}); train again, or restore a good copy."
        ) from error
    checkpoint["history"] = history
    model.to(map_location).eval()
    return model, checkpoint
