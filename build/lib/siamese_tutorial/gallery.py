r"""A gallery of enrolled classes: enrol from a few images, identify and verify, never retrain.

This is the Siamese promise made concrete. Each enrolled class (a person, a character, a product)
is the mean embedding of its enrolment images, its *prototype* (Snell et al., 2017). A new image is
answered with the nearest prototype if its distance is within the threshold, else "unknown":

.. math:: \hat c(x) = \arg\min_c \lVert f(x) - \mu_c \rVert_2, \qquad
          \text{answer} = \begin{cases} \hat c(x) & \lVert f(x) - \mu_{\hat c} \rVert_2 \le \tau \\
          \text{unknown} & \text{otherwise.} \end{cases}

Enrolling is one call and changes nothing in the encoder. The decision is *open-set*: images of
classes that were never enrolled (strangers) must be turned away, so the threshold :math:`\tau` is
chosen by :func:`calibrate_open_set` on a simulated gallery of held-out classes, trading the
strangers let in (false accepts) against the enrolled turned away (false rejects).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .checks import check_positive
from .data import LabelledImages
from .distances import pairwise_distances
from .evaluation import embed
from .files import atomic_write
from .models import encoder_of
from .verification import OpenSetCurve, choose_open_set_threshold, open_set_curve

__all__ = ["UNKNOWN", "Gallery", "encoder_fingerprint", "OpenSetCalibration", "calibrate_open_set"]

UNKNOWN = "unknown"
"""What :meth:`Gallery.identify` answers for an image of no enrolled class."""

GALLERY_FORMAT = "siamese_tutorial.gallery/1"


def encoder_fingerprint(encoder: nn.Module) -> str:
    """SHA-256 of an encoder's weights (names, shapes and values): the same for the same weights only."""
    digest = hashlib.sha256()
    for name, value in sorted(encoder_of(encoder).state_dict().items()):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


