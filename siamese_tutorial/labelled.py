"""Labelled images: :class:`LabelledImages`, a folder of classes read as one, and a split by class.

:class:`LabelledImages` holds any labelled set of square images as tensors: Omniglot
(:mod:`siamese_tutorial.omniglot`) is one instance, a folder of your own pictures
(:func:`load_image_folder`) another. Classes may belong to *groups* (Omniglot's alphabets).
Images are float32 tensors ``(N, C, S, S)`` with values in ``[0, 1]``; for Omniglot **ink = 1 and
paper = 0**, so that zero padding (shifts, rotations) adds paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .checks import as_labels, check_positive
from .folders import class_folders
from .pictures import load_images

__all__ = ["LabelledImages", "load_image_folder", "split_classes"]


def class_members(labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Image indices sorted by class, each class's first position in that order, and its size."""
    labels = as_labels(labels)
    if labels.dim() != 1 or labels.numel() == 0:
        raise ValueError(
            f"labels must be a non-empty 1-D tensor, got shape {tuple(labels.shape)}."
        )
    order = torch.argsort(labels, stable=True)
    _, counts = torch.unique_consecutive(labels[order], return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    return order, starts, counts


@dataclass
class LabelledImages:
    """A labelled set of square images as tensors.

    Attributes
    ----------
    images : Tensor
        ``(N, C, S, S)`` float32 in ``[0, 1]`` (Omniglot: ink = 1, paper = 0).
    labels : Tensor
        ``(N,)`` int64 class index in ``0 .. num_classes - 1``.
    class_names : list[str]
        The name of each class (Omniglot: ``"Alphabet/characterNN"``).
    group_names : list[str]
        The groups of classes, e.g. Omniglot's alphabets (a single group when there are none).
    class_group : Tensor
        ``(num_classes,)`` int64 index into ``group_names`` of each class.
    drawers : Tensor, optional
        ``(N,)`` int64: who drew (or photographed) each image, where that is known (Omniglot: the
        drawer number ``0 .. 19`` of the file name). Episodes built like the official runs use it.
    """

    images: Tensor
    labels: Tensor
    class_names: list[str]
    group_names: list[str]
    class_group: Tensor
    drawers: Tensor | None = None

    def __post_init__(self) -> None:
        n = len(self.labels)
        if (
            self.images.dim() != 4
            or self.images.shape[2] != self.images.shape[3]
            or len(self.images) != n
        ):
            raise ValueError(
                f"images must be (N, C, S, S) square images, one per label; got {tuple(self.images.shape)} "
                f"for {n} labels."
            )
        if self.labels.dim() != 1 or (
            n
            and (
                self.labels.min() < 0
                or self.labels.max() >= len(self.class_names)
            )
        ):
            raise ValueError(
                f"labels must be a 1-D tensor of class indices in 0 .. {len(self.class_names) - 1}."
            )
        if self.class_group.shape != (len(self.class_names),):
            raise ValueError(
                f"class_group must give the group of each of the {len(self.class_names)} classes; "
                f"got shape {tuple(self.class_group.shape)}."
            )
        if (
            self.drawers is not None
            and self.drawers.shape != self.labels.shape
        ):
            raise ValueError(
                f"drawers must give one drawer per image, shape ({n},); got {tuple(self.drawers.shape)}."
            )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return self.images[index], int(self.labels[index])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_size(self) -> int:
        """The side ``S`` of the square images."""
        return self.images.shape[-1]

    @property
    def group_labels(self) -> Tensor:
        """``(N,)`` int64 group index of each image."""
        return self.class_group[self.labels]

    def subset(self, keep: Tensor) -> LabelledImages:
        """The images where the ``(N,)`` bool mask ``keep`` is True; classes and groups left without images
        are dropped and the rest renumbered ``0 ..`` in their old order."""
        labels = self.labels[keep]
        classes = torch.unique(labels)
        groups = torch.unique(self.class_group[classes])
        new_label = torch.full((self.num_classes,), -1, dtype=torch.int64)
        new_label[classes] = torch.arange(len(classes))
        new_group = torch.full((len(self.group_names),), -1, dtype=torch.int64)
        new_group[groups] = torch.arange(len(groups))
        return LabelledImages(
            images=self.images[keep],
            labels=new_label[labels],
            class_names=[self.class_names[c] for c in classes.tolist()],
            group_names=[self.group_names[g] for g in groups.tolist()],
            class_group=new_group[self.class_group[classes]],
            drawers=None if self.drawers is None else self.drawers[keep],
        )

    def select_groups(self, names: Sequence[str]) -> LabelledImages:
        """The images of the named groups (e.g. alphabets) only, classes renumbered ``0 .. C'-1``."""
        unknown = sorted(set(names) - set(self.group_names))
        if unknown:
            raise ValueError(
                f"Unknown groups {unknown}; this data set has {self.group_names}."
            )
        wanted = torch.tensor([self.group_names.index(name) for name in names])
        return self.subset(torch.isin(self.group_labels, wanted))

    def select_classes(self, classes: Tensor) -> LabelledImages:
        """The images of the given classes (indices) only, renumbered ``0 .. len(classes)-1`` in their old order."""
        return self.subset(torch.isin(self.labels, torch.as_tensor(classes)))


def load_image_folder(
    folder: str | Path,
    image_size: int,
    grayscale: bool = True,
    groups: bool = False,
    invert: bool = False,
    ink: str | None = None,
) -> LabelledImages:
    """Load a folder of labelled pictures in torchvision's ``ImageFolder`` layout.

    ``folder/<class>/<image>`` (one sub-folder per class), or with ``groups=True``
    ``folder/<group>/<class>/<image>`` (e.g. alphabets, or a person's several signatures as one
    group). Every image is resized to ``image_size x image_size`` (rescaled to fill the square: crop
    your pictures to squares first if their shape matters) and scaled to ``[0, 1]``.

    Parameters
    ----------
    folder : str or Path
        The top folder.
    image_size : int
        Side ``S`` of the square images returned.
    grayscale : bool
        One channel (True) or three (RGB).
    groups : bool
        Read the two-level layout ``<group>/<class>``.
    invert : bool
        ``1 - value``: for dark drawings on light paper, so that ink is 1 and paper 0 as in Omniglot.
    ink : str, optional
        ``"dark"``, ``"light"`` or ``"auto"``: how the pictures are drawn, read so that ink is 1 and paper 0
        (see :func:`load_images`); it replaces ``invert``.

    Returns
    -------
    LabelledImages
        Classes sorted by name (``"<group>/<class>"`` with groups), images sorted by file name.

    Raises
    ------
    ValueError
        With the file or folder at fault: a missing or empty folder, a file that is not a readable
        image, a class with a single image (it gives no positive pair), or fewer than two classes.
    """
    check_positive(image_size=image_size)
    classes = class_folders(folder, groups)
    for name, files in classes:
        if len(files) < 2:
            raise ValueError(
                f"class folder {Path(folder) / name} has {len(files)} image(s); every class needs at least 2 "
                f"(a positive pair is two images of one class). Add images or remove the folder."
            )
    if len(classes) < 2:
        raise ValueError(
            f"{folder} has a single class ({classes[0][0]}); at least 2 are needed for negatives."
        )
    files_of_class = [file for _, files in classes for file in files]
    labels = [label for label, (_, files) in enumerate(classes) for _ in files]
    class_names = [name for name, _ in classes]
    group_of = [
        name.split("/")[0] if groups else "all" for name in class_names
    ]
    group_names = sorted(set(group_of))
    return LabelledImages(
        images=load_images(files_of_class, image_size, grayscale, invert, ink),
        labels=torch.tensor(labels, dtype=torch.int64),
        class_names=class_names,
        group_names=group_names,
        class_group=torch.tensor(
            [group_names.index(g) for g in group_of], dtype=torch.int64
        ),
    )


def split_classes(
    dataset: LabelledImages, fraction: float, seed: int
) -> tuple[LabelledImages, LabelledImages]:
    """Hold out a random ``fraction`` of the classes, with all their images, for validation.

    Returns ``(training, held_out)``: no class is in both, so that validation measures what a new
    class meets. At least 2 classes are held out and at least 2 kept.
    """
    if not 0 < fraction < 1:
        raise ValueError(
            f"the fraction of classes held out must be between 0 and 1; got {fraction}"
        )
    count = max(2, round(fraction * dataset.num_classes))
    if dataset.num_classes - count < 2:
        raise ValueError(
            f"{dataset.num_classes} classes are too few to hold {count} out for validation and train on "
            f"the rest; add classes (at least 4), or hold out fewer."
        )
    order = torch.randperm(
        dataset.num_classes, generator=torch.Generator().manual_seed(seed)
    )
    held_out = torch.zeros(dataset.num_classes, dtype=torch.bool)
    held_out[order[:count]] = True
    return dataset.subset(~held_out[dataset.labels]), dataset.subset(
        held_out[dataset.labels]
    )
