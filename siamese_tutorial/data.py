"""Omniglot: the data sets, the official one-shot runs, and the samplers the chapters train with.

Omniglot (Lake, Salakhutdinov & Tenenbaum, 2015) has 1,623 handwritten characters from 50 alphabets,
each drawn once by 20 different people. The *background* set (30 alphabets, 964 characters) is for
training; the *evaluation* set (20 alphabets, 659 characters) holds the characters of the official
one-shot task, ``all_runs.zip``: 20 runs of 20-way within-alphabet classification.

Images are returned as float32 tensors of shape ``(N, 1, S, S)`` with **ink = 1 and paper = 0**
(the PNG files store the opposite). ``S = 105`` gives the original binary images; smaller sizes are
area-averaged, so they have grey values at the strokes' edges.

Where the files come from, in this order: an extracted folder in the data folder, else the zip in the
data folder, else the official download (raw files of the GitHub repository brendenlake/omniglot),
checked against its md5, written to a temporary file and renamed. Nothing is ever extracted to disk:
images are decoded straight from the zip, and the decoded images are cached as a compressed ``.npz``
(also written atomically) so that later loads take a fraction of a second.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import Sampler

__all__ = [
    "SPLITS",
    "OmniglotDataError",
    "Omniglot",
    "OneShotRun",
    "atomic_write",
    "default_data_dir",
    "download",
    "RUN_ALPHABETS",
    "VALIDATION_ALPHABETS",
    "load_omniglot",
    "load_validation_set",
    "load_one_shot_runs",
    "PKSampler",
    "random_pairs",
    "random_triplets",
    "with_rotations",
    "random_affine",
]

ORIGINAL_SIZE = 105
_BASE_URL = "https://raw.githubusercontent.com/brendenlake/omniglot/master/python/"


@dataclass(frozen=True)
class SplitInfo:
    """Where a file of the official release is, its md5, and what it must contain."""

    zip_name: str
    url: str
    md5: str
    alphabets: int
    characters: int
    images: int


SPLITS: dict[str, SplitInfo] = {
    "background": SplitInfo(
        "images_background.zip", _BASE_URL + "images_background.zip",
        "68d2efa1b9178cc56df9314c21c6e718", 30, 964, 19280),
    "evaluation": SplitInfo(
        "images_evaluation.zip", _BASE_URL + "images_evaluation.zip",
        "6b91aef0f799c5bb55b94e3f2daec811", 20, 659, 13180),
    "background_small1": SplitInfo(
        "images_background_small1.zip", _BASE_URL + "images_background_small1.zip",
        "e704a628b5459e08445c13499850abc4", 5, 136, 2720),
    "background_small2": SplitInfo(
        "images_background_small2.zip", _BASE_URL + "images_background_small2.zip",
        "b75a71a51d3b13f821f212756fe481fd", 5, 156, 3120),
    # 20 runs x (20 training + 20 test images); "alphabets" counts the runs here.
    "all_runs": SplitInfo(
        "all_runs.zip", _BASE_URL + "one-shot-classification/all_runs.zip",
        "e8996daecdf12afeeb4a53a179f06b19", 20, 20, 800),
}

NUM_RUNS = 20
RUN_WAYS = 20

RUN_ALPHABETS = (
    "Atlantean", "Ge_ez", "Glagolitic", "Gurmukhi", "Kannada", "Malayalam", "Manipuri",
    "Old_Church_Slavonic_(Cyrillic)", "Tengwar", "Tibetan",
)
"""The 10 evaluation alphabets the 20 official runs are drawn from (two runs each, in this order)."""

VALIDATION_ALPHABETS = (
    "Angelic", "Atemayar_Qelisayer", "Aurek-Besh", "Avesta", "Keble", "Mongolian", "Oriya", "Sylheti",
    "Syriac_(Serto)", "ULOG",
)
"""The other 10 evaluation alphabets: no run uses them, so choices can be made on them without
touching the test runs."""


class OmniglotDataError(RuntimeError):
    """The Omniglot files are missing, incomplete or corrupted; the message says what to do."""


# ----------------------------------------------------------------------------- where the files are


def default_data_dir() -> Path:
    """The folder where Omniglot is looked for and downloaded to.

    ``$SIAMESE_TUTORIAL_DATA`` if set; else the ``data/`` folder of the project checkout when the
    package runs from one (as in the book); else ``~/.cache/siamese_tutorial``.
    """
    if os.environ.get("SIAMESE_TUTORIAL_DATA"):
        return Path(os.environ["SIAMESE_TUTORIAL_DATA"]).expanduser()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "data").is_dir():
        return checkout / "data"
    return Path.home() / ".cache" / "siamese_tutorial"


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _missing_message(split: str, data_dir: Path, reason: str) -> str:
    info = SPLITS[split]
    return (
        f"Omniglot '{split}' is not available: {reason}\n"
        f"Put {info.zip_name} (from {info.url}) into {data_dir}, or set SIAMESE_TUTORIAL_DATA to "
        f"the folder that has it, or run `python -m siamese_tutorial download` where the internet "
        f"can be reached."
    )


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Write a file through ``write(file)`` into a temporary file beside it, renamed only once complete.

    A crash or an error while writing (the exception propagates) leaves the old file, if any,
    untouched and no temporary file behind: downloads, caches, checkpoints and cards use it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
        umask = os.umask(0)  # mkstemp makes the file private (0600): give it what open() would
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)
        os.replace(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)


def download(split: str, data_dir: str | Path | None = None, force: bool = False) -> Path:
    """Download one official Omniglot zip, check its md5, and return its path.

    The file is streamed to a temporary file beside the target and renamed only once its md5 matches
    the official one, so an interrupted or corrupted download never leaves a file behind.
    """
    info = _split_info(split)
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    target = data_dir / info.zip_name
    if target.exists() and not force:
        return target

    def fetch(out: BinaryIO) -> None:
        digest = hashlib.md5()
        with urllib.request.urlopen(info.url, timeout=60) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != info.md5:
            raise OmniglotDataError(
                f"The download of {info.url} is corrupted: its md5 is {digest.hexdigest()}, "
                f"expected {info.md5}. Nothing was saved; try again later."
            )

    try:
        atomic_write(target, fetch)
    except (urllib.error.URLError, OSError) as error:
        raise OmniglotDataError(
            _missing_message(split, data_dir, f"the download failed ({error}).")
        ) from error
    return target


def _split_info(split: str) -> SplitInfo:
    if split not in SPLITS:
        raise ValueError(f"Unknown Omniglot split {split!r}; choose one of {sorted(SPLITS)}.")
    return SPLITS[split]


# ----------------------------------------------------------------------------- reading the images


def _decode_png(data: bytes) -> np.ndarray:
    """A PNG as a (105, 105) bool array, True where there is ink."""
    with Image.open(io.BytesIO(data)) as image:
        return ~np.asarray(image.convert("1"), dtype=bool)


def _read_members(split: str, data_dir: Path, download_ok: bool) -> dict[str, np.ndarray]:
    """Every PNG of a split, keyed by its path below the split's top folder (e.g. 'Latin/character01/x.png').

    Reads the extracted folder if there is one, else the zip (downloading it if allowed).
    """
    info = _split_info(split)
    folder = data_dir / info.zip_name.removesuffix(".zip")
    if folder.is_dir():
        return {
            str(p.relative_to(folder)).replace(os.sep, "/"): _decode_png(p.read_bytes())
            for p in sorted(folder.rglob("*.png"))
        }
    archive = data_dir / info.zip_name
    if not archive.exists():
        if not download_ok:
            raise OmniglotDataError(
                _missing_message(split, data_dir, f"{archive} does not exist (download=False).")
            )
        archive = download(split, data_dir)
    return _read_zip(archive, prefix=folder.name + "/")


def _read_zip(archive: Path, prefix: str) -> dict[str, np.ndarray]:
    try:
        with zipfile.ZipFile(archive) as zf:
            bad = zf.testzip()
            if bad is not None:
                raise zipfile.BadZipFile(f"bad CRC for {bad}")
            members = {}
            for name in sorted(zf.namelist()):
                if name.endswith(".png"):
                    members[name.removeprefix(prefix)] = _decode_png(zf.read(name))
            return members
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise OmniglotDataError(
            f"{archive} is corrupted or truncated ({error}). Delete it and load again to download a "
            f"fresh copy, or replace it with a good copy."
        ) from error


def _check_counts(split: str, what: str, alphabets: int, characters: int, images: int) -> None:
    info = SPLITS[split]
    found, expected = (alphabets, characters, images), (info.alphabets, info.characters, info.images)
    if found != expected:
        raise OmniglotDataError(
            f"Omniglot '{split}' ({what}) is incomplete: found {found[0]} alphabets, {found[1]} "
            f"characters and {found[2]} images; expected {expected[0]}, {expected[1]} and "
            f"{expected[2]}. Delete it and load again to download a fresh copy."
        )


def _source_fingerprint(split: str, data_dir: Path) -> str:
    """Identifies the source files, so that a cache made from other files is not used."""
    info = SPLITS[split]
    folder, archive = data_dir / info.zip_name.removesuffix(".zip"), data_dir / info.zip_name
    files = sorted(folder.rglob("*")) if folder.is_dir() else [archive] if archive.exists() else []
    digest = hashlib.md5()
    for path in files:
        stat = path.stat()
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest() if files else ""




def _load_cached(split: str, data_dir: Path, download_ok: bool) -> dict[str, np.ndarray]:
    """The split's binary 105x105 images (bit-packed) and names, from the cache or the source files."""
    cache = data_dir / "cache" / f"{split}.npz"
    fingerprint = _source_fingerprint(split, data_dir)
    if fingerprint and cache.exists():
        with np.load(cache) as stored:
            if str(stored["fingerprint"]) == fingerprint:
                return dict(stored)
    members = _read_members(split, data_dir, download_ok)
    # For all_runs the "alphabets" are the runs and the "characters" their 20 training images.
    groups = {p.split("/", 1)[0] for p in members}
    if split == "all_runs":
        classes = {p.split("/")[-1] for p in members if "/training/" in p}
    else:
        classes = {p.rsplit("/", 1)[0] for p in members}
    _check_counts(split, str(data_dir), len(groups), len(classes), len(members))
    arrays = {"paths": np.array(sorted(members))}
    arrays["bits"] = np.packbits(np.stack([members[p] for p in arrays["paths"]]), axis=-1)
    arrays["fingerprint"] = np.array(_source_fingerprint(split, data_dir))
    atomic_write(cache, lambda f: np.savez_compressed(f, **arrays))
    return arrays