class Gallery:
    """Enrolled classes as prototypes of an encoder's embeddings.

    Parameters
    ----------
    encoder : nn.Module
        Maps images ``(B, C, S, S)`` to embeddings; it is never changed.
    threshold : float, optional
        Accept the nearest class when its distance is ``<= threshold``; set it from
        :func:`calibrate_open_set` (``identify`` and ``verify`` need it).
    shifts : int
        Test-time augmentation of :func:`~siamese_tutorial.evaluation.embed` (use the encoder's own).
    meta : dict, optional
        Anything else to keep with the gallery's file (plain values).

    Examples
    --------
    >>> gallery = Gallery(encoder, threshold=calibration.threshold)      # doctest: +SKIP
    >>> gallery.enrol("alice", alice_images)                           # doctest: +SKIP
    >>> gallery.identify(new_images)      # ['alice', 'unknown', ...]    # doctest: +SKIP
    """

    def __init__(self, encoder: nn.Module, threshold: float | None = None, shifts: int = 0,
                 meta: dict[str, Any] | None = None) -> None:
        self.encoder = encoder
        self.threshold = threshold
        self.shifts = shifts
        self.meta = dict(meta or {})  # plain values saved with the gallery, e.g. how its threshold was chosen
        self.names: list[str] = []
        self.counts: list[int] = []
        self.prototypes: Tensor | None = None

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __repr__(self) -> str:
        return f"Gallery({len(self)} enrolled, threshold={self.threshold})"

    # -------------------------------------------------------------------------------- inputs

    def _check_images(self, images: Tensor, what: str) -> Tensor:
        images = torch.as_tensor(images)
        if images.dim() == 3:  # one image
            images = images.unsqueeze(0)
        inner = encoder_of(self.encoder)
        channels, size = getattr(inner, "in_channels", None), getattr(inner, "image_size", None)
        if images.dim() != 4 or len(images) == 0:
            raise ValueError(f"{what} must be one image (C, S, S) or a non-empty stack (N, C, S, S); "
                             f"got shape {tuple(images.shape)}.")
        if size is not None and tuple(images.shape[1:]) != (channels, size, size):
            raise ValueError(f"{what} have shape {tuple(images.shape[1:])} but the encoder takes "
                             f"({channels}, {size}, {size}) images; resize them to {size} x {size}.")
        return images.float()

    def _index(self, name: str) -> int:
        if not self.names:
            raise ValueError("the gallery is empty; enrol a class first with gallery.enrol(name, images).")
        if name not in self.names:
            raise ValueError(f"{name!r} is not enrolled; the gallery has {self.names}.")
        return self.names.index(name)

    def _needs_threshold(self) -> float:
        if self.threshold is None:
            raise ValueError("the gallery has no threshold; set one from calibrate_open_set(...).threshold.")
        return self.threshold

    # -------------------------------------------------------------------------------- enrolling

    def enrol(self, name: str, images: Tensor) -> None:
        """Enrol a new class from one or more images: its prototype is their mean embedding.

        Raises ``ValueError`` for an empty or duplicate name, no images, or images of the wrong size.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"the name must be a non-empty string; got {name!r}")
        if name == UNKNOWN:
            raise ValueError(f"{UNKNOWN!r} is the answer for strangers; enrol under another name.")
        if name in self.names:
            raise ValueError(f"{name!r} is already enrolled; remove it first or choose another name.")
        images = self._check_images(images, f"the images of {name!r}")
        prototype = embed(self.encoder, images, shifts=self.shifts).mean(dim=0, keepdim=True)
        self.prototypes = prototype if self.prototypes is None else torch.cat([self.prototypes, prototype])
        self.names.append(name)
        self.counts.append(len(images))

    def remove(self, name: str) -> None:
        """Forget an enrolled class."""
        i = self._index(name)
        keep = [j for j in range(len(self.names)) if j != i]
        self.prototypes = self.prototypes[keep] if keep else None
        del self.names[i], self.counts[i]

    # -------------------------------------------------------------------------------- answering

    def distances(self, images: Tensor) -> Tensor:
        """``(N, G)`` distances from each image to each enrolled prototype, in enrolment order."""
        if not self.names:
            raise ValueError("the gallery is empty; enrol a class first with gallery.enrol(name, images).")
        return pairwise_distances(embed(self.encoder, self._check_images(images, "the images"),
                                        shifts=self.shifts), self.prototypes)

    def nearest(self, images: Tensor) -> tuple[list[str], Tensor]:
        """The nearest enrolled name of each image, and its distance ``(N,)``, whatever the threshold."""
        distance, index = self.distances(images).min(dim=1)
        return [self.names[i] for i in index.tolist()], distance

    def identify(self, images: Tensor) -> list[str]:
        """Each image's nearest enrolled name if within the threshold, else :data:`UNKNOWN`."""
        threshold = self._needs_threshold()
        names, distance = self.nearest(images)
        return [name if d <= threshold else UNKNOWN for name, d in zip(names, distance.tolist())]

    def verify(self, images: Tensor, name: str) -> Tensor:
        """``(N,)`` bool: is each image of the enrolled class ``name`` (within the threshold of its prototype)?"""
        threshold = self._needs_threshold()
        return self.distances(images)[:, self._index(name)] <= threshold

    # -------------------------------------------------------------------------------- files

    def save(self, path: str | Path) -> None:
        """Write the gallery (prototypes, names, threshold, the encoder's fingerprint), atomically."""
        content = {
            "format": GALLERY_FORMAT, "names": list(self.names), "counts": list(self.counts),
            "prototypes": self.prototypes, "threshold": self.threshold, "shifts": self.shifts,
            "encoder": encoder_fingerprint(self.encoder), "meta": self.meta,
        }
        atomic_write(path, lambda file: torch.save(content, file))

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        if not path.is_file():
            raise FileNotFoundError(f"no gallery at {path}; enrol a class first to create it.")
        try:
            content: dict[str, Any] = torch.load(path, weights_only=True)
            if not isinstance(content, dict) or content.get("format") != GALLERY_FORMAT:
                raise ValueError("not a gallery file")
            missing = {"names", "counts", "prototypes", "threshold", "shifts", "encoder"} - content.keys()
            if missing:
                raise KeyError(f"{sorted(missing)} missing")
        except Exception as error:
            raise ValueError(f"{path} is not a gallery written by siamese_tutorial ({type(error).__name__}); "
                             f"delete it and enrol again.") from error
        return content

    @classmethod
    def read_meta(cls, path: str | Path) -> dict[str, Any]:
        """The ``meta`` saved with a gallery file, without loading an encoder."""
        return dict(cls._read(Path(path)).get("meta") or {})

    @classmethod
    def load(cls, path: str | Path, encoder: nn.Module) -> Gallery:
        """A saved gallery, for the encoder it was made with (another encoder's embeddings would not compare).

        Raises ``ValueError`` if the file is not a gallery, or was made with another encoder.
        """
        path = Path(path)
        content = cls._read(path)
        if content["encoder"] != encoder_fingerprint(encoder):
            raise ValueError(f"{path} was made with another encoder; its prototypes do not compare with this "
                             f"encoder's embeddings. Use the encoder it was made with, or enrol again.")
        gallery = cls(encoder, content["threshold"], content["shifts"], content.get("meta"))
        gallery.names, gallery.counts, gallery.prototypes = list(content["names"]), list(content["counts"]), \
            content["prototypes"]
        return gallery


