"""The training recipe's settings: :class:`TrainConfig`, every setting declared once with its help.

The command line's ``train`` options are built from its fields; :func:`unused_settings` says which
settings cannot act on given data, :func:`reading` how picture files are read for a model.
"""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .checks import check_number, check_positive, listing
from .objectives import OBJECTIVES, make_objective
from .pictures import INK_POLARITIES

__all__ = ["TrainConfig", "unused_settings", "reading"]


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