def _to_tensor(bits: np.ndarray, image_size: int) -> Tensor:
    """Bit-packed (N, 105, 14) arrays to float32 (N, 1, S, S) images, ink = 1, area-averaged."""
    if not isinstance(image_size, int) or not 4 <= image_size <= ORIGINAL_SIZE:
        raise ValueError(f"image_size must be an int between 4 and {ORIGINAL_SIZE}, got {image_size!r}.")
    ink = np.unpackbits(bits, axis=-1, count=ORIGINAL_SIZE)
    images = torch.from_numpy(ink).to(torch.float32).unsqueeze(1)
    if image_size == ORIGINAL_SIZE:
        return images
    # Area averaging keeps thin strokes visible; chunks bound the memory of the full-size floats.
    return torch.cat([F.adaptive_avg_pool2d(chunk, image_size) for chunk in images.split(2048)])


# ----------------------------------------------------------------------------- the data sets


@dataclass
class Omniglot:
    """One Omniglot split as tensors.

    Attributes
    ----------
    images : Tensor
        ``(N, 1, S, S)`` float32, ink = 1, paper = 0.
    labels : Tensor
        ``(N,)`` int64 character index in ``0 .. C-1``.
    character_names : list[str]
        ``C`` names ``"Alphabet/characterNN"``.
    alphabet_names : list[str]
        The ``A`` alphabets, sorted.
    character_alphabet : Tensor
        ``(C,)`` int64 index into ``alphabet_names`` of each character.
    """

    images: Tensor
    labels: Tensor
    character_names: list[str]
    alphabet_names: list[str]
    character_alphabet: Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return self.images[index], int(self.labels[index])

    @property
    def num_classes(self) -> int:
        return len(self.character_names)

    @property
    def alphabet_labels(self) -> Tensor:
        """``(N,)`` int64 alphabet index of each image."""
        return self.character_alphabet[self.labels]

    def select_alphabets(self, names: Sequence[str]) -> Omniglot:
        """The images of the given alphabets only, with characters relabelled ``0 .. C'-1``."""
        unknown = sorted(set(names) - set(self.alphabet_names))
        if unknown:
            raise ValueError(f"Unknown alphabets {unknown}; this split has {self.alphabet_names}.")
        alphabet_names = sorted(set(names))
        keep_alphabets = torch.tensor([self.alphabet_names.index(a) for a in alphabet_names])
        keep_chars = torch.isin(self.character_alphabet, keep_alphabets).nonzero().flatten()
        new_label = torch.full((self.num_classes,), -1, dtype=torch.int64)
        new_label[keep_chars] = torch.arange(len(keep_chars))
        keep_images = torch.isin(self.labels, keep_chars)
        old_alphabets = self.character_alphabet[keep_chars]
        return Omniglot(
            images=self.images[keep_images],
            labels=new_label[self.labels[keep_images]],
            character_names=[self.character_names[i] for i in keep_chars.tolist()],
            alphabet_names=alphabet_names,
            character_alphabet=torch.tensor(
                [alphabet_names.index(self.alphabet_names[a]) for a in old_alphabets.tolist()],
                dtype=torch.int64,
            ),
        )


