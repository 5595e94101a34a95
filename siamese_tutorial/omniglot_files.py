"""Omniglot's files: where they are, their download (md5-checked), decoding from the zips, the cache.

Where the files come from, in this order: an extracted folder in the data folder, else the zip in
the data folder, else the official download, checked against its md5 and written atomically. The
decoded images are cached as a compressed ``.npz``; see :mod:`siamese_tutorial.omniglot`.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from .files import atomic_write

__all__ = [
    "SPLITS",
    "OmniglotDataError",
    "default_data_dir",
    "user_cache_dir",
    "download",
    "prepare",
]

ORIGINAL_SIZE = 105
_BASE_URL = (
    "https://raw.githubusercontent.com/brendenlake/omniglot/master/python/"
)


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
        "images_background.zip",
        _BASE_URL + "images_background.zip",
        "68d2efa1b9178cc56df9314c21c6e718",
        30,
        964,
        19280,
    ),
    "evaluation": SplitInfo(
        "images_evaluation.zip",
        _BASE_URL + "images_evaluation.zip",
        "6b91aef0f799c5bb55b94e3f2daec811",
        20,
        659,
        13180,
    ),
    "background_small1": SplitInfo(
        "images_background_small1.zip",
        _BASE_URL + "images_background_small1.zip",
        "e704a628b5459e08445c13499850abc4",
        5,
        136,
        2720,
    ),
    "background_small2": SplitInfo(
        "images_background_small2.zip",
        _BASE_URL + "images_background_small2.zip",
        "b75a71a51d3b13f821f212756fe481fd",
        5,
        156,
        3120,
    ),
    # 20 runs x (20 training + 20 test images); "alphabets" counts the runs here.
    "all_runs": SplitInfo(
        "all_runs.zip",
        _BASE_URL + "one-shot-classification/all_runs.zip",
        "e8996daecdf12afeeb4a53a179f06b19",
        20,
        20,
        800,
    ),
}


_CACHE_KEYS = {"paths", "bits", "fingerprint"}


class OmniglotDataError(RuntimeError):
    """The Omniglot files are missing, incomplete or corrupted; the message says what to do."""


# ----------------------------------------------------------------------------- where the files are


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/siamese_tutorial``, or ``~/.cache/siamese_tutorial`` when it is not set."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "siamese_tutorial"


def default_data_dir() -> Path:
    """The folder where Omniglot is looked for and downloaded to.

    ``$SIAMESE_TUTORIAL_DATA`` if set; else the ``data/`` folder of the project checkout when the
    package runs from one (as in the book); else :func:`user_cache_dir`.
    """
    if os.environ.get("SIAMESE_TUTORIAL_DATA"):
        return Path(os.environ["SIAMESE_TUTORIAL_DATA"]).expanduser()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (
        checkout / "data"
    ).is_dir():
        return checkout / "data"
    return user_cache_dir()


def _missing_message(split: str, data_dir: Path, reason: str) -> str:
    info = SPLITS[split]
    return (
        f"Omniglot '{split}' is not available: {reason} "
        f"Put {info.zip_name} (from {info.url}) into {data_dir}, or set SIAMESE_TUTORIAL_DATA to "
        f"the folder that has it, or run `python -m siamese_tutorial download` where the internet "
        f"can be reached."
    )


def _split_info(split: str) -> SplitInfo:
    if split not in SPLITS:
        raise ValueError(
            f"Unknown Omniglot split {split!r}; choose one of {sorted(SPLITS)}."
        )
    return SPLITS[split]


def download(
    split: str, data_dir: str | Path | None = None, force: bool = False
) -> Path:
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
        digest, received = hashlib.md5(), 0
        with urllib.request.urlopen(info.url, timeout=60) as response:
            expected = response.headers.get("Content-Length")
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
                received += len(block)
        if expected is not None and received != int(
            expected
        ):  # the server hung up early
            raise http.client.IncompleteRead(b"", int(expected) - received)
        if digest.hexdigest() != info.md5:
            raise OmniglotDataError(
                f"The download of {info.url} is corrupted: its md5 is {digest.hexdigest()}, "
                f"expected {info.md5}. Nothing was saved; try again later."
            )

    try:
        atomic_write(target, fetch)
    except (
        urllib.error.URLError,
        http.client.HTTPException,
        OSError,
    ) as error:
        # HTTPException covers a connection cut mid-transfer (IncompleteRead) or a garbled reply.
        detail = " ".join(
            str(error).split()
        )  # on one line, whatever the server sent
        reason = (
            f"{type(error).__name__}: {detail}"
            if detail
            else type(error).__name__
        )
        raise OmniglotDataError(
            _missing_message(
                split,
                data_dir,
                f"the download failed ({reason}); nothing was saved.",
            )
        ) from error
    return target


# ----------------------------------------------------------------------------- reading the images


def _decode_png(data: bytes, name: str, source: Path) -> np.ndarray:
    """A PNG as a (105, 105) bool array, True where there is ink."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            ink = ~np.asarray(image.convert("1"), dtype=bool)
    except OSError as error:
        raise OmniglotDataError(
            f"{source}: {name} is not a readable PNG ({error}). Replace {source} "
            f"with a good copy."
        ) from error
    if ink.shape != (ORIGINAL_SIZE, ORIGINAL_SIZE):
        raise OmniglotDataError(
            f"{source}: {name} is {ink.shape[1]}x{ink.shape[0]} pixels, but every Omniglot image is "
            f"{ORIGINAL_SIZE}x{ORIGINAL_SIZE}. Replace {source} with a copy of the official release."
        )
    return ink


