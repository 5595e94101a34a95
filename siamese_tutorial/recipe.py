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

import os
import platform
import typing
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checks import check_number, check_positive, listing
from .data import (
    EPISODE_STYLES,
    INK_POLARITIES,
    LabelledImages,
    PKBatches,
    load_image_folder,
    split_classes,
    with_reflections,
    with_rotations,
)
from .evaluation import OneShotResult, episode_accuracy
from .files import absolute, sha256_file
from .models import ConvEncoder, SoftmaxClassifier, encoder_of
from .omniglot import load_omniglot, load_validation_set
from .training import (
    OBJECTIVES,
    Callback,
    Checkpoint,
    History,
    ModelSelection,
    ProgressBar,
    Trainer,
    WeightAverage,
    keep_freed_memory,
    make_objective,
    read_checkpoint,
    resolve_device,
    seed_everything,
)

__all__ = [
    "TrainConfig",
    "unused_settings",
    "Validation",
    "VALIDATION_SEED",
    "train_encoder",
    "load_training_data",
    "held_out_classes",
    "fit_batch",
    "reading",
    "card_path",
    "make_card",
    "machine_description",
]

VALIDATION_SEED = 0
"""The seed of the validation episodes: the same episodes for every run, so scores compare."""


def _setting(default: Any, help: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, **extra})


@dataclass
class TrainConfig:
    """Every setting of the training recipe of :func:`train_encoder`, each declared once.

    The defaults are the recipe of the shipped ``triplet`` encoder. The help text of each field is
    what ``python -m siamese_tutorial train --help`` shows.
    """

    data: str | None = _setting(
        None,
        "a folder of pictures, one sub-folder per class (default: Omniglot's "
        "background alphabets)",
    )
    groups: bool = _setting(
        False,
        "the folder is <group>/<class>/<picture> (groups, like alphabets)",
    )
    grayscale: bool = _setting(
        True, "read the pictures in grayscale (else in colour)"
    )
    invert: bool = _setting(
        False,
        "read the pictures as 1 - value: dark drawings on light paper become ink = 1",
    )
    ink: str | None = _setting(
        None,
        "how the pictures are drawn: dark (ink on light paper), light (on dark paper) "
        "or auto (each picture's border says); read as ink = 1, replaces --invert",
        choices=INK_POLARITIES,
    )
    validation_fraction: float = _setting(
        0.2, "with --data: the fraction of classes held out for validation"
    )
    loss: str = _setting(
        "semi_hard", "loss and mining (see make_objective)", choices=OBJECTIVES
    )
    margin: float = _setting(
        0.2,
        "margin of the loss (0.2 suits L2-normalised embeddings, distances in [0, 2])",
    )
    squared: bool = _setting(
        False, "squared Euclidean distances (triplet losses only)"
    )
    p: int = _setting(32, "classes per batch")
    k: int = _setting(4, "images per class in a batch")
    image_size: int = _setting(40, "side of the training images in pixels")
    augment: bool = _setting(True, "random affine distortions of every batch")
    distortion: float = _setting(
        1.0,
        "strength of the distortions, times their ranges (1: rotations up to 10 "
        "degrees, shears up to 0.15, scales 0.9-1.1, shifts up to a tenth of the side)",
    )
    rotations: bool = _setting(
        True, "add rotations by 90/180/270 degrees as new classes"
    )
    reflections: bool = _setting(
        False,
        "add mirror images as new classes (with --rotations: the 8 symmetries "
        "of the square)",
    )
    group_batches: bool = _setting(
        False,
        "draw a batch's classes from as few groups (alphabets) as possible",
    )
    width: int = _setting(64, "filters per conv block")
    blocks: int = _setting(4, "conv blocks (each halves the image)")
    embedding_dim: int | None = _setting(
        128, "size of the embedding (none: the flattened conv features)"
    )
    normalize: bool = _setting(True, "L2-normalise the embeddings")
    steps: int = _setting(
        11000, "optimizer steps (the cosine learning-rate schedule ends there)"
    )
    lr: float = _setting(
        1e-3, "Adam's learning rate at the start of the schedule"
    )
    weight_decay: float = _setting(0.0, "Adam's weight decay")
    ema: float = _setting(
        0.0,
        "decay of a moving average of the weights after every step, which is validated "
        "and kept instead of them (0: none; 0.999 averages over about 1,000 steps)",
    )
    seed: int = _setting(
        0, "seeds the weights, the batches and the distortions"
    )
    validate_every: int = _setting(
        500, "steps between validations (and checkpoints)"
    )
    validation_episodes: int = _setting(
        200, "validation episodes the kept step is chosen on"
    )
    log_every: int = _setting(10, "steps per logged history entry")
    device: str | None = _setting(
        None,
        "cpu, cuda or cuda:N (default: cuda when available)",
        recipe=False,
    )

    def __post_init__(self) -> None:
        make_objective(
            self.loss, self.margin, self.squared
        )  # checks the loss, the margin and squared
        check_positive(
            p=self.p,
            k=self.k,
            image_size=self.image_size,
            width=self.width,
            blocks=self.blocks,
            steps=self.steps,
            validate_every=self.validate_every,
            validation_episodes=self.validation_episodes,
            log_every=self.log_every,
        )
        if self.embedding_dim is not None:
            check_positive(embedding_dim=self.embedding_dim)
        if self.p < 2 or self.k < 2:
            raise ValueError(
                f"p and k must be >= 2 (a batch needs two classes for negatives and two images of a "
                f"class for positives); got p={self.p}, k={self.k}"
            )
        if self.image_size < 2**self.blocks:
            raise ValueError(
                f"{self.blocks} blocks halve the image {self.blocks} times: image_size must be "
                f">= {2**self.blocks}; got {self.image_size}"
            )
        check_number("lr", self.lr, low=0, low_inclusive=False)
        check_number(
            "validation_fraction",
            self.validation_fraction,
            low=0,
            low_inclusive=False,
        )
        if self.validation_fraction >= 1:
            raise ValueError(
                f"validation_fraction must be below 1; got {self.validation_fraction}"
            )
        check_number("weight_decay", self.weight_decay, low=0)
        check_number(
            "distortion", self.distortion, low=0, high=10, high_inclusive=False
        )  # 10: scales down to 0
        check_number("ema", self.ema, low=0, high=1, high_inclusive=False)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"seed must be an integer; got {self.seed!r}")

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict; :meth:`from_dict` rebuilds the config."""
        return asdict(self)

    @classmethod
    def from_dict(cls, settings: dict[str, Any]) -> TrainConfig:
        """A config from :meth:`to_dict` (e.g. a checkpoint's or a card's), refusing unknown settings."""
        unknown = sorted(set(settings) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(
                f"unknown training settings [{listing([repr(name) for name in unknown])}]: written by "
                f"another version of siamese_tutorial? Use the version that wrote them."
            )
        return cls(**settings)

    def recipe(self) -> dict[str, Any]:
        """The settings that decide the trained weights (all but where it runs)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.metadata.get("recipe", True)
        }

    @staticmethod
    def field_types() -> dict[str, Any]:
        """Each field's type (the annotations resolved), for building a command line."""
        return typing.get_type_hints(TrainConfig)