def load_omniglot(
    split: str = "background",
    image_size: int = 28,
    data_dir: str | Path | None = None,
    download: bool = True,
) -> Omniglot:
    """Load an Omniglot split: ``"background"``, ``"evaluation"``, ``"background_small1"`` or ``"background_small2"``.

    Characters are numbered in the order alphabet, then character folder; images of a character are
    consecutive. ``download=False`` raises :class:`OmniglotDataError` instead of downloading.
    """
    if split not in SPLITS or split == "all_runs":
        raise ValueError(
            f"Unknown Omniglot split {split!r}; choose one of "
            f"{sorted(s for s in SPLITS if s != 'all_runs')} (the one-shot runs: load_one_shot_runs())."
        )
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    stored = _load_cached(split, data_dir, download)
    paths = [str(p) for p in stored["paths"]]
    character_of = [p.rsplit("/", 1)[0] for p in paths]
    character_names = sorted(set(character_of))
    alphabet_names = sorted({c.split("/", 1)[0] for c in character_names})
    char_index = {c: i for i, c in enumerate(character_names)}
    return Omniglot(
        images=_to_tensor(stored["bits"], image_size),
        labels=torch.tensor([char_index[c] for c in character_of], dtype=torch.int64),
        character_names=character_names,
        alphabet_names=alphabet_names,
        character_alphabet=torch.tensor(
            [alphabet_names.index(c.split("/", 1)[0]) for c in character_names], dtype=torch.int64
        ),
    )


