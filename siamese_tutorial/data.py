"""Labelled images, and the batches, pairs and triplets the chapters train with.

:class:`LabelledImages` holds any labelled set of square images as tensors: Omniglot
(:mod:`siamese_tutorial.omniglot`) is one instance, a folder of your own pictures
(:func:`load_image_folder`) another. Classes may belong to *groups* (Omniglot's alphabets): batches
drawn from one group hold the look-alike negatives of a within-group task.

Images are float32 tensors ``(N, C, S, S)`` with values in ``[0, 1]``; for Omniglot **ink = 1 and
paper = 0**, so that zero padding (shifts, rotations) adds paper. Picture files are read by
:func:`load_images` (of :mod:`siamese_tutorial.pictures`, importable from here too).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Sampler

from .checks import (
    as_labels,
    check_number,
    check_positive,
    listing,
    resolve_device,
)
from .pictures import (  # reading picture files: its own module, and importable from here as before
    IMAGE_SUFFIXES,
    INK_POLARITIES,
    MAX_PIXELS,
    PictureReader,
    class_folders,
    load_images,
    paper_is_light,
    picture_files,
)

__all__ = [
    "LabelledImages",
    "IMAGE_SUFFIXES",
    "INK_POLARITIES",
    "MAX_PIXELS",
    "load_images",
    "paper_is_light",
    "load_image_folder",
    "PictureReader",
    "class_folders",
    "picture_files",
    "split_classes",
    "PKSampler",
    "PKBatches",
    "random_pairs",
    "random_triplets",
    "EPISODE_STYLES",
    "Episode",
    "n_way_k_shot_episodes",
    "with_rotations",
    "with_reflections",
    "affine",
    "random_affine",
]


# ----------------------------------------------------------------------------- the data set


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


# ----------------------------------------------------------------------------- sampling


def _class_members(labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
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


class PKSampler(Sampler[list[int]]):
    """Batches of ``P`` classes with ``K`` images each (Hermans, Beyer & Leibe, 2017).

    Every batch then holds positive pairs (``K >= 2``) and negatives (``P >= 2``) for online mining.
    :meth:`sample` gives one batch as a ``(P * K,)`` index tensor on ``device``, without waiting for
    the device; iterating yields ``num_batches`` lists of indices, or endlessly many without
    ``num_batches`` (a ``batch_sampler`` for a ``DataLoader`` either way; only ``len()`` needs it).
    Classes with fewer than ``K`` images are never drawn. The seeded random stream continues across
    calls; :meth:`state_dict` captures it.

    With ``class_groups`` (the group of each class, indexed by label, e.g. ``class_group``), a batch
    draws its classes from as few groups as possible: the classes of a random group in random
    order, then those of the next random group, until there are ``P``. Batches of one alphabet hold
    the negatives that the within-alphabet one-shot task must tell apart; random batches mostly hold
    characters of different alphabets, which are easy to separate.
    """

    def __init__(
        self,
        labels: Tensor,
        p: int,
        k: int,
        num_batches: int | None = None,
        seed: int = 0,
        class_groups: Tensor | None = None,
        device: str | torch.device = "cpu",
    ):
        check_positive(p=p, k=k)
        if num_batches is not None:
            check_positive(num_batches=num_batches)
        labels = as_labels(labels).cpu()
        order, starts, counts = _class_members(labels)
        eligible = (counts >= k).nonzero().flatten()
        if len(eligible) < p:
            raise ValueError(
                f"A P x K batch needs {p} classes with at least {k} images each, but only "
                f"{len(eligible)} classes have that many. Lower p or k."
            )
        group_of, num_groups = None, 0
        if class_groups is not None:
            class_groups, classes = (
                torch.as_tensor(class_groups).cpu(),
                torch.unique(labels),
            )
            if (
                class_groups.dim() != 1
                or classes.min() < 0
                or classes.max() >= len(class_groups)
            ):
                raise ValueError(
                    f"class_groups must be a 1-D tensor with an entry for every label 0 .. {int(classes.max())}; "
                    f"got shape {tuple(class_groups.shape)}."
                )
            group_of = torch.unique(
                class_groups[classes[eligible]], return_inverse=True
            )[1]
            num_groups = int(group_of.max()) + 1
        self.device = resolve_device(device)
        self.order, self.starts, self.counts = (
            order.to(self.device),
            starts.to(self.device),
            counts.to(self.device),
        )
        self.eligible = eligible.to(self.device)
        self.group_of = None if group_of is None else group_of.to(self.device)
        self.num_groups = num_groups
        self.max_count = int(
            counts[eligible].max()
        )  # known now, so that sampling never asks the device
        self.p, self.k, self.num_batches = p, k, num_batches
        self.generator = torch.Generator(self.device).manual_seed(seed)

    def _classes(self) -> Tensor:
        """The positions in ``eligible`` of one batch's ``P`` classes."""
        if self.group_of is None:
            return torch.randperm(
                len(self.eligible),
                generator=self.generator,
                device=self.device,
            )[: self.p]
        # Sort by (random rank of the group) + (random fraction): groups in random order, each shuffled.
        group_rank = torch.randperm(
            self.num_groups, generator=self.generator, device=self.device
        )
        key = group_rank[self.group_of] + torch.rand(
            len(self.eligible), generator=self.generator, device=self.device
        )
        return key.argsort()[: self.p]

    def sample(self) -> Tensor:
        """One batch: ``(P * K,)`` int64 indices on ``device``, the ``K`` images of each class together."""
        chosen = self.eligible[self._classes()]
        # K distinct members of each class: the first K of a random ranking within the class.
        ranks = torch.rand(
            self.p,
            self.max_count,
            generator=self.generator,
            device=self.device,
        )
        beyond = (
            torch.arange(self.max_count, device=self.device)
            >= self.counts[chosen, None]
        )
        offsets = ranks.masked_fill_(beyond, 2.0).argsort(dim=1)[:, : self.k]
        return self.order[self.starts[chosen, None] + offsets].flatten()

    def __len__(self) -> int:
        if self.num_batches is None:
            raise TypeError(
                "this PKSampler was made without num_batches, so it has no length"
            )
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        """``num_batches`` batches as lists of indices; endless without ``num_batches`` (stop it yourself,
        e.g. with ``itertools.islice``, or train for a number of steps)."""
        count = 0
        while self.num_batches is None or count < self.num_batches:
            yield self.sample().tolist()
            count += 1

    def state_dict(self) -> dict[str, Tensor]:
        """The state of the random stream (to resume sampling exactly where it stopped)."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.generator.set_state(state["generator"])


class PKBatches:
    """Endless ``(images, labels)`` P x K batches of a data set, sampled and augmented on ``device``.

    The images are moved to the device once; each batch is then gathered, and distorted with
    :func:`random_affine` if ``augment``, on the device, so that a GPU never waits for the CPU.
    Two seeded random streams (sampling, distortions) make a run repeatable on the CPU, and
    :meth:`state_dict` lets a stopped run resume with exactly the batches it would have had.

    Parameters
    ----------
    dataset : LabelledImages
        The training images.
    p, k : int
        Classes per batch and images per class.
    seed : int
        Seeds both random streams.
    augment : bool
        Random affine distortions of every batch.
    distortion : float
        Their strength: the ranges of :func:`random_affine` times this (1: its defaults).
    group_batches : bool
        Draw each batch's classes from as few groups (alphabets) as possible.
    device : str or torch.device
        Where the images, the sampling and the distortions live.
    """

    def __init__(
        self,
        dataset: LabelledImages,
        p: int,
        k: int,
        seed: int = 0,
        augment: bool = False,
        group_batches: bool = False,
        device: str | torch.device = "cpu",
        distortion: float = 1.0,
    ):
        self.device = resolve_device(device)
        self.sampler = PKSampler(
            dataset.labels,
            p,
            k,
            seed=seed,
            device=self.device,
            class_groups=dataset.class_group if group_batches else None,
        )
        self.images = dataset.images.to(self.device)
        self.labels = dataset.labels.to(self.device)
        self.augment = augment
        self.distortion = distortion
        self.generator = torch.Generator(self.device).manual_seed(seed + 1)
        # What the batches are drawn from, kept with the random streams: a resumed run must draw from the same.
        self.data = {
            "classes": list(dataset.class_names),
            "shape": list(dataset.images.shape),
            "counts": torch.bincount(
                dataset.labels, minlength=dataset.num_classes
            ).tolist(),
        }

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        while True:
            indices = self.sampler.sample()
            images = self.images[indices]
            if self.augment:
                images = random_affine(
                    images, self.generator, strength=self.distortion
                )
            yield images, self.labels[indices]

    def state_dict(self) -> dict[str, Any]:
        """The random streams, and what the data were (class names, images per class, shape)."""
        return {
            "sampler": self.sampler.generator.get_state(),
            "augment": self.generator.get_state(),
            "data": self.data,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the random streams of :meth:`state_dict`; ``ValueError`` if the data are not the same."""
        saved = state.get("data")  # absent in states saved by earlier versions
        if saved is not None and saved != self.data:
            raise ValueError(
                f"the training data changed since the training stopped ({_data_change(saved, self.data)})"
                f": resume it with the data it was trained on, or start a new training"
            )
        self.sampler.generator.set_state(state["sampler"])
        self.generator.set_state(state["augment"])