def unused_settings(
    config: TrainConfig, groups: int | None = None
) -> dict[str, str]:
    """The settings of ``config`` that cannot act, given its other settings (whatever their value), each with why.

    ``groups``: how many groups the training data have, where known (``group_batches`` cannot act on a
    single one, unless rotations or reflections make new groups of it). The command line refuses such
    a setting when it is given, and a card records them under ``"unused"``: a setting that did nothing
    is never recorded as if it had acted.

    Returns
    -------
    dict of str to str
        Setting name -> why it cannot act, e.g. ``{"margin": "--loss batch_hard_soft has no margin"}``.
    """
    unused = {}
    if config.data is None:
        for name in (
            "groups",
            "grayscale",
            "invert",
            "ink",
            "validation_fraction",
        ):
            unused[name] = (
                "it is a setting of --data folders; Omniglot is read as it is"
            )
    elif config.ink is not None:
        unused["invert"] = f"--ink {config.ink} replaces it"
    if not config.augment:
        unused["distortion"] = "there are no distortions (--no-augment)"
    if config.loss in ("batch_hard_soft", "softmax"):
        unused["margin"] = f"--loss {config.loss} has no margin"
    copies = (4 if config.rotations else 1) * (
        2 if config.reflections else 1
    )  # each makes new groups
    if groups is not None and groups * copies < 2:
        unused["group_batches"] = (
            "the training data have a single group (give --groups for a folder of groups)"
        )
    return unused


@dataclass
class Validation:
    """The validation protocol: accuracy on fixed N-way 1-shot episodes of held-out classes.

    Callable as ``validation(encoder) -> accuracy``, the score :class:`~siamese_tutorial.training.ModelSelection`
    keeps the best step by. Episodes are within one group (alphabet) and, where ``dataset.drawers``
    says who drew each image, built like the official runs (``style="runs"``: every support image of
    an episode by one drawer, every query by another); otherwise random.

    Parameters
    ----------
    dataset : LabelledImages
        The held-out images, e.g. :func:`siamese_tutorial.omniglot.load_validation_set`.
    episodes : int
        Number of episodes (200: about +-1.2 points at 85%).
    style : str, optional
        ``"runs"`` or ``"random"``; default ``"runs"`` when the data set has drawers.
    n_way : int
        Classes per episode (at most the classes of the largest group).
    seed : int
        Seed of the episodes.
    shifts : int
        Test-time augmentation of :func:`~siamese_tutorial.evaluation.embed`.
    """

    dataset: LabelledImages
    episodes: int = 200
    style: str | None = None
    n_way: int = 20
    seed: int = VALIDATION_SEED
    shifts: int = 0

    def __post_init__(self) -> None:
        check_positive(episodes=self.episodes, n_way=self.n_way)
        usable = (
            torch.bincount(
                self.dataset.labels, minlength=self.dataset.num_classes
            )
            >= 2
        )
        largest = (
            int(torch.bincount(self.dataset.class_group[usable]).max())
            if usable.any()
            else 0
        )
        if largest < 2:
            raise ValueError(
                "validation needs 2 or more classes with 2 or more images each in one group; "
                "hold out more classes for validation."
            )
        self.n_way = min(
            self.n_way, largest
        )  # as many ways as the held-out classes allow
        if self.style is None:
            self.style = (
                "runs" if self.dataset.drawers is not None else "random"
            )
        if self.style not in EPISODE_STYLES:
            raise ValueError(
                f"unknown episode style {self.style!r}; choose one of {EPISODE_STYLES}"
            )

    def result(self, encoder: nn.Module) -> OneShotResult:
        """The episodes' :class:`~siamese_tutorial.evaluation.OneShotResult`."""
        return episode_accuracy(
            encoder,
            self.dataset,
            n_way=self.n_way,
            num_episodes=self.episodes,
            within_group=True,
            style=self.style,
            seed=self.seed,
            shifts=self.shifts,
        )

    def __call__(self, encoder: nn.Module) -> float:
        return self.result(encoder).accuracy

    def describe(self) -> str:
        """One line: what the score is."""
        return (
            f"{self.episodes} episodes of {self.n_way}-way 1-shot within one group, {self.style}-style"
            + (f", test-time shifts {self.shifts}" if self.shifts else "")
        )