def load_validation_set(
    image_size: int = 28, data_dir: str | Path | None = None, download: bool = True
) -> Omniglot:
    """The evaluation images of the :data:`VALIDATION_ALPHABETS`, for choosing anything without the test runs."""
    return load_omniglot("evaluation", image_size, data_dir, download).select_alphabets(VALIDATION_ALPHABETS)


@dataclass
class OneShotRun:
    """One run of the official one-shot task: 20 training images (one per class) and 20 test images.

    Attributes
    ----------
    name : str
        ``"run01"`` .. ``"run20"``.
    train_images, test_images : Tensor
        ``(20, 1, S, S)`` float32, ink = 1, in the order of ``train_files`` and ``test_files``.
    test_labels : Tensor
        ``(20,)`` int64: for each test image, the index in ``train_images`` of its class
        (from the run's ``class_labels.txt``).
    train_files, test_files : list[str]
        The file names inside the run, e.g. ``"training/class01.png"``.
    """

    name: str
    train_images: Tensor
    test_images: Tensor
    test_labels: Tensor
    train_files: list[str]
    test_files: list[str]


def load_one_shot_runs(
    image_size: int = 105, data_dir: str | Path | None = None, download: bool = True
) -> list[OneShotRun]:
    """The 20 runs of 20-way within-alphabet one-shot classification of Lake et al. (2015), from ``all_runs.zip``."""
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    labels_text = _read_class_labels(data_dir, download)
    stored = _load_cached("all_runs", data_dir, download)
    paths = [str(p) for p in stored["paths"]]
    images = _to_tensor(stored["bits"], image_size)
    index = {p: i for i, p in enumerate(paths)}
    runs = []
    for r in range(1, NUM_RUNS + 1):
        name = f"run{r:02d}"
        pairs = [line.split() for line in labels_text.get(name, "").splitlines() if line.strip()]
        train_files = sorted(p.removeprefix(name + "/") for p in paths if p.startswith(name + "/training/"))
        test_files = [test.removeprefix(name + "/") for test, _ in pairs]
        answers = [train.removeprefix(name + "/") for _, train in pairs]
        if len(pairs) != RUN_WAYS or len(train_files) != RUN_WAYS or not set(answers) <= set(train_files):
            raise OmniglotDataError(
                f"all_runs in {data_dir} is incomplete: {name} needs {RUN_WAYS} training images and "
                f"{RUN_WAYS} lines in class_labels.txt naming them. Delete it and load again."
            )
        runs.append(OneShotRun(
            name=name,
            train_images=images[[index[f"{name}/{f}"] for f in train_files]],
            test_images=images[[index[f"{name}/{f}"] for f in test_files]],
            test_labels=torch.tensor([train_files.index(a) for a in answers], dtype=torch.int64),
            train_files=train_files,
            test_files=test_files,
        ))
    return runs


