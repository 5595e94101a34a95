"""What a training step sees of a labelled set: P x K batches, random pairs and random triplets.

:class:`PKSampler` draws P classes and K images of each (Hermans et al., 2017), as indices;
:class:`PKBatches` draws and distorts whole batches on the device, and can resume its random
streams. :func:`random_pairs` and :func:`random_triplets` draw the pairs and triplets of the first
chapters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Sampler

from .augmentation import random_affine
from .checks import (
    as_labels,
    check_positive,
    listing,
    resolve_device,
)
from .labelled import LabelledImages, class_members

__all__ = [
    "PKSampler",
    "PKBatches",
    "random_pairs",
    "balanced_pairs",
    "random_triplets",
]


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
        order, starts, counts = class_members(labels)
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
    order, starts, counts = class_members(labels)
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


def balanced_pairs(
    labels: Tensor, seed: int = 1
) -> tuple[Tensor, Tensor, Tensor]:
    """Every same-class pair ``i < j`` (label 0), and as many different-class pairs (label 1).

    The different-class pairs are drawn at random (``seed``) among all of them; the pairs come in
    the order of :func:`torch.triu_indices` (similar ones first). For a small labelled set, where
    every similar pair can be used: :func:`random_pairs` draws pairs at random from large ones.
    """
    labels = as_labels(labels)
    i, j = torch.triu_indices(len(labels), len(labels), offset=1)
    same = labels[i] == labels[j]
    similar, dissimilar = same.nonzero().flatten(), (~same).nonzero().flatten()
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(dissimilar), generator=generator)
    keep = torch.cat([similar, dissimilar[order[: len(similar)]]])
    return i[keep], j[keep], (~same[keep]).long()


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
