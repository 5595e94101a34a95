"""Omniglot: its files, its splits and the official one-shot runs.

Omniglot (Lake, Salakhutdinov & Tenenbaum, 2015) has 1,623 handwritten characters from 50 alphabets,
each drawn once by 20 different people. The *background* set (30 alphabets, 964 characters) is for
training; the *evaluation* set (20 alphabets, 659 characters) holds the characters of the official
one-shot task, ``all_runs.zip``: 20 runs of 20-way within-alphabet classification.

A split loads as :class:`~siamese_tutorial.data.LabelledImages` whose groups are the alphabets and
whose ``drawers`` are the drawer numbers of the file names (``0965_05.png``: drawer 5, stored as 4).
Images are float32 ``(N, 1, S, S)`` with **ink = 1 and paper = 0** (the PNG files store the
opposite). ``S = 105`` gives the original binary images; smaller sizes are area-averaged.

Where the files come from, in this order: an extracted folder in the data folder, else the zip in
the data folder, else the official download (raw files of the GitHub repository
brendenlake/omniglot), checked against its md5 and written atomically. Nothing is ever extracted:
images are decoded straight from the zip, and the decoded images are cached as a compressed
``.npz`` so that later loads take a fraction of a second. The cache is only an optimisation: one
that cannot be read is rebuilt, and where the data folder is read-only it goes to the user's cache
folder (or nowhere), with a warning.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .data import LabelledImages
from .omniglot_files import (
    ORIGINAL_SIZE,
    SPLITS,
    OmniglotDataError,
    _archive,
    _corrupted,
    _load_cached,
    _to_tensor,
    default_data_dir,
    download,
    prepare,
    user_cache_dir,
)

__all__ = [
    "ORIGINAL_SIZE",
    "SPLITS",
    "RUN_ALPHABETS",
    "VALIDATION_ALPHABETS",
    "OmniglotDataError",
    "OneShotRun",
    "default_data_dir",
    "user_cache_dir",
    "download",
    "prepare",
    "load_omniglot",
    "load_validation_set",
    "load_one_shot_runs",
]

NUM_RUNS = 20
RUN_WAYS = 20

RUN_ALPHABETS = (
    "Atlantean",
    "Ge_ez",
    "Glagolitic",
    "Gurmukhi",
    "Kannada",
    "Malayalam",
    "Manipuri",
    "Old_Church_Slavonic_(Cyrillic)",
    "Tengwar",
    "Tibetan",
)
"""The 10 evaluation alphabets the 20 official runs are drawn from (two runs each, in this order)."""

VALIDATION_ALPHABETS = (
    "Angelic",
    "Atemayar_Qelisayer",
    "Aurek-Besh",
    "Avesta",
    "Keble",
    "Mongolian",
    "Oriya",
    "Sylheti",
    "Syriac_(Serto)",
    "ULOG",
)
"""The other 10 evaluation alphabets: no run uses them, so choices can be made on them without
touching the test runs."""


# ----------------------------------------------------------------------------- the data sets


def load_omniglot(
    split: str = "background",
    image_size: int = 28,
    data_dir: str | Path | None = None,
    download: bool = True,
) -> LabelledImages:
    """Load an Omniglot split: ``"background"``, ``"evaluation"``, ``"background_small1"`` or ``"background_small2"``.

    Characters (the classes) are numbered in the order alphabet, then character folder; images of a
    character are consecutive, in drawer order. The groups are the alphabets. ``download=False``
    raises :class:`OmniglotDataError` instead of downloading.
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
    return LabelledImages(
        images=_to_tensor(stored["bits"], image_size),
        labels=torch.tensor(
            [char_index[c] for c in character_of], dtype=torch.int64
        ),
        class_names=character_names,
        group_names=alphabet_names,
        class_group=torch.tensor(
            [
                alphabet_names.index(c.split("/", 1)[0])
                for c in character_names
            ],
            dtype=torch.int64,
        ),
        # "0965_05.png": drawn by drawer 05 of the alphabet
        drawers=torch.tensor(
            [int(p.rsplit("_", 1)[1].removesuffix(".png")) - 1 for p in paths],
            dtype=torch.int64,
        ),
    )


def load_validation_set(
    image_size: int = 28,
    data_dir: str | Path | None = None,
    download: bool = True,
) -> LabelledImages:
    """The evaluation images of the :data:`VALIDATION_ALPHABETS`, for choosing anything without the test runs."""
    return load_omniglot(
        "evaluation", image_size, data_dir, download
    ).select_groups(VALIDATION_ALPHABETS)


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
    alphabet : str
        The evaluation alphabet its characters come from (:data:`RUN_ALPHABETS`: two runs each).
    """

    name: str
    train_images: Tensor
    test_images: Tensor
    test_labels: Tensor
    train_files: list[str]
    test_files: list[str]
    alphabet: str = ""


def load_one_shot_runs(
    image_size: int = 105,
    data_dir: str | Path | None = None,
    download: bool = True,
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
        pairs = [
            line.split()
            for line in labels_text.get(name, "").splitlines()
            if line.strip()
        ]
        train_files = sorted(
            p.removeprefix(name + "/")
            for p in paths
            if p.startswith(name + "/training/")
        )
        test_files = [test.removeprefix(name + "/") for test, _ in pairs]
        answers = [train.removeprefix(name + "/") for _, train in pairs]
        if (
            len(pairs) != RUN_WAYS
            or len(train_files) != RUN_WAYS
            or not set(answers) <= set(train_files)
        ):
            raise OmniglotDataError(
                f"all_runs in {data_dir} is incomplete: {name} needs {RUN_WAYS} training images and "
                f"{RUN_WAYS} lines in class_labels.txt naming them. Delete it and load again."
            )
        runs.append(
            OneShotRun(
                name=name,
                train_images=images[
                    [index[f"{name}/{f}"] for f in train_files]
                ],
                test_images=images[[index[f"{name}/{f}"] for f in test_files]],
                test_labels=torch.tensor(
                    [train_files.index(a) for a in answers], dtype=torch.int64
                ),
                train_files=train_files,
                test_files=test_files,
                alphabet=RUN_ALPHABETS[(r - 1) // 2],
            )
        )
    return runs


def _read_class_labels(data_dir: Path, download_ok: bool) -> dict[str, str]:
    """Each run's class_labels.txt, keyed by run name."""
    folder = data_dir / "all_runs"
    if folder.is_dir():
        return {
            p.parent.name: p.read_text()
            for p in sorted(folder.glob("run*/class_labels.txt"))
        }
    archive = _archive("all_runs", data_dir, download_ok)
    try:
        with zipfile.ZipFile(archive) as zf:
            return {
                name.split("/", 1)[0]: zf.read(name).decode()
                for name in zf.namelist()
                if name.endswith("class_labels.txt")
            }
    except (
        zipfile.BadZipFile,
        OSError,
        EOFError,
        UnicodeDecodeError,
    ) as error:
        raise _corrupted(archive, error) from error
