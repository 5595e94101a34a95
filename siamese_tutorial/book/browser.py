"""The shipped encoder in a reader's browser: the assets of the book's drawing page.

The page (``book/draw.md``; its code in ``_extra/draw/``, which the book copies to ``draw/``) runs
the shipped triplet encoder with ``onnxruntime-web`` on a character the reader draws, and answers
with the nearest of the 20 training characters of an official run, or "unknown" above the gallery
threshold. Everything it needs is built here, from the package, by ``make book``; the page loads
``runs.js`` first and the rest after its canvas is drawn, over http the ``.onnx`` and ``.wasm``
files themselves and from a file their base64 scripts:

* ``encoder.onnx``: the encoder *with its test-time shifts inside* (:class:`ShiftAveragedEncoder`),
  so that one forward pass of a ``(1, 1, S, S)`` image gives :func:`~siamese_tutorial.evaluation.embed`'s
  embedding; ``encoder.js`` holds the same bytes in base64 for pages opened as files.
* ``runs.js``: for each official run, its alphabet, its 20 training images (PNG, dark ink on white,
  as shown) and their prototypes in the :class:`~siamese_tutorial.gallery.Gallery` of the shipped encoder, the
  gallery's threshold, and how a drawing is read.
* the ``onnxruntime-web`` runtime copied from ``node_modules`` (``npm ci`` installs the version of
  ``package-lock.json``), with ``ort-wasm-embedded.js``, its WebAssembly in base64: a page opened as a
  file can load scripts but not fetch, so that is how it gets the runtime there.

How a drawing is read is how :func:`~siamese_tutorial.omniglot.load_one_shot_runs` reads the runs: a
``105 x 105`` binary picture, ink = 1, area-averaged to the encoder's ``S x S`` (PyTorch's adaptive
average pooling); no cropping or centring, as for the runs' own images.

``python -m siamese_tutorial.browser --out DIR --runtime node_modules/onnxruntime-web/dist`` writes them.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from ..files import atomic_write, write_text
from ..gallery import Gallery, OpenSetCalibration
from ..models import encoder_of
from ..omniglot import (
    NUM_RUNS,
    ORIGINAL_SIZE,
    OmniglotDataError,
    OneShotRun,
    load_one_shot_runs,
    load_validation_set,
)
from ..open_set import calibrate_open_set_sizes
from ..pretrained import available_pretrained, load_pretrained
from ..shifts import ShiftAveragedEncoder

__all__ = [
    "ShiftAveragedEncoder",
    "export_onnx",
    "run_gallery",
    "draw_thresholds",
    "write_draw_assets",
    "RUNTIME_FILES",
    "OWN_GALLERY_SIZES",
    "main",
]

RUNTIME_FILES = (
    "ort.wasm.min.js",
    "ort-wasm-simd-threaded.mjs",
    "ort-wasm-simd-threaded.wasm",
)
"""The files of ``onnxruntime-web``'s ``dist`` the page uses: its WebAssembly build, run on one thread."""

ENCODER = "triplet"
"""The shipped encoder the page runs."""


def export_onnx(encoder: nn.Module, shifts: int, path: str | Path) -> Path:
    """Write ``encoder`` with its test-time ``shifts`` as an ONNX model taking one image, atomically.

    The model's input ``image`` is ``(1, C, S, S)`` float32 (ink = 1), its output ``embedding`` ``(1, D)``.
    ``shifts`` must be what :func:`~siamese_tutorial.evaluation.embed` accepts (0 to ``S - 1``), else
    ``ValueError`` and nothing is written.
    """
    inner = encoder_of(encoder)
    model = ShiftAveragedEncoder(
        inner, shifts
    ).eval()  # refuses shifts that embed() refuses
    size, channels = inner.image_size, getattr(inner, "in_channels", 1)
    buffer = io.BytesIO()
    was_training = inner.training
    inner.eval()
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter (deprecated, but present in every torch this package allows: < 2.15)
            # takes under a second where torch.export's takes half a minute and needs onnxscript; the
            # tests check its graph against embed() either way.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (torch.zeros(1, channels, size, size),),
                buffer,
                dynamo=False,
                input_names=["image"],
                output_names=["embedding"],
            )
    finally:
        inner.train(was_training)
    data = buffer.getvalue()
    atomic_write(path, lambda file: file.write(data))
    return Path(path)