def _read_class_labels(data_dir: Path, download_ok: bool) -> dict[str, str]:
    """Each run's class_labels.txt, keyed by run name."""
    folder = data_dir / "all_runs"
    if folder.is_dir():
        return {p.parent.name: p.read_text() for p in sorted(folder.glob("run*/class_labels.txt"))}
    archive = data_dir / SPLITS["all_runs"].zip_name
    if not archive.exists():
        if not download_ok:
            raise OmniglotDataError(
                _missing_message("all_runs", data_dir, f"{archive} does not exist (download=False).")
            )
        archive = download("all_runs", data_dir)
    try:
        with zipfile.ZipFile(archive) as zf:
            return {
                name.split("/", 1)[0]: zf.read(name).decode()
                for name in zf.namelist() if name.endswith("class_labels.txt")
            }
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise OmniglotDataError(
            f"{archive} is corrupted or truncated ({error}). Delete it and load again to download a "
            f"fresh copy, or replace it with a good copy."
        ) from error


# ----------------------------------------------------------------------------- sampling


def _class_members(labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Image indices sorted by class, each class's first position in that order, and its size."""
    if labels.dim() != 1 or labels.numel() == 0:
        raise ValueError(f"labels must be a non-empty 1-D tensor, got shape {tuple(labels.shape)}.")
    order = torch.argsort(labels, stable=True)
    classes, counts = torch.unique_consecutive(labels[order], return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    return order, starts, counts


class PKSampler(Sampler[list[int]]):
    """Batches of ``P`` classes with ``K`` images each (Hermans, Beyer & Leibe, 2017).

    Every batch then holds positive pairs (``K >= 2``) and negatives (``P >= 2``) for online mining.
    Yields ``num_batches`` lists of ``P * K`` indices into ``labels``; classes with fewer than ``K``
    images are never drawn. Iterating again continues the same seeded random stream.

    With ``class_groups`` (the group of each class, indexed by label, e.g. ``character_alphabet``),
    a batch draws its classes from as few groups as possible: the classes of a random group in random
    order, then those of the next random group, until there are ``P``. Batches of one alphabet hold
    the negatives that the within-alphabet one-shot task must tell apart; random batches mostly hold
    characters of different alphabets, which are easy to separate.
    """

    def __init__(
        self, labels: Tensor, p: int, k: int, num_batches: int, seed: int = 0, class_groups: Tensor | None = None
    ):
        if p < 1 or k < 1 or num_batches < 1:
            raise ValueError(f"p, k and num_batches must be >= 1, got p={p}, k={k}, num_batches={num_batches}.")
        labels = torch.as_tensor(labels)
        self.order, self.starts, self.counts = _class_members(labels)
        self.eligible = (self.counts >= k).nonzero().flatten()
        if len(self.eligible) < p:
            raise ValueError(
                f"A P x K batch needs {p} classes with at least {k} images each, but only "
                f"{len(self.eligible)} classes have that many. Lower p or k."
            )
        self.group_of = None
        if class_groups is not None:
            class_groups, classes = torch.as_tensor(class_groups), torch.unique(labels)
            if class_groups.dim() != 1 or classes.min() < 0 or classes.max() >= len(class_groups):
                raise ValueError(
                    f"class_groups must be a 1-D tensor with an entry for every label 0 .. {int(classes.max())}; "
                    f"got shape {tuple(class_groups.shape)}."
                )
            self.group_of = torch.unique(class_groups[classes[self.eligible]], return_inverse=True)[1]
        self.p, self.k, self.num_batches = p, k, num_batches
        self.generator = torch.Generator().manual_seed(seed)

    def _classes(self) -> Tensor:
        """The positions in ``eligible`` of one batch's ``P`` classes."""
        if self.group_of is None:
            return torch.randperm(len(self.eligible), generator=self.generator)[: self.p]
        # Sort by (random rank of the group) + (random fraction): groups in random order, each shuffled.
        group_rank = torch.randperm(int(self.group_of.max()) + 1, generator=self.generator)
        key = group_rank[self.group_of] + torch.rand(len(self.eligible), generator=self.generator)
        return key.argsort()[: self.p]

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        for _ in range(self.num_batches):
            chosen = self.eligible[self._classes()]
            # K distinct members of each class: the first K of a random ranking within the class.
            ranks = torch.rand(self.p, int(self.counts[chosen].max()), generator=self.generator)
            ranks[torch.arange(ranks.shape[1]) >= self.counts[chosen, None]] = 2.0
            offsets = ranks.argsort(dim=1)[:, : self.k]
            yield self.order[self.starts[chosen, None] + offsets].flatten().tolist()


def _random_positive(labels: Tensor, num: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """``num`` pairs ``(i, j)``, ``i != j``, of the same class, ``i`` uniform over images whose class has 2+."""
    order, starts, counts = _class_members(labels)
    class_of = torch.repeat_interleave(torch.arange(len(counts)), counts)
    candidates = (counts[class_of] >= 2).nonzero().flatten()
    if len(candidates) == 0:
        raise ValueError("No class has two or more images, so there is no positive (similar) pair to draw.")
    pos_i = candidates[torch.randint(len(candidates), (num,), generator=generator)]
    c = class_of[pos_i]
    within = pos_i - starts[c]
    shift = 1 + (torch.rand(num, generator=generator) * (counts[c] - 1)).long()
    pos_j = starts[c] + (within + shift) % counts[c]
    return order[pos_i], order[pos_j]


def _random_negative(labels: Tensor, anchors: Tensor, generator: torch.Generator | None) -> Tensor:
    """For each anchor, a uniformly random image of another class."""
    if torch.unique(labels).numel() < 2:
        raise ValueError("All images have the same label, so there is no negative (dissimilar) pair to draw.")
    negatives = torch.randint(len(labels), anchors.shape, generator=generator)
    clash = labels[negatives] == labels[anchors]
    while clash.any():  # rejection sampling: cheap, since few draws share the anchor's class
        negatives[clash] = torch.randint(len(labels), (int(clash.sum()),), generator=generator)
        clash = labels[negatives] == labels[anchors]
    return negatives


def random_pairs(
    labels: Tensor, num_pairs: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Random balanced pairs for the contrastive loss: half similar, half dissimilar, shuffled.

    Returns ``(i, j, y)``, each ``(num_pairs,)`` int64, with the convention of Hadsell et al. (2006):
    ``y = 0`` for a similar pair (same class), ``y = 1`` for a dissimilar pair.
    """
    labels = torch.as_tensor(labels)
    num_similar = (num_pairs + 1) // 2
    si, sj = _random_positive(labels, num_similar, generator)
    di = torch.randint(len(labels), (num_pairs - num_similar,), generator=generator)
    dj = _random_negative(labels, di, generator)
    y = torch.cat([torch.zeros(num_similar, dtype=torch.int64), torch.ones(len(di), dtype=torch.int64)])
    shuffle = torch.randperm(num_pairs, generator=generator)
    return torch.cat([si, di])[shuffle], torch.cat([sj, dj])[shuffle], y[shuffle]


def random_triplets(
    labels: Tensor, num_triplets: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Random triplets ``(anchor, positive, negative)``: the positive shares the anchor's class, the negative does not.

    The simplest triplet selection (offline, no look at the embeddings). Returns three
    ``(num_triplets,)`` int64 index tensors into ``labels``.
    """
    labels = torch.as_tensor(labels)
    anchors, positives = _random_positive(labels, num_triplets, generator)
    return anchors, positives, _random_negative(labels, anchors, generator)


# ----------------------------------------------------------------------------- augmentation


def with_rotations(dataset: Omniglot) -> Omniglot:
    """Add each character rotated by 90, 180 and 270 degrees as three new characters (4 x C classes).

    A common trick on Omniglot (Santoro et al. 2016; Vinyals et al. 2016): a rotated character is a
    plausible new character, so the training set gains classes, not only images. Likewise each
    rotated alphabet becomes a new alphabet (``"Latin@rot90"``).
    """
    c, a = dataset.num_classes, len(dataset.alphabet_names)

    def rotated(name: str, r: int) -> str:
        return name + ("" if r == 0 else f"@rot{90 * r}")

    return Omniglot(
        images=torch.cat([torch.rot90(dataset.images, r, dims=(2, 3)) for r in range(4)]),
        labels=torch.cat([dataset.labels + r * c for r in range(4)]),
        character_names=[rotated(n, r) for r in range(4) for n in dataset.character_names],
        alphabet_names=[rotated(n, r) for r in range(4) for n in dataset.alphabet_names],
        character_alphabet=torch.cat([dataset.character_alphabet + r * a for r in range(4)]),
    )


def random_affine(
    images: Tensor,
    generator: torch.Generator | None = None,
    max_rotation: float = 10.0,
    max_shear: float = 0.15,
    scale: tuple[float, float] = (0.9, 1.1),
    max_translation: float = 0.1,
) -> Tensor:
    """Small random affine distortions of a batch ``(B, C, S, S)``, one per image, paper stays 0.

    Rotation in degrees, shear as a fraction, scale as a range of factors, translation as a fraction
    of the image size: the distortions of Koch et al. (2015), drawn continuously.
    """
    if images.dim() != 4:
        raise ValueError(f"images must have shape (B, C, S, S), got {tuple(images.shape)}.")
    b = images.shape[0]

    def uniform(low: float, high: float) -> Tensor:  # drawn on the CPU for a device-independent stream
        return low + (high - low) * torch.rand(b, generator=generator)

    angle = uniform(-max_rotation, max_rotation) * math.pi / 180
    shear = uniform(-max_shear, max_shear)
    zoom = uniform(*scale)
    # affine_grid maps output to input coordinates, so the inverse scale zooms in by `zoom`.
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([
        torch.stack([cos, -sin + shear * cos, 2 * uniform(-max_translation, max_translation)], dim=1),
        torch.stack([sin, cos + shear * sin, 2 * uniform(-max_translation, max_translation)], dim=1),
    ], dim=1).to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")