# ----------------------------------------------------------------------------------------------
# Choosing the threshold on held-out classes
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenSetCalibration:
    """The threshold chosen on simulated galleries, with the curve it was chosen on.

    Attributes
    ----------
    threshold : float
        Accept the nearest enrolled class within this distance.
    curve : OpenSetCurve
        False-accept, false-reject and misidentification rates at every threshold.
    rates : dict of str to float
        The three rates at ``threshold`` on the calibration queries.
    gallery_size : int
        Classes enrolled in each simulated gallery (the false-accept rate grows with it).
    """

    threshold: float
    curve: OpenSetCurve
    rates: dict[str, float]
    gallery_size: int


def calibrate_open_set(
    encoder: nn.Module,
    dataset: LabelledImages,
    gallery_size: int,
    trials: int = 20,
    shots: int = 1,
    seed: int = 0,
    shifts: int = 0,
    max_false_accept: float | None = None,
) -> OpenSetCalibration:
    """Choose the open-set threshold on held-out classes, as a gallery of ``gallery_size`` classes would meet them.

    Each trial enrols ``gallery_size`` random classes of ``dataset`` from ``shots`` random images each;
    every other image of an enrolled class is a genuine query, every image of the other classes a
    stranger. The nearest prototype of each query, pooled over ``trials``, gives the
    :class:`~siamese_tutorial.verification.OpenSetCurve`, and
    :func:`~siamese_tutorial.verification.choose_open_set_threshold` the threshold. Use classes the
    deployed gallery will not hold (e.g. validation classes), and a ``gallery_size`` like the deployed
    one's: the more classes are enrolled, the likelier a stranger finds one close by.

    Parameters
    ----------
    encoder : nn.Module
        The encoder of the gallery.
    dataset : LabelledImages
        Held-out classes, at least ``gallery_size + 1`` of them with more than ``shots`` images.
    gallery_size : int
        Classes enrolled per trial.
    trials : int
        Simulated galleries.
    shots : int
        Enrolment images per class.
    seed : int
        Seed of the draws.
    shifts : int
        Test-time augmentation, as in the gallery.
    max_false_accept : float, optional
        Passed to :func:`~siamese_tutorial.verification.choose_open_set_threshold`.

    Returns
    -------
    OpenSetCalibration
    """
    check_positive(gallery_size=gallery_size, trials=trials, shots=shots)
    counts = torch.bincount(dataset.labels, minlength=dataset.num_classes)
    usable = (counts > shots).nonzero().flatten()
    if len(usable) <= gallery_size:
        raise ValueError(f"calibration needs more than gallery_size={gallery_size} classes with more than "
                         f"{shots} image(s), to have strangers; the data set has {len(usable)}.")
    embeddings = embed(encoder, dataset.images, shifts=shifts)
    generator = torch.Generator().manual_seed(seed)
    genuine, correct, strangers = [], [], []
    for _ in range(trials):
        enrolled = usable[torch.randperm(len(usable), generator=generator)[:gallery_size]]
        is_reference = torch.zeros(len(dataset.labels), dtype=torch.bool)
        for c in enrolled.tolist():
            members = (dataset.labels == c).nonzero().flatten()
            is_reference[members[torch.randperm(len(members), generator=generator)[:shots]]] = True
        prototypes = torch.stack([embeddings[is_reference & (dataset.labels == c)].mean(0) for c in enrolled.tolist()])
        distance, nearest = pairwise_distances(embeddings, prototypes).min(dim=1)
        is_enrolled = torch.isin(dataset.labels, enrolled)
        queries = is_enrolled & ~is_reference
        genuine.append(distance[queries])
        correct.append(enrolled[nearest[queries]] == dataset.labels[queries])
        strangers.append(distance[~is_enrolled])
    curve = open_set_curve(torch.cat(genuine), torch.cat(correct), torch.cat(strangers))
    threshold = choose_open_set_threshold(curve, max_false_accept)
    return OpenSetCalibration(threshold, curve, curve.at(threshold), gallery_size)