def run_gallery(
    encoder: nn.Module, run: OneShotRun, shifts: int, threshold: float | None
) -> Gallery:
    """A gallery of one official run's 20 training characters, each enrolled from its one image.

    The names are the training files' stems (``"class01"`` ... ``"class20"``), in the run's order;
    ``run.train_images`` must be at the encoder's image size.
    """
    gallery = Gallery(encoder, threshold, shifts)
    for file, image in zip(run.train_files, run.train_images):
        gallery.enrol(Path(file).stem, image)
    return gallery


OWN_GALLERY_SIZES = (1, 2, 3, 5, 10, 20)
"""Gallery sizes whose thresholds the page's own gallery uses (between two, the larger's)."""


def draw_thresholds(
    encoder: nn.Module,
    image_size: int,
    shifts: int,
    sizes: Sequence[int] = (20,),
    data_dir: str | Path | None = None,
) -> dict[int, OpenSetCalibration]:
    """Open-set thresholds of galleries of each of ``sizes`` characters, chosen as the command line chooses one.

    :func:`~siamese_tutorial.open_set.calibrate_open_set_sizes` on Omniglot's 10 validation alphabets
    (the classes the shipped encoders held out, and that no run uses), one drawing a class as on the
    page, with the encoder's shifts: 20 is a run's gallery, the others the reader's own gallery. The
    images are embedded once for all sizes: about a minute and a half on one CPU core.
    """
    return calibrate_open_set_sizes(
        encoder,
        load_validation_set(image_size, data_dir),
        gallery_sizes=list(sizes),
        shifts=shifts,
    )


def _png_data_uri(image: Tensor) -> str:
    """A ``(1, S, S)`` image (ink = 1) as a PNG data URI, dark ink on white paper as Omniglot's files are."""
    pixels = np.rint(255.0 * (1.0 - image[0].clamp(0, 1).numpy())).astype(
        np.uint8
    )
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(
        buffer, format="PNG", optimize=True
    )  # uint8 (S, S): grayscale
    return "data:image/png;base64," + base64.b64encode(
        buffer.getvalue()
    ).decode("ascii")


def _float32_base64(values: Tensor) -> str:
    """Float32 little-endian bytes in base64: exact, and a quarter of the size of decimal text."""
    return base64.b64encode(
        values.detach().to(torch.float32).numpy().astype("<f4").tobytes()
    ).decode("ascii")


def _script(variable: str, content: Any) -> str:
    """A script that sets ``window[variable]``: pages opened as files may load scripts but not fetch data."""
    return (
        f"window.{variable} = {json.dumps(content, separators=(',', ':'))};\n"
    )


def _runs_content(
    encoder: nn.Module,
    shifts: int,
    threshold: float,
    calibration: dict[str, Any],
    data_dir: str | Path | None,
    names: Sequence[str] | None,
) -> dict[str, Any]:
    size = encoder_of(encoder).image_size
    shown = load_one_shot_runs(ORIGINAL_SIZE, data_dir)
    read = load_one_shot_runs(size, data_dir)
    runs = []
    for original, run in zip(shown, read):
        if names is not None and run.name not in names:
            continue
        gallery = run_gallery(encoder, run, shifts, threshold)
        runs.append(
            {
                "name": run.name,
                "alphabet": run.alphabet.replace("_", " "),
                "names": gallery.names,
                "images": [
                    _png_data_uri(image) for image in original.train_images
                ],
                "prototypes": _float32_base64(gallery.prototypes),
            }
        )
    return {
        "encoder": ENCODER,
        "image_size": size,
        "drawing_size": ORIGINAL_SIZE,
        "shifts": shifts,
        "embedding_dim": int(gallery.prototypes.shape[1]),
        "threshold": threshold,
        "calibration": calibration,
        "runs": runs,
    }