def reading(config: TrainConfig | dict[str, Any]) -> dict[str, Any]:
    """How picture files are read for an encoder trained with ``config``: ``grayscale``, ``invert`` and ``ink``
    (the arguments of :func:`~siamese_tutorial.data.load_images`).

    Omniglot's files are dark ink on light paper, which the loader turns into ink = 1; pictures to
    enrol or identify are read the same way (``ink="dark"``: a picture drawn the other way is said). For
    a folder, as its training pictures were read.
    """
    settings = config.to_dict() if isinstance(config, TrainConfig) else config
    if settings.get("data") is None:
        return {
            "grayscale": True,
            "invert": True,
            "ink": "dark",
        }  # "dark": pictures drawn otherwise are said
    return {
        "grayscale": settings["grayscale"],
        "invert": settings["invert"],
        "ink": settings.get("ink"),
    }


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
            stacklevel=2,
        )
    state = _resume_state(Path(checkpoint_path), config) if resume else None
    seed_everything(config.seed)
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
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=config.steps
    )
    hooks: list[Callback] = [ProgressBar()] if progress else []
    if config.ema:
        hooks.append(WeightAverage(config.ema))
    if validation is not None:
        hooks.append(ModelSelection(validation, config.validate_every))
    if checkpoint_path is not None:
        hooks.append(
            Checkpoint(
                checkpoint_path, config.to_dict(), config.validate_every
            )
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
        if (
            state.get("batches") is not None
        ):  # first: data changed since are said as such, not as a size mismatch
            batches.load_state_dict(state["batches"])
        trainer.load_state_dict(state)
    history = trainer.fit(batches, config.steps)
    return encoder_of(model), history


# ----------------------------------------------------------------------------------------------
# Cards: how a checkpoint was made
# ----------------------------------------------------------------------------------------------


def card_path(checkpoint: str | Path) -> Path:
    """The card beside a checkpoint: ``runs/m.pt`` -> ``runs/m.json`` (checkpoints end in ``.pt``)."""
    checkpoint = Path(checkpoint)
    if checkpoint.suffix != ".pt":
        raise ValueError(
            f"a checkpoint's name must end in .pt (its card goes beside it as .json); got {checkpoint}"
        )
    return checkpoint.with_suffix(".json")


def machine_description(device: str | torch.device | None = None) -> str:
    """The processor (or GPU), its core count, torch's threads and version: where a time was measured."""
    if resolve_device(device).type == "cuda":
        chip = torch.cuda.get_device_name()
    else:
        cpuinfo = Path("/proc/cpuinfo")
        names = (
            [
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ]
            if cpuinfo.exists()
            else []
        )
        threads = torch.get_num_threads()
        chip = (
            f"{names[0] if names else platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"{threads} torch thread{'s' if threads != 1 else ''}"
        )
    return f"{chip}, torch {torch.__version__}"


def make_card(
    command: str,
    config: TrainConfig,
    checkpoint_path: str | Path,
    history: History,
    validation: Validation | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    """What a finished training records beside its checkpoint (``card_path``): the command, the settings (and
    those that could not act, with why: :func:`unused_settings`), the machine and time, the data, the validation
    score of the kept step, and the checkpoint's SHA-256, so that a card is never taken for another checkpoint's.

    ``data`` may hold ``"groups"``, the training data's number of groups."""
    best = history.best_validation
    unused = unused_settings(config, data.get("groups"))
    return {
        "command": command,
        "config": config.to_dict(),
        "data": data,
        "steps_trained": history.step[-1],
        "training_minutes": round(history.seconds[-1] / 60, 2),
        "machine": machine_description(config.device),
        "validation": None
        if validation is None or best is None
        else {
            "accuracy": best[1],
            "step_kept": best[0],
            "episodes": validation.episodes,
            "task": validation.describe(),
        },
        "unused": unused,
        "checkpoint_sha256": sha256_file(checkpoint_path),
    }
