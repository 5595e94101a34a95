"""The recipe that trains the shipped encoders: its settings, its validation protocol, its card.

- :class:`TrainConfig` declares every setting once, with its help text: the command line's
  ``train`` options are built from its fields.
- :func:`train_encoder` trains a :class:`~siamese_tutorial.models.ConvEncoder` on any
  :class:`~siamese_tutorial.data.LabelledImages`: P x K batches sampled and distorted on the device,
  Adam with a cosine schedule over a fixed number of steps (so that a recorded command gives the same
  recipe on any machine), model selection on a validation score, checkpoints it can resume from.
- :class:`Validation` is the protocol everything is chosen on: fixed 20-way 1-shot episodes of
  held-out classes (for Omniglot, the 10 evaluation alphabets the official runs do not use), built
  like the official runs where the data say who drew each image.
- :func:`make_card` records how a checkpoint was made, beside it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .callbacks import training_callbacks
from .cards import card_path, make_card
from .checkpoints import read_checkpoint
from .checks import resolve_device
from .config import TrainConfig, reading, unused_settings
from .data import (
    LabelledImages,
    PKBatches,
    load_image_folder,
    split_classes,
    with_reflections,
    with_rotations,
)
from .files import absolute
from .history import History
from .loop import Callback, Trainer
from .machine import keep_freed_memory, machine_description, seed_everything
from .models import ConvEncoder, SoftmaxClassifier, encoder_of
from .objectives import make_objective
from .omniglot import load_omniglot, load_validation_set
from .validation import VALIDATION_SEED, Validation

__all__ = [
    "TrainConfig",
    "unused_settings",
    "Validation",
    "VALIDATION_SEED",
    "train_encoder",
    "load_training_data",
    "held_out_classes",
    "calibration_classes",
    "fit_batch",
    "reading",
    "card_path",
    "make_card",
    "machine_description",
]


def fit_batch(
    config: TrainConfig,
    train_set: LabelledImages,
    held_out: int = 0,
    adapt: bool = False,
) -> tuple[TrainConfig, str | None]:
    """The recipe with ``p`` no larger than the classes of ``train_set`` that have ``k`` or more images.

    A batch takes ``p`` classes of ``k`` images. With ``adapt``, a ``p`` larger than the classes
    there are is lowered to them (a small folder), and the note returned says so; without, or with
    fewer than 2 such classes, it is a ``ValueError`` that says what to change (``held_out``: the
    classes held out for validation, for the message).

    Returns
    -------
    config : TrainConfig
        ``config``, or a copy with the lowered ``p``.
    note : str or None
        One line saying that ``p`` was lowered, or None.
    """
    classes = int((torch.bincount(train_set.labels) >= config.k).sum())
    if classes >= config.p:
        return config, None
    where = f"{config.data}: " if config.data is not None else ""
    if not adapt or classes < 2:
        raise ValueError(
            f"{where}{classes} training classes have {config.k} or more pictures (after holding out "
            f"{held_out} for validation), but a batch takes p={config.p} classes of k={config.k}: "
            f"lower --p (or --k), or add classes."
        )
    note = (
        f"note: {where}{classes} training classes have {config.k} or more pictures (after holding out {held_out} "
        f"for validation): each batch takes p={classes} classes instead of {config.p}"
    )
    return TrainConfig.from_dict({**config.to_dict(), "p": classes}), note


def load_training_data(
    config: TrainConfig,
    data_dir: str | Path | None = None,
    check_batch: bool = True,
) -> tuple[LabelledImages, LabelledImages, dict[str, Any]]:
    """The training and validation images of a recipe, and a record of them for the card.

    Omniglot (``config.data`` None): the background alphabets for training, the 10 evaluation
    alphabets no official run uses for validation. A folder: its classes, a ``validation_fraction`` of
    them held out (seeded by ``config.seed``), recorded by name, with the folder's absolute path (so
    that the card is read right from any folder). ``check_batch``: refuse a ``p`` larger than the
    training classes (see :func:`fit_batch`, which can lower it instead).
    """
    if config.data is None:
        train_set = load_omniglot("background", config.image_size, data_dir)
        record = {
            "train": "Omniglot images_background (30 alphabets)",
            "validation": "Omniglot images_evaluation: the 10 alphabets no official run uses",
            "groups": _groups(train_set),
        }
        return (
            train_set,
            load_validation_set(config.image_size, data_dir),
            record,
        )
    everything = load_image_folder(
        config.data,
        config.image_size,
        config.grayscale,
        config.groups,
        config.invert,
        config.ink,
    )
    train_set, validation_set = split_classes(
        everything, config.validation_fraction, config.seed
    )
    if check_batch:
        fit_batch(config, train_set, validation_set.num_classes)
    record = {
        "folder": str(absolute(config.data)),
        "classes": everything.num_classes,
        "pictures": len(everything),
        "groups": _groups(train_set),
        "validation_classes": validation_set.class_names,
    }
    return train_set, validation_set, record


def _groups(dataset: LabelledImages) -> int:
    """How many groups the classes of ``dataset`` belong to (those with no class left out)."""
    return len(set(dataset.class_group.tolist()))


def held_out_classes(
    card: dict[str, Any], image_size: int, data_dir: str | Path | None = None
) -> tuple[LabelledImages, str]:
    """The classes a model was validated on (never trained on), read as it reads pictures, and what they are.

    For a model of Omniglot (``card["config"]["data"]`` None), Omniglot's 10 validation alphabets; for
    one trained on a folder, the classes its card records as held out there, from the folder as
    ``train`` recorded it (absolute; as typed if it has moved since).

    Raises ``ValueError`` if the card does not say which classes were held out.
    """
    config = card["config"]
    if config.get("data") is None:
        return load_validation_set(
            image_size, data_dir
        ), "Omniglot's 10 validation alphabets"
    names = card.get("data", {}).get("validation_classes")
    if not names:
        raise ValueError(
            "the model's card does not say which classes it held out; give --calibrate FOLDER, a folder "
            "of classes the model was not trained on."
        )
    settings = reading(config)
    recorded = card.get("data", {}).get("folder")
    where = (
        recorded
        if recorded is not None and Path(recorded).is_dir()
        else config["data"]
    )
    if not Path(where).is_dir():
        raise ValueError(
            f"the classes the model held out for validation are in {recorded or where}, which is no "
            f"folder now (moved, or deleted?): put it back to use them (enrol can choose its threshold "
            f"on other classes the model never saw instead: --calibrate FOLDER)."
        )
    everything = load_image_folder(
        where,
        image_size,
        settings["grayscale"],
        config["groups"],
        settings["invert"],
        settings.get("ink"),
    )
    keep = torch.tensor([name in names for name in everything.class_names])
    return everything.select_classes(
        keep.nonzero().flatten()
    ), f"{len(names)} held-out classes of {config['data']}"


def build_model(
    config: TrainConfig, in_channels: int, num_classes: int
) -> nn.Module:
    """The network the recipe trains: a ConvEncoder, inside a SoftmaxClassifier for ``loss="softmax"``."""
    encoder = ConvEncoder(
        in_channels=in_channels,
        width=config.width,
        blocks=config.blocks,
        embedding_dim=config.embedding_dim,
        normalize=config.normalize,
        image_size=config.image_size,
    )
    return (
        SoftmaxClassifier(encoder, num_classes)
        if config.loss == "softmax"
        else encoder
    )


def _resume_state(path: Path, config: TrainConfig) -> dict[str, Any]:
    checkpoint = read_checkpoint(path)
    stored = TrainConfig.from_dict(checkpoint["config"]).recipe()
    differ = {
        name: (stored[name], value)
        for name, value in config.recipe().items()
        if stored.get(name) != value
    }
    if differ:
        detail = ", ".join(
            f"{name} {old!r} there, {new!r} now"
            for name, (old, new) in differ.items()
        )
        raise ValueError(
            f"{path} was trained with another recipe ({detail}); resume with its own settings, "
            f"or train into another file."
        )
    if not checkpoint.get("resume"):
        raise ValueError(
            f"{path} holds no training state to resume from (an exported encoder?); train anew."
        )
    return checkpoint["resume"]


def train_encoder(
    config: TrainConfig,
    train_set: LabelledImages,
    validation: Validation | None = None,
    checkpoint_path: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
) -> tuple[nn.Module, History]:
    """Train a :class:`~siamese_tutorial.models.ConvEncoder` with the recipe ``config``.

    P x K batches (Hermans et al., 2017) over ``train_set`` (plus its mirror images and rotations as new
    classes if ``config.reflections`` and ``config.rotations``), drawn and distorted on the device
    (:class:`~siamese_tutorial.data.PKBatches`), Adam, and a cosine learning-rate schedule from ``config.lr`` down to 0 over ``config.steps``; the
    step kept is the best on ``validation`` (of the moving average of the weights, with ``config.ema``:
    :class:`~siamese_tutorial.training.WeightAverage`). With ``loss="softmax"`` the encoder is trained inside a
    :class:`~siamese_tutorial.models.SoftmaxClassifier` over the training classes, on the same batches.

    Parameters
    ----------
    config : TrainConfig
        The recipe.
    train_set : LabelledImages
        Training images ``(N, C, S, S)`` with ``S == config.image_size``.
    validation : Validation, optional
        The score the kept step is chosen on.
    checkpoint_path : str or Path, optional
        Where the checkpoint goes (every ``config.validate_every`` steps, at the end, and on Ctrl-C).
    resume : bool
        Continue the training saved in ``checkpoint_path``: its weights, optimizer, schedule and random
        streams, so that on the CPU the result equals an uninterrupted run's.
    progress : bool
        Show a progress bar.
    callbacks : sequence of Callback
        More hooks for the :class:`~siamese_tutorial.training.Trainer`.

    Returns
    -------
    encoder : nn.Module
        The trained encoder (the best validated one when ``validation`` is given).
    history : History
        Training curves.
    """
    if train_set.image_size != config.image_size:
        raise ValueError(
            f"config.image_size is {config.image_size} but the training images have shape "
            f"{tuple(train_set.images.shape)}; load them at image_size={config.image_size}"
        )
    if resume and checkpoint_path is None:
        raise ValueError(
            "resume=True needs the checkpoint_path to resume from"
        )
    device = resolve_device(config.device)
    if device.type == "cpu":
        keep_freed_memory()  # no page faults for each step's activations (see its docstring)
    _warn_unused(config, train_set)
    state = _resume_state(Path(checkpoint_path), config) if resume else None
    seed_everything(config.seed)
    batches, model = _batches_and_model(config, train_set, device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=config.steps
    )
    hooks = training_callbacks(
        progress=progress,
        average=config.ema,
        validate=validation,
        validate_every=config.validate_every,
        checkpoint_path=checkpoint_path,
        config=config.to_dict(),
    )
    trainer = Trainer(
        model,
        make_objective(config.loss, config.margin, config.squared),
        optimizer,
        scheduler,
        device,
        config.log_every,
        [*hooks, *callbacks],
    )
    if state is not None:
        # first: data changed since are said as such, not as a size mismatch
        if state.get("batches") is not None:
            batches.load_state_dict(state["batches"])
        trainer.load_state_dict(state)
    history = trainer.fit(batches, config.steps)
    return encoder_of(model), history


def _warn_unused(config: TrainConfig, train_set: LabelledImages) -> None:
    """Warn of the settings changed from their default that cannot act on these data."""
    defaults = TrainConfig()
    unused = {
        name: why
        for name, why in unused_settings(config, _groups(train_set)).items()
        if getattr(config, name) != getattr(defaults, name)
    }
    if unused:  # the command line refuses them when given; from Python, or an older checkpoint, said
        warnings.warn(
            "settings that cannot act: "
            + "; ".join(
                f"{name} {getattr(config, name)!r} ({why})"
                for name, why in unused.items()
            ),
            stacklevel=3,  # the caller of train_encoder
        )


def _batches_and_model(
    config: TrainConfig, train_set: LabelledImages, device: torch.device
) -> tuple[PKBatches, nn.Module]:
    """The recipe's P x K batches of ``train_set`` (with its new classes), and its network."""
    data = with_reflections(train_set) if config.reflections else train_set
    data = with_rotations(data) if config.rotations else data
    batches = PKBatches(
        data,
        config.p,
        config.k,
        seed=config.seed,
        augment=config.augment,
        group_batches=config.group_batches,
        device=device,
        distortion=config.distortion,
    )
    model = build_model(config, data.images.shape[1], data.num_classes)
    return batches, model


def calibration_classes(
    card: dict[str, Any],
    image_size: int,
    folder: Path | None,
    data_dir: Path | None,
):
    """Held-out classes to choose the open-set threshold on: a folder given, else those the model was validated on.

    A folder the model was trained on is refused: a threshold measured on classes the model learned
    lets in more strangers than it says."""
    if folder is None:
        return held_out_classes(card, image_size, data_dir)
    trained_on = card.get("data", {}).get("folder") or card["config"].get(
        "data"
    )
    if (
        trained_on is not None
        and Path(trained_on).is_dir()
        and Path(folder).is_dir()
        and Path(folder).resolve() == Path(trained_on).resolve()
    ):
        held = len(card.get("data", {}).get("validation_classes") or [])
        instead = (
            f", or leave --calibrate out to use the {held} classes it held out there"
            if held
            else ""
        )
        raise ValueError(
            f"--calibrate {folder} is the folder the model was trained on: a threshold chosen on classes "
            f"it learned lets in more strangers than it measures. Give a folder of classes the model "
            f"never saw{instead}."
        )
    return load_image_folder(
        folder, image_size, **reading(card["config"])
    ), str(folder)