def write_draw_assets(
    out: str | Path,
    runtime: str | Path,
    threshold: float | None = None,
    data_dir: str | Path | None = None,
    runs: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Write the drawing page's assets into ``out`` (created if needed); return what ``runs.js`` holds, less the runs.

    Parameters
    ----------
    out : str or Path
        The folder of the assets (``_extra/draw/generated`` for the book).
    runtime : str or Path
        ``onnxruntime-web``'s ``dist`` folder (``node_modules/onnxruntime-web/dist`` after ``npm ci``).
    threshold : float, optional
        The gallery threshold, for every gallery size; default: :func:`draw_thresholds` for a run's
        gallery of 20 and for the page's own (:data:`OWN_GALLERY_SIZES`).
    data_dir : str or Path, optional
        Where Omniglot is (default: the package's data folder).
    runs : sequence of str, optional
        The official runs the page offers, e.g. ``["run01", "run02"]``; default: all 20.

    Raises
    ------
    FileNotFoundError
        If ``runtime`` lacks a file of :data:`RUNTIME_FILES` (run ``npm ci`` first).
    """
    out, runtime = Path(out), Path(runtime)
    _check_assets_request(runtime, runs)
    encoder = load_pretrained(ENCODER)
    card = available_pretrained()[ENCODER]
    shifts = int(card.get("runs", {}).get("shifts", 0))
    sizes = sorted({20, *OWN_GALLERY_SIZES})
    if threshold is None:
        on = "Omniglot's 10 validation alphabets"
        chosen = draw_thresholds(
            encoder, encoder_of(encoder).image_size, shifts, sizes, data_dir
        )
        by_size = {
            size: {"size": size, "threshold": c.threshold, **c.rates}
            for size, c in chosen.items()
        }
    else:
        on = "given"
        by_size = {
            size: {"size": size, "threshold": float(threshold)}
            for size in sizes
        }
    rates = {
        k: v for k, v in by_size[20].items() if k not in ("size", "threshold")
    }
    calibration = {"on": on, "gallery_size": 20, **rates}
    out.mkdir(parents=True, exist_ok=True)
    content = _runs_content(
        encoder, shifts, by_size[20]["threshold"], calibration, data_dir, runs
    )
    content["own_gallery"] = {
        "on": on,
        "calibrations": [by_size[size] for size in OWN_GALLERY_SIZES],
    }
    model = export_onnx(encoder, shifts, out / "encoder.onnx").read_bytes()
    write_text(
        out / "encoder.js",
        _script("SIAMESE_DRAW_MODEL", base64.b64encode(model).decode("ascii")),
    )
    write_text(out / "runs.js", _script("SIAMESE_DRAW_RUNS", content))
    _copy_runtime(runtime, out)
    return {key: value for key, value in content.items() if key != "runs"}


def _check_assets_request(runtime: Path, runs: Sequence[str] | None) -> None:
    """Refuse, before any work, a runtime folder without onnxruntime-web, or a run that is none."""
    missing = [
        name for name in RUNTIME_FILES if not (runtime / name).is_file()
    ]
    if missing:
        raise FileNotFoundError(
            f"{runtime} lacks {', '.join(missing)}: install onnxruntime-web with `npm ci` "
            f"in the repository first."
        )
    unknown = sorted(
        set(runs or []) - {f"run{r:02d}" for r in range(1, NUM_RUNS + 1)}
    )
    if unknown:
        raise ValueError(
            f"there is no official run named {', '.join(unknown)}; they are run01 ... run{NUM_RUNS}."
        )


def _copy_runtime(runtime: Path, out: Path) -> None:
    """onnxruntime-web's files into ``out``, and its WebAssembly embedded in a script."""
    for name in RUNTIME_FILES:
        data = (runtime / name).read_bytes()
        atomic_write(out / name, lambda file, data=data: file.write(data))
    write_text(
        out / "ort-wasm-embedded.js",
        _script(
            "SIAMESE_DRAW_ORT",
            {
                "glue": (runtime / "ort-wasm-simd-threaded.mjs").read_text(
                    encoding="utf-8"
                ),
                "wasm": base64.b64encode(
                    (runtime / "ort-wasm-simd-threaded.wasm").read_bytes()
                ).decode("ascii"),
            },
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m siamese_tutorial.browser --out DIR --runtime DIST [--threshold T]``."""
    parser = argparse.ArgumentParser(
        prog="python -m siamese_tutorial.browser",
        description="Write the assets of the book's drawing page.",
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="the folder of the assets"
    )
    parser.add_argument(
        "--runtime",
        type=Path,
        required=True,
        help="onnxruntime-web's dist folder (after npm ci)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="the gallery threshold (default: chosen on Omniglot's validation alphabets)",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="where Omniglot is"
    )
    args = parser.parse_args(argv)
    try:
        if args.threshold is not None and not np.isfinite(args.threshold):
            raise ValueError(
                f"--threshold must be a finite distance; got {args.threshold}."
            )
        meta = write_draw_assets(
            args.out, args.runtime, args.threshold, args.data_dir
        )
    except (ValueError, OSError, OmniglotDataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"drawing page assets in {args.out}: threshold {meta['threshold']:.3f} ({meta['calibration']['on']}), "
        f"shifts {meta['shifts']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