def _corrupted(archive: Path, error: Exception) -> OmniglotDataError:
    return OmniglotDataError(
        f"{archive} is corrupted or truncated ({error}). Delete it and load again to download a "
        f"fresh copy, or replace it with a good copy."
    )


def _archive(split: str, data_dir: Path, download_ok: bool) -> Path:
    """The split's zip in ``data_dir``, downloaded first if it is missing and that is allowed."""
    archive = data_dir / SPLITS[split].zip_name
    if archive.exists():
        return archive
    if not download_ok:
        raise OmniglotDataError(
            _missing_message(
                split, data_dir, f"{archive} does not exist (download=False)."
            )
        )
    return download(split, data_dir)


def _read_members(
    split: str, data_dir: Path, download_ok: bool
) -> dict[str, np.ndarray]:
    """Every PNG of a split, keyed by its path below the split's top folder (e.g. 'Latin/character01/x.png').

    Reads the extracted folder if there is one, else the zip (downloading it if allowed).
    """
    folder = data_dir / SPLITS[split].zip_name.removesuffix(".zip")
    if folder.is_dir():
        return {
            str(p.relative_to(folder)).replace(os.sep, "/"): _decode_png(
                p.read_bytes(), p.name, folder
            )
            for p in sorted(folder.rglob("*.png"))
        }
    archive = _archive(split, data_dir, download_ok)
    prefix = folder.name + "/"
    try:
        with zipfile.ZipFile(archive) as zf:
            bad = zf.testzip()
            if bad is not None:
                raise zipfile.BadZipFile(f"bad CRC for {bad}")
            return {
                name.removeprefix(prefix): _decode_png(
                    zf.read(name), name, archive
                )
                for name in sorted(zf.namelist())
                if name.endswith(".png")
            }
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise _corrupted(archive, error) from error


def _check_counts(
    split: str, what: str, alphabets: int, characters: int, images: int
) -> None:
    info = SPLITS[split]
    found, expected = (
        (alphabets, characters, images),
        (info.alphabets, info.characters, info.images),
    )
    if found != expected:
        raise OmniglotDataError(
            f"Omniglot '{split}' ({what}) is incomplete: found {found[0]} alphabets, {found[1]} "
            f"characters and {found[2]} images; expected {expected[0]}, {expected[1]} and "
            f"{expected[2]}. Delete it and load again to download a fresh copy."
        )


def _source_fingerprint(split: str, data_dir: Path) -> str:
    """Identifies the source files, so that a cache made from other files is not used."""
    info = SPLITS[split]
    folder, archive = (
        data_dir / info.zip_name.removesuffix(".zip"),
        data_dir / info.zip_name,
    )
    files = (
        sorted(folder.rglob("*"))
        if folder.is_dir()
        else [archive]
        if archive.exists()
        else []
    )
    digest = hashlib.md5()
    for path in files:
        stat = path.stat()
        digest.update(
            f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns};".encode()
        )
    return digest.hexdigest() if files else ""


def _cache_places(split: str, data_dir: Path) -> list[Path]:
    """Where the cache of a split may be: beside the data, else in the user's cache folder."""
    key = hashlib.md5(str(data_dir.resolve()).encode()).hexdigest()[:12]
    return [
        data_dir / "cache" / f"{split}.npz",
        user_cache_dir() / f"cache-{key}" / f"{split}.npz",
    ]