def _data_change(then: dict[str, Any], now: dict[str, Any]) -> str:
    """What differs between two records of :attr:`PKBatches.data`, in a few words."""
    added = sorted(set(now["classes"]) - set(then["classes"]))
    removed = sorted(set(then["classes"]) - set(now["classes"]))
    if not (added or removed):
        return (
            f"{sum(then['counts'])} images of shape {then['shape'][1:]} then, {sum(now['counts'])} of shape "
            f"{now['shape'][1:]} now"
        )
    return (
        f"{len(then['classes'])} classes then, {len(now['classes'])} now"
        + (f"; new: {listing(added, 3)}" if added else "")
        + (f"; gone: {listing(removed, 3)}" if removed else "")
    )


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0; got {value!r}")


def _random_positive(
    labels: Tensor, num: int, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    """``num`` pairs ``(i, j)``, ``i != j``, of the same class, ``i`` uniform over images whose class has 2+."""
    order, starts, counts = _class_members(labels)
    class_of = torch.repeat_interleave(torch.arange(len(counts)), counts)
    candidates = (counts[class_of] >= 2).nonzero().flatten()
    if len(candidates) == 0:
        raise ValueError(
            "No class has two or more images, so there is no positive (similar) pair to draw."
        )
    pos_i = candidates[
        torch.randint(len(candidates), (num,), generator=generator)
    ]
    c = class_of[pos_i]
    within = pos_i - starts[c]
    shift = 1 + (torch.rand(num, generator=generator) * (counts[c] - 1)).long()
    pos_j = starts[c] + (within + shift) % counts[c]
    return order[pos_i], order[pos_j]


def _random_negative(
    labels: Tensor, anchors: Tensor, generator: torch.Generator | None
) -> Tensor:
    """For each anchor, a uniformly random image of another class."""
    if torch.unique(labels).numel() < 2:
        raise ValueError(
            "All images have the same label, so there is no negative (dissimilar) pair to draw."
        )
    negatives = torch.randint(len(labels), anchors.shape, generator=generator)
    clash = labels[negatives] == labels[anchors]
    while (
        clash.any()
    ):  # rejection sampling: cheap, since few draws share the anchor's class
        negatives[clash] = torch.randint(
            len(labels), (int(clash.sum()),), generator=generator
        )
        clash = labels[negatives] == labels[anchors]
    return negatives


def random_pairs(
    labels: Tensor, num_pairs: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Random balanced pairs for the contrastive loss: half similar, half dissimilar, shuffled.

    Returns ``(i, j, y)``, each ``(num_pairs,)`` int64, with the convention of Hadsell et al. (2006):
    ``y = 0`` for a similar pair (same class), ``y = 1`` for a dissimilar pair.
    """
    labels = as_labels(labels)
    _check_count("num_pairs", num_pairs)
    num_similar = (num_pairs + 1) // 2
    si, sj = _random_positive(labels, num_similar, generator)
    di = torch.randint(
        len(labels), (num_pairs - num_similar,), generator=generator
    )
    dj = _random_negative(labels, di, generator)
    y = torch.cat(
        [
            torch.zeros(num_similar, dtype=torch.int64),
            torch.ones(len(di), dtype=torch.int64),
        ]
    )
    shuffle = torch.randperm(num_pairs, generator=generator)
    return (
        torch.cat([si, di])[shuffle],
        torch.cat([sj, dj])[shuffle],
        y[shuffle],
    )


def random_triplets(
    labels: Tensor, num_triplets: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Random triplets ``(anchor, positive, negative)``: the positive shares the anchor's class, the negative does not.

    The simplest triplet selection (offline, no look at the embeddings). Returns three
    ``(num_triplets,)`` int64 index tensors into ``labels``.
    """
    labels = as_labels(labels)
    _check_count("num_triplets", num_triplets)
    anchors, positives = _random_positive(labels, num_triplets, generator)
    return anchors, positives, _random_negative(labels, anchors, generator)


# ----------------------------------------------------------------------------- episodes


EPISODE_STYLES = ("random", "runs")
"""How :func:`n_way_k_shot_episodes` picks the images of an episode's classes."""


@dataclass(frozen=True)
class Episode:
    """One N-way K-shot classification episode, as indices into a labelled data set.

    Attributes
    ----------
    classes : Tensor
        ``(n_way,)`` int64 labels (in the data set) of the episode's classes; position ``c`` is class ``c``.
    support : Tensor
        ``(n_way, k_shot)`` int64 indices of the support (training) images; row ``c`` holds class ``c``.
    query : Tensor
        ``(n_way * num_queries,)`` int64 indices of the query (test) images, grouped by class.
    answers : Tensor
        ``(n_way * num_queries,)`` int64 position in ``classes`` of each query's class.
    """

    classes: Tensor
    support: Tensor
    query: Tensor
    answers: Tensor


def _eligible_class_groups(
    order: Tensor,
    starts: Tensor,
    counts: Tensor,
    needed: int,
    n_way: int,
    group_labels: Tensor | None,
    within_group: bool,
) -> list[Tensor]:
    """Sets of classes to draw an episode from: all classes, or one set per group (alphabet).

    Classes are positions in the output of :func:`_class_members` (``order, starts, counts``); only
    classes with ``>= needed`` images are kept, and only groups with ``>= n_way`` such classes.
    """
    if counts.max() < needed:
        raise ValueError(
            f"Each class needs k_shot + num_queries = {needed} images, but the largest class has only "
            f"{int(counts.max())}. Lower k_shot or num_queries."
        )
    eligible = counts >= needed
    if not within_group:
        if eligible.sum() < n_way:
            raise ValueError(
                f"n_way={n_way} needs {n_way} classes with at least k_shot + num_queries = {needed} images, "
                f"but only {int(eligible.sum())} of the {len(counts)} classes have that many. Lower n_way."
            )
        return [eligible.nonzero().flatten()]
    if group_labels is None:
        raise ValueError(
            "within_group=True needs group_labels (one group, e.g. alphabet, index per image)."
        )
    group_labels = torch.as_tensor(group_labels)
    if group_labels.shape != order.shape:
        raise ValueError(
            f"group_labels must have one entry per image, shape {tuple(order.shape)}; "
            f"got {tuple(group_labels.shape)}."
        )
    class_group = group_labels[order[starts]]
    if (group_labels[order] != class_group.repeat_interleave(counts)).any():
        raise ValueError(
            "group_labels are inconsistent: some class has images in several groups."
        )
    per_group = [
        (eligible & (class_group == g)).nonzero().flatten()
        for g in class_group.unique()
    ]
    groups = [g for g in per_group if len(g) >= n_way]
    if not groups:
        raise ValueError(
            f"No group has n_way={n_way} classes with at least k_shot + num_queries = {needed} images "
            f"(the largest has {max(len(g) for g in per_group)}). Lower n_way, or use within_group=False."
        )
    return groups


def _drawer_table(
    labels: Tensor, drawers: Tensor | None, num_classes: int
) -> Tensor:
    """``(C, D)`` int64: the image of class position ``c`` by drawer ``d``, or -1 where there is none."""
    if drawers is None:
        raise ValueError(
            "style='runs' needs drawers (who drew each image), e.g. an Omniglot split's `drawers`."
        )
    drawers = torch.as_tensor(drawers)
    if drawers.shape != labels.shape or drawers.min() < 0:
        raise ValueError(
            f"drawers must give a drawer index >= 0 for each image, shape {tuple(labels.shape)}; "
            f"got shape {tuple(drawers.shape)}."
        )
    table = torch.full(
        (num_classes, int(drawers.max()) + 1), -1, dtype=torch.int64
    )
    class_position = torch.searchsorted(torch.unique(labels), labels)
    table[class_position, drawers] = torch.arange(len(labels))
    return table


def n_way_k_shot_episodes(
    labels: Tensor,
    n_way: int,
    k_shot: int,
    num_queries: int,
    num_episodes: int,
    seed: int,
    group_labels: Tensor | None = None,
    within_group: bool = False,
    style: str = "random",
    drawers: Tensor | None = None,
) -> list[Episode]:
    """Deterministic N-way K-shot episodes drawn from a labelled data set (Vinyals et al., 2016).

    Each episode draws ``n_way`` distinct classes (with ``within_group``: from one group, e.g. one
    alphabet, chosen uniformly among the groups with enough classes, like the runs of Lake et al.),
    then ``k_shot + num_queries`` images of each class: the first ``k_shot`` are its support, the
    rest its queries. The same ``seed`` gives the same episodes.

    ``style`` says which images:

    - ``"random"``: distinct random images of each class, independently for every class;
    - ``"runs"``: built like the 20 official runs of Lake et al., where every training image of a run
      was drawn by one person and every test image by another: ``k_shot + num_queries`` distinct
      drawers are drawn per episode, the first ``k_shot`` drawers give every class's support and the
      others its queries. Only classes with an image by each of those drawers take part.

    Parameters
    ----------
    labels : Tensor
        ``(N,)`` int64 class of each image.
    n_way : int
        Classes per episode.
    k_shot : int
        Support images per class.
    num_queries : int
        Query images **per class** (the official task has 1: 20 queries for 20 ways).
    num_episodes : int
        Number of episodes.
    seed : int
        Seed of the private random generator.
    group_labels : Tensor, optional
        ``(N,)`` group (alphabet) of each image; required when ``within_group``.
    within_group : bool
        Draw all the classes of an episode from a single group (harder: the characters look alike).
    style : str
        ``"random"`` or ``"runs"`` (see above).
    drawers : Tensor, optional
        ``(N,)`` drawer of each image, one image per class and drawer; required for ``"runs"``.

    Returns
    -------
    list[Episode]
    """
    check_positive(
        n_way=n_way,
        k_shot=k_shot,
        num_queries=num_queries,
        num_episodes=num_episodes,
    )
    if n_way < 2:
        raise ValueError(
            f"n_way must be >= 2 (classification among at least two classes), got {n_way}."
        )
    if style not in EPISODE_STYLES:
        raise ValueError(
            f"unknown episode style {style!r}; choose one of {EPISODE_STYLES}."
        )
    labels = torch.as_tensor(labels)
    needed = k_shot + num_queries
    order, starts, counts = _class_members(labels)
    groups = _eligible_class_groups(
        order, starts, counts, needed, n_way, group_labels, within_group
    )
    table = (
        _drawer_table(labels, drawers, len(counts))
        if style == "runs"
        else None
    )
    generator = torch.Generator().manual_seed(seed)
    answers = torch.arange(n_way).repeat_interleave(num_queries)
    episodes = []
    for _ in range(num_episodes):
        group = groups[
            int(torch.randint(len(groups), (1,), generator=generator))
        ]
        if table is None:
            chosen = group[
                torch.randperm(len(group), generator=generator)[:n_way]
            ]
            images = torch.stack(
                [
                    order[
                        starts[c]
                        + torch.randperm(int(counts[c]), generator=generator)[
                            :needed
                        ]
                    ]
                    for c in chosen
                ]
            )  # (n_way, k_shot + num_queries)
        else:
            drawn_by = torch.randperm(table.shape[1], generator=generator)[
                :needed
            ]
            complete = group[(table[group][:, drawn_by] >= 0).all(dim=1)]
            if len(complete) < n_way:
                raise ValueError(
                    f"only {len(complete)} classes of a group have an image by each of the drawers "
                    f"{drawn_by.tolist()}; style='runs' needs n_way={n_way}. Lower n_way or use style='random'."
                )
            chosen = complete[
                torch.randperm(len(complete), generator=generator)[:n_way]
            ]
            images = table[chosen][
                :, drawn_by
            ]  # support drawers first, then the query drawers
        episodes.append(
            Episode(
                classes=labels[order[starts[chosen]]],
                support=images[:, :k_shot],
                query=images[:, k_shot:].flatten(),
                answers=answers.clone(),
            )
        )
    return episodes


# ----------------------------------------------------------------------------- augmentation


def _as_new_classes(
    dataset: LabelledImages,
    transforms: Sequence[tuple[str, Callable[[Tensor], Tensor]]],
) -> LabelledImages:
    """The data set once per ``(suffix, transform)`` of the images ``(N, C, S, S)``, each copy a set of new
    classes and new groups named with the suffix (``""`` for the original): T x C classes, T x N images."""
    c, g = dataset.num_classes, len(dataset.group_names)
    return LabelledImages(
        images=torch.cat(
            [transform(dataset.images) for _, transform in transforms]
        ),
        labels=torch.cat(
            [dataset.labels + t * c for t in range(len(transforms))]
        ),
        class_names=[
            name + suffix
            for suffix, _ in transforms
            for name in dataset.class_names
        ],
        group_names=[
            name + suffix
            for suffix, _ in transforms
            for name in dataset.group_names
        ],
        class_group=torch.cat(
            [dataset.class_group + t * g for t in range(len(transforms))]
        ),
        drawers=None
        if dataset.drawers is None
        else dataset.drawers.repeat(len(transforms)),
    )


def with_rotations(dataset: LabelledImages) -> LabelledImages:
    """Add each class rotated by 90, 180 and 270 degrees as three new classes (4 x C classes).

    A common trick on Omniglot (Santoro et al. 2016; Vinyals et al. 2016): a rotated character is a
    plausible new character, so the training set gains classes, not only images. Likewise each
    rotated group becomes a new group (``"Latin@rot90"``).
    """
    return _as_new_classes(
        dataset,
        [
            (
                "" if r == 0 else f"@rot{90 * r}",
                partial(torch.rot90, k=r, dims=(2, 3)),
            )
            for r in range(4)
        ],
    )


def with_reflections(dataset: LabelledImages) -> LabelledImages:
    """Add each class mirrored left to right as a new class (2 x C classes), and each group as a new group.

    A mirrored character is as plausible a new character as a rotated one (the flips of Shyam et al.
    2017's augmentation, drawn here as new classes, not as distortions of a class); before
    :func:`with_rotations` it gives the 8 symmetries of the square, 8 x C classes.
    """
    return _as_new_classes(
        dataset,
        [
            ("", lambda images: images),
            ("@mirror", partial(torch.flip, dims=(3,))),
        ],
    )


def affine(
    images: Tensor,
    angle: Tensor | float = 0.0,
    shear: Tensor | float = 0.0,
    zoom: Tensor | float = 1.0,
    shift_x: Tensor | float = 0.0,
    shift_y: Tensor | float = 0.0,
) -> Tensor:
    """Warp a batch ``(B, C, S, S)`` by a rotation, a shear, a scale and a shift; uncovered pixels are 0.

    Each parameter is a number for the whole batch or a ``(B,)`` tensor, one per image: ``angle`` in
    degrees (counter-clockwise as drawn), ``shear`` as a fraction, ``zoom`` a factor above 0 (1.2 draws
    the character 20% larger), ``shift_x``, ``shift_y`` fractions of the side. Without rotation, shear
    or zoom the drawing moves left and up by the shifts (negative: right and down); with them the shift
    is turned and scaled too. The sampling grid maps each output pixel to the input pixel it shows
    (:func:`torch.nn.functional.affine_grid`), hence the inverse scale and the shifts' sign. The
    parameters are checked in the images' dtype (finite, a zoom above 0), which reads tensors back from
    a GPU; :func:`random_affine` draws valid ones and warps without that check.
    """
    if images.dim() != 4:
        raise ValueError(
            f"images must have shape (B, C, S, S), got {tuple(images.shape)}."
        )
    parameters = {
        "angle": angle,
        "shear": shear,
        "zoom": zoom,
        "shift_x": shift_x,
        "shift_y": shift_y,
    }
    for name, value in parameters.items():
        value = torch.as_tensor(
            value, dtype=images.dtype, device=images.device
        )  # as the warp will read it
        if value.dim() > 1 or value.numel() not in (1, len(images)):
            raise ValueError(
                f"{name} must be a number or one per image, shape ({len(images)},); "
                f"got shape {tuple(value.shape)}"
            )
        if not (
            torch.isfinite(value).all()
            and (name != "zoom" or (value > 0).all())
        ):
            raise ValueError(
                f"{name} must be finite{' and above 0' if name == 'zoom' else ''} in the images' "
                f"dtype ({images.dtype}); got {value.tolist()}"
            )
    return _warp(images, angle, shear, zoom, shift_x, shift_y)


def _warp(
    images: Tensor,
    angle: Tensor | float,
    shear: Tensor | float,
    zoom: Tensor | float,
    shift_x: Tensor | float,
    shift_y: Tensor | float,
) -> Tensor:
    """:func:`affine` without its checks, which would wait for a GPU at every batch."""

    def per_image(value: Tensor | float) -> Tensor:
        value = torch.as_tensor(
            value, dtype=images.dtype, device=images.device
        )
        return value.expand(images.shape[0])

    angle, shear, zoom = (
        per_image(angle) * (math.pi / 180),
        per_image(shear),
        per_image(zoom),
    )
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [
            torch.stack(
                [cos, -sin + shear * cos, 2 * per_image(shift_x)], dim=1
            ),
            torch.stack(
                [sin, cos + shear * sin, 2 * per_image(shift_y)], dim=1
            ),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(
        images, grid, align_corners=False, padding_mode="zeros"
    )


def random_affine(
    images: Tensor,
    generator: torch.Generator | None = None,
    max_rotation: float = 10.0,
    max_shear: float = 0.15,
    scale: tuple[float, float] = (0.9, 1.1),
    max_translation: float = 0.1,
    strength: float = 1.0,
) -> Tensor:
    """Small random affine distortions of a batch ``(B, C, S, S)``, one per image; uncovered pixels are 0.

    Rotation in degrees, shear as a fraction, scale as a range of factors, translation as a fraction
    of the image size, applied by :func:`affine`: distortions in the manner of Koch et al. (2015), not
    theirs. Koch et al. drew rotations of up to 10 degrees, shears of up to 0.3 and scales of 0.8 to 1.2
    on each axis, and shifts of up to 2 of 105 pixels, each component with probability 0.5, into 8
    fixed copies of each training pair; here every image of every batch gets all four, fresh, with
    one shear, one scale of 0.9 to 1.1 for both axes, and shifts of up to a tenth of the side. ``strength`` multiplies every range (the scale's distance from 1): 1.5 gives
    rotations up to 15 degrees, shears up to 0.225, scales of 0.85 to 1.15 and shifts up to 15%. The
    random numbers are drawn on the images' device, from ``generator`` (which must live there) if given.
    """
    if images.dim() != 4:
        raise ValueError(
            f"images must have shape (B, C, S, S), got {tuple(images.shape)}."
        )
    b = images.shape[0]

    def uniform(low: float, high: float) -> Tensor:
        return low + (high - low) * torch.rand(
            b, generator=generator, device=images.device, dtype=images.dtype
        )

    ranges = {
        "max_rotation": max_rotation,
        "max_shear": max_shear,
        "max_translation": max_translation,
        "the lowest scale": scale[0],
        "the highest scale": scale[1],
        "strength": strength,
    }
    for (
        name,
        value,
    ) in ranges.items():  # Python numbers: checked without waiting for a GPU
        check_number(name, value)
    max_rotation, max_shear, max_translation = (
        strength * x for x in (max_rotation, max_shear, max_translation)
    )
    scale = (1 + strength * (scale[0] - 1), 1 + strength * (scale[1] - 1))
    if not scale[0] > 0:
        raise ValueError(
            f"the scales must stay above 0; got a range of {scale[0]:g} to {scale[1]:g} (strength "
            f"{strength:g}): use a smaller strength or a narrower scale"
        )
    # drawn in this order, so that a seed gives the distortions it always gave
    angle, shear, zoom = (
        uniform(-max_rotation, max_rotation),
        uniform(-max_shear, max_shear),
        uniform(*scale),
    )
    shift_x, shift_y = (
        uniform(-max_translation, max_translation),
        uniform(-max_translation, max_translation),
    )
    return _warp(images, angle, shear, zoom, shift_x, shift_y)
