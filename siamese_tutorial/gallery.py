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
import io
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .checks import (
    check_finite,
    check_number,
    check_shifts,
    listing,
)
from .distances import pairwise_distances
from .evaluation import embed
from .files import atomic_write, check_format
from .gallery_names import (
    UNKNOWN,
    _check_entries,
    check_command_line_meta,
    check_name,
    check_plain,
    command_line_meta,
    folder_classes,
)
from .models import encoder_of
from .open_set import OpenSetCalibration, calibrate_open_set
from .pictures import PictureReader
from .progress import progress_bar

__all__ = [
    "UNKNOWN",
    "command_line_meta",
    "check_command_line_meta",
    "Gallery",
    "check_name",
    "folder_classes",
    "check_plain",
    "encoder_fingerprint",
    "OpenSetCalibration",
    "calibrate_open_set",
]

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

    Images are float tensors ``(N, C, S, S)`` (or one ``(C, S, S)``) with values in ``[0, 1]``, as
    :func:`~siamese_tutorial.data.load_images` reads them; integer images (``uint8`` 0..255) are refused.

    Parameters
    ----------
    encoder : nn.Module
        Maps images ``(B, C, S, S)`` to embeddings; it is never changed.
    threshold : float, optional
        Accept the nearest class when its distance is ``<= threshold``, a finite number ``>= 0``; set
        it from :func:`calibrate_open_set` (``identify`` and ``verify`` need it).
    shifts : int
        Test-time augmentation of :func:`~siamese_tutorial.evaluation.embed` (use the encoder's own).
    meta : dict, optional
        Anything else to keep with the gallery's file: plain values only (str, int, finite float,
        bool, None, and lists and str-keyed dicts of them), checked by :meth:`save`.

    Examples
    --------
    >>> gallery = Gallery(encoder, threshold=calibration.threshold)      # doctest: +SKIP
    >>> gallery.enrol("alice", alice_images)                           # doctest: +SKIP
    >>> gallery.identify(new_images)      # ['alice', 'unknown', ...]    # doctest: +SKIP
    """

    def __init__(
        self,
        encoder: nn.Module,
        threshold: float | None = None,
        shifts: int = 0,
        meta: dict[str, Any] | None = None,
    ) -> None:
        size = getattr(encoder_of(encoder), "image_size", None)
        if size is not None:
            check_shifts(
                shifts, size
            )  # as embed() will: said now, not at the first picture
        elif (
            isinstance(shifts, bool)
            or not isinstance(shifts, int)
            or shifts < 0
        ):
            raise ValueError(f"shifts must be an integer >= 0; got {shifts!r}")
        self.encoder = encoder
        self.threshold = threshold
        self.shifts = int(shifts)
        self.meta = dict(
            meta or {}
        )  # plain values saved with the gallery, e.g. how its threshold was chosen
        self.names: list[str] = []
        self.counts: list[int] = []
        self.prototypes: Tensor | None = None

    @property
    def threshold(self) -> float | None:
        """The distance within which the nearest enrolled class is accepted (None: not chosen yet)."""
        return self._threshold

    @threshold.setter
    def threshold(self, value: float | None) -> None:
        # NaN would reject everyone and infinity accept everyone, without a word: refused.
        if value is not None:
            check_number("the threshold", value, low=0)
            value = float(
                value
            )  # a NumPy or tensor number would not load back from the file
        self._threshold = value

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __repr__(self) -> str:
        return f"Gallery({len(self)} enrolled, threshold={self.threshold})"

    # -------------------------------------------------------------------------------- inputs

    def _check_images(self, images: Tensor, what: str) -> Tensor:
        images = torch.as_tensor(images)
        if not images.is_floating_point():
            raise ValueError(
                f"{what} are {str(images.dtype).removeprefix('torch.')}; pass floats in [0, 1] "
                f"(e.g. images / 255 for 0..255 pictures), as load_images reads them."
            )
        if images.dim() == 3:  # one image
            images = images.unsqueeze(0)
        inner = encoder_of(self.encoder)
        channels, size = (
            getattr(inner, "in_channels", None),
            getattr(inner, "image_size", None),
        )
        if images.dim() != 4 or len(images) == 0:
            raise ValueError(
                f"{what} must be one image (C, S, S) or a non-empty stack (N, C, S, S); "
                f"got shape {tuple(images.shape)}."
            )
        if size is not None and tuple(images.shape[1:]) != (
            channels,
            size,
            size,
        ):
            raise ValueError(
                f"{what} have shape {tuple(images.shape[1:])} but the encoder takes "
                f"({channels}, {size}, {size}) images; resize them to {size} x {size}."
            )
        check_finite(
            images,
            what,
            "check the pictures (a float file with NaN or infinite pixels?)",
        )
        return images.float()

    def _embed(self, images: Tensor, what: str) -> Tensor:
        """The embeddings ``(N, D)`` of checked images (``embed`` refuses NaN: never a distance compared)."""
        return embed(
            self.encoder, self._check_images(images, what), shifts=self.shifts
        )

    def index(self, name: str) -> int:
        """The position of the enrolled class ``name`` in :attr:`names` (a column of :meth:`distances`);
        ``ValueError`` if it is not enrolled."""
        if not self.names:
            raise ValueError(
                "the gallery is empty; enrol a class first with gallery.enrol(name, images)."
            )
        if name not in self.names:
            raise ValueError(
                f"{name!r} is not enrolled; the gallery has [{listing([repr(n) for n in self.names], 10)}]."
            )
        return self.names.index(name)

    def _needs_threshold(self) -> float:
        if self.threshold is None:
            raise ValueError(
                "the gallery has no threshold; set one from calibrate_open_set(...).threshold."
            )
        return self.threshold

    # -------------------------------------------------------------------------------- enrolling

    def enrol(self, name: str, images: Tensor) -> None:
        """Enrol a new class from one or more images: its prototype is their mean embedding.

        Raises ``ValueError`` for a name :func:`check_name` refuses or one already enrolled, no images,
        images of the wrong size or integer images; ``FloatingPointError`` for NaN or infinite values.
        """
        check_name(name)
        if name in self.names:
            raise ValueError(
                f"{name!r} is already enrolled; remove it first "
                "or choose another name."
            )
        what = f"the images of {name!r}"
        images = self._check_images(images, what)
        prototype = self._embed(images, what).mean(dim=0, keepdim=True)
        if self.prototypes is not None:
            prototype = torch.cat([self.prototypes, prototype])
        self.prototypes = prototype
        self.names.append(name)
        self.counts.append(len(images))

    def enrol_folder(
        self,
        folder: str | Path,
        grayscale: bool = True,
        invert: bool = False,
        ink: str | None = None,
        progress: bool = False,
    ) -> list[str]:
        """Enrol every sub-folder of ``folder`` as a class named after it, from its pictures: one call for thousands.

        ``folder/<name>/<picture>`` (hidden folders and files left out); each class's prototype is the
        mean embedding of its pictures, as :meth:`enrol` makes it. The pictures are read as
        :func:`~siamese_tutorial.pictures.load_images` reads them (``grayscale``, ``invert``, ``ink``; use
        the encoder's reading, e.g. :func:`~siamese_tutorial.recipe.reading` of its card), at the encoder's
        ``image_size``, a few hundred at a time; ``progress`` shows a bar of the classes enrolled.

        All or nothing: every name is checked (:func:`check_name`; not enrolled yet) before a picture is
        read, and the gallery changes only once every picture is read and embedded. A class folder
        without pictures, a file that is not a picture, or a picture that cannot be read is a
        ``ValueError`` naming it, and nothing is enrolled.

        Returns
        -------
        list of str
            The names enrolled, sorted (the order of :attr:`names` after the classes there were).
        """
        inner = encoder_of(self.encoder)
        size = getattr(inner, "image_size", None)
        if size is None:
            raise ValueError(
                "the encoder has no image_size: it cannot say what size to read the pictures at; "
                "read them yourself and enrol each class with gallery.enrol(name, images)."
            )
        classes = folder_classes(folder, self.names)
        reader = PictureReader(size, grayscale, invert, ink)
        prototypes = []
        with progress_bar(
            len(classes), "enrolling", "class", visible=progress
        ) as bar:
            for chunk in _chunks(classes, FOLDER_CHUNK):
                counts = torch.tensor([len(files) for _, files in chunk])
                images = reader.read(
                    [file for _, files in chunk for file in files]
                )
                embeddings = self._embed(images, f"the pictures of {folder}")
                classes_of = torch.arange(len(chunk)).repeat_interleave(counts)
                sums = torch.zeros(len(chunk), embeddings.shape[1]).index_add_(
                    0, classes_of, embeddings
                )
                prototypes.append(sums / counts[:, None])
                bar.update(len(chunk))
        reader.warn(stacklevel=2)
        rows = torch.cat(prototypes)
        self.prototypes = (
            rows
            if self.prototypes is None
            else torch.cat([self.prototypes, rows])
        )
        self.names += [name for name, _ in classes]
        self.counts += [len(files) for _, files in classes]
        return [name for name, _ in classes]

    def remove(self, name: str) -> None:
        """Forget an enrolled class."""
        i = self.index(name)
        keep = [j for j in range(len(self.names)) if j != i]
        self.prototypes = self.prototypes[keep] if keep else None
        del self.names[i], self.counts[i]

    # -------------------------------------------------------------------------------- answering

    def distances(self, images: Tensor) -> Tensor:
        """``(N, G)`` distances from each image to each enrolled prototype, in enrolment order."""
        if not self.names:
            raise ValueError(
                "the gallery is empty; enrol a class first with gallery.enrol(name, images)."
            )
        embeddings = self._embed(images, "the images")
        if (
            embeddings.shape[1] != self.prototypes.shape[1]
        ):  # the same encoder (its fingerprint): the file was edited
            raise ValueError(
                f"the gallery's prototypes have {self.prototypes.shape[1]} values each, the encoder's "
                f"embeddings {embeddings.shape[1]}: the gallery was edited or damaged; enrol again."
            )
        return pairwise_distances(embeddings, self.prototypes)

    def nearest(self, images: Tensor) -> tuple[list[str], Tensor]:
        """The nearest enrolled name of each image, and its distance ``(N,)``, whatever the threshold."""
        distance, index = self.distances(images).min(dim=1)
        return [self.names[i] for i in index.tolist()], distance

    def accepts(self, distances: Tensor) -> Tensor:
        """Which ``distances`` are within the threshold: the one accept rule of :meth:`identify`,
        :meth:`verify` and the command line (compared exactly, in double precision)."""
        threshold = self._needs_threshold()
        return torch.as_tensor(distances).double() <= threshold

    def identify(self, images: Tensor) -> list[str]:
        """Each image's nearest enrolled name if within the threshold, else :data:`UNKNOWN`."""
        self._needs_threshold()
        names, distance = self.nearest(images)
        return [
            name if accepted else UNKNOWN
            for name, accepted in zip(names, self.accepts(distance).tolist())
        ]

    def verify(self, images: Tensor, name: str) -> Tensor:
        """``(N,)`` bool: is each image of the enrolled class ``name`` (within the threshold of its prototype)?"""
        self._needs_threshold()
        return self.accepts(self.distances(images)[:, self.index(name)])

    # -------------------------------------------------------------------------------- files

    def save(self, path: str | Path) -> None:
        """Write the gallery (prototypes, names, threshold, the encoder's fingerprint), atomically.

        Refuses (``ValueError``, the file untouched) what :meth:`load` could not read back: ``meta``
        that holds anything but plain values (a ``Path``, a NumPy number), or NaN.
        """
        check_plain(self.meta, "gallery.meta")
        content = {
            "format": GALLERY_FORMAT,
            "names": list(self.names),
            "counts": list(self.counts),
            "prototypes": self.prototypes,
            "threshold": self.threshold,
            "shifts": self.shifts,
            "encoder": encoder_fingerprint(self.encoder),
            "meta": self.meta,
        }
        buffer = io.BytesIO()
        torch.save(content, buffer)
        try:  # never replace a good file with one that load() refuses
            torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)
        except Exception as error:
            raise ValueError(
                f"not saving {path}: the gallery would not load back ({error})."
            ) from error
        atomic_write(path, lambda file: file.write(buffer.getvalue()))

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        if not path.is_file():
            raise FileNotFoundError(
                f"no gallery at {path}; enrol a class first to create it."
            )
        try:
            content: dict[str, Any] = torch.load(path, weights_only=True)
        except Exception as error:
            raise ValueError(
                f"{path} is not a gallery written by siamese_tutorial ({type(error).__name__}); "
                f"delete it and enrol again."
            ) from error
        if not check_format(
            content,
            GALLERY_FORMAT,
            path,
            "gallery",
            "delete it and enrol again.",
        ):
            if isinstance(content, dict) and str(
                content.get("format")
            ).startswith("siamese_tutorial.checkpoint/"):
                raise ValueError(
                    f"{path} is a checkpoint (a model), not a gallery; give the gallery's file (to "
                    f"create one for this model: enrol NEW_GALLERY.pt ... --model {path})."
                )
            raise ValueError(
                f"{path} is not a gallery written by siamese_tutorial (it has no gallery format); "
                f"give the gallery's file, or if it was one, delete it and enrol again."
            )
        missing = {
            "names",
            "counts",
            "prototypes",
            "threshold",
            "shifts",
            "encoder",
        } - content.keys()
        if missing:
            raise ValueError(
                f"{path} is not a gallery written by siamese_tutorial ({', '.join(sorted(missing))} "
                f"missing); delete it and enrol again."
            )
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
            raise ValueError(
                f"{path} was made with another encoder; its prototypes do not compare with this "
                f"encoder's embeddings. Use the encoder it was made with, or enrol again."
            )
        try:
            gallery = cls(
                encoder,
                content["threshold"],
                content["shifts"],
                content.get("meta"),
            )
            names, counts, prototypes = (
                content["names"],
                content["counts"],
                content["prototypes"],
            )
            _check_entries(names, counts, prototypes)
        except ValueError as error:
            raise ValueError(
                f"{path} is damaged or was edited ({error}); delete it and enrol again (or restore "
                f"a good copy)."
            ) from None
        gallery.names, gallery.counts, gallery.prototypes = (
            list(names),
            list(counts),
            prototypes,
        )
        return gallery


FOLDER_CHUNK = 512
"""About how many pictures :meth:`Gallery.enrol_folder` reads and embeds at a time (whole classes)."""


def _chunks(
    classes: list[tuple[str, list[Path]]], pictures: int
) -> list[list[tuple[str, list[Path]]]]:
    """Consecutive runs of whole classes with about ``pictures`` pictures each (a larger class alone)."""
    chunks: list[list[tuple[str, list[Path]]]] = [[]]
    held = 0
    for entry in classes:
        if chunks[-1] and held + len(entry[1]) > pictures:
            chunks.append([])
            held = 0
        chunks[-1].append(entry)
        held += len(entry[1])
    return chunks