def _read_cache(cache: Path, fingerprint: str) -> dict[str, np.ndarray] | None:
    """The cached arrays if ``cache`` is a readable cache of these source files, else None.

    Never with pickles allowed: a cache holds plain arrays only. A cache that cannot be read
    (truncated, garbled, keys missing) is reported once and rebuilt.
    """
    if not cache.is_file():
        return None
    try:
        with np.load(cache, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in _CACHE_KEYS}
        if arrays["bits"].ndim != 3 or len(arrays["bits"]) != len(
            arrays["paths"]
        ):
            raise ValueError("the image and path arrays do not match")
    except Exception as error:  # anything unreadable is rebuilt: the cache is only an optimisation
        warnings.warn(
            f"the Omniglot cache {cache} could not be read ({type(error).__name__}: {error}); "
            f"rebuilding it from the source files",
            stacklevel=4,
        )
        return None
    return arrays if str(arrays["fingerprint"]) == fingerprint else None


def _write_cache(places: list[Path], arrays: dict[str, np.ndarray]) -> None:
    """Write the cache at the first place that accepts it; say so once if none does, and go on."""
    errors = []
    for cache in places:
        try:
            atomic_write(cache, lambda f: np.savez_compressed(f, **arrays))
            return
        except OSError as error:
            errors.append(f"{cache.parent}: {error.strerror or error}")
    warnings.warn(
        f"no cache of the decoded Omniglot images could be written ({'; '.join(errors)}); loading "
        f"works without it but decodes the zip each time",
        stacklevel=4,
    )


def _load_cached(
    split: str, data_dir: Path, download_ok: bool
) -> dict[str, np.ndarray]:
    """The split's binary 105x105 images (bit-packed) and names, from the cache or the source files."""
    fingerprint = _source_fingerprint(split, data_dir)
    places = _cache_places(split, data_dir)
    if fingerprint:
        for cache in places:
            arrays = _read_cache(cache, fingerprint)
            if arrays is not None:
                return arrays
    members = _read_members(split, data_dir, download_ok)
    # For all_runs the "alphabets" are the runs and the "characters" their 20 training images.
    groups = {p.split("/", 1)[0] for p in members}
    if split == "all_runs":
        classes = {p.split("/")[-1] for p in members if "/training/" in p}
    else:
        classes = {p.rsplit("/", 1)[0] for p in members}
    _check_counts(
        split, str(data_dir), len(groups), len(classes), len(members)
    )
    arrays = {"paths": np.array(sorted(members))}
    arrays["bits"] = np.packbits(
        np.stack([members[p] for p in arrays["paths"]]), axis=-1
    )
    arrays["fingerprint"] = np.array(_source_fingerprint(split, data_dir))
    _write_cache(places, arrays)
    return arrays


def prepare(split: str, data_dir: str | Path | None = None) -> int:
    """Decode a split's images into the cache now (nothing to do when the cache is current); returns their number.

    Loading decodes on first use anyway; preparing ahead (``python -m siamese_tutorial download``
    does) spares a reader's first chapter the wait, e.g. when Binder builds its image.
    """
    _split_info(split)
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    return len(_load_cached(split, data_dir, download_ok=False)["paths"])


def _to_tensor(bits: np.ndarray, image_size: int) -> Tensor:
    """Bit-packed (N, 105, 14) arrays to float32 (N, 1, S, S) images, ink = 1, area-averaged."""
    if (
        isinstance(image_size, bool)
        or not isinstance(image_size, int)
        or not 4 <= image_size <= ORIGINAL_SIZE
    ):
        raise ValueError(
            f"image_size must be an int between 4 and {ORIGINAL_SIZE}, got {image_size!r}."
        )
    # Unpacked and averaged a chunk at a time: all 19,280 background images at full size in float32
    # would take 850 MB, more than a small machine (or Binder's 2 GB) can spare beside the rest.
    chunks = []
    for start in range(0, len(bits), 1024):
        ink = np.unpackbits(
            bits[start : start + 1024], axis=-1, count=ORIGINAL_SIZE
        )
        images = torch.from_numpy(ink).to(torch.float32).unsqueeze(1)
        chunks.append(
            images
            if image_size == ORIGINAL_SIZE
            else F.adaptive_avg_pool2d(images, image_size)
        )
    return torch.cat(chunks)
