"""Picture files read as image tensors: any format Pillow reads, upright, on its paper, ink = 1.

:func:`load_images` reads picture files into one ``(N, C, S, S)`` float32 tensor in [0, 1] (its
docstring says how every kind of picture is read); :class:`PictureReader` does the same over several
calls and warns once. (Folders of classes and of pictures are :mod:`siamese_tutorial.folders`'s,
importable from here too.) A file that cannot be read is named, with what it is
(a HEIC photo, an SVG drawing) and what to do. :func:`siamese_tutorial.data.load_image_folder` makes a
labelled image set of a folder of classes; the names here are also importable from
:mod:`siamese_tutorial.data`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from .checks import check_positive

__all__ = [
    "IMAGE_SUFFIXES",
    "INK_POLARITIES",
    "MAX_PIXELS",
    "CONVERT",
    "load_images",
    "PictureReader",
    "paper_is_light",
]


IMAGE_SUFFIXES = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".webp",
)
"""The file suffixes :func:`load_image_folder` reads (any case); other files are reported."""

INK_POLARITIES = ("auto", "dark", "light")
"""How pictures are drawn (the ``ink`` of :func:`load_images`): ``"dark"`` ink on light paper (read as
``1 - value``), ``"light"`` ink on dark paper (read as it is), or ``"auto"``: each picture's paper is the
most common level at its border (:func:`paper_is_light`)."""

MAX_PIXELS = 120_000_000
"""The largest picture read (width x height): a 108-megapixel phone photo passes; a "decompression
bomb" (a small file whose header claims a huge picture, which would fill the memory) is refused."""

_HIGH_DEPTH_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")


CONVERT = "convert it to PNG or JPEG (a phone's or a photo app's export does)"
"""What to do with a picture in a format that is not read (a HEIC photo, an SVG drawing, a PDF)."""

_KINDS = {
    ".heic": "a HEIC photo (the format of iPhones and many phones)",
    ".heif": "a HEIF photo (as phones take them)",
    ".svg": "an SVG drawing (lines, not pixels)",
    ".svgz": "an SVG drawing (lines, not pixels)",
    ".pdf": "a PDF document",
    ".eps": "an EPS drawing",
    ".avif": "an AVIF picture",
    ".raw": "a camera's raw picture",
    ".cr2": "a camera's raw picture",
    ".nef": "a camera's raw picture",
    ".dng": "a camera's raw picture",
    ".arw": "a camera's raw picture",
}


def _picture_kind(path: Path) -> str | None:
    """What kind of picture a file that is not read holds, from its first bytes or else its suffix (None: no idea)."""
    try:
        with open(path, "rb") as file:
            head = file.read(1024)
    except OSError:
        head = b""
    if (
        head[4:8] == b"ftyp"
    ):  # ISO media: HEIC, HEIF, AVIF say which by their brand
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"):
            return _KINDS[".heic"]
        if brand in (b"mif1", b"msf1"):
            return _KINDS[".heif"]
        if brand in (b"avif", b"avis"):
            return _KINDS[".avif"]
    if head.lstrip().startswith((b"<svg", b"<?xml")) and b"<svg" in head:
        return _KINDS[".svg"]
    if head.startswith(b"%PDF"):
        return _KINDS[".pdf"]
    return _KINDS.get(path.suffix.lower())


def _check_ink(ink: str | None) -> None:
    if ink is not None and ink not in INK_POLARITIES:
        raise ValueError(
            f"ink must be one of {INK_POLARITIES} (or None: use invert); got {ink!r}"
        )


def _high_depth_values(image: Image.Image, path: Path) -> np.ndarray:
    """A 16-bit, 32-bit integer or float picture as float32 in [0, 1]: 16 bits scaled by 65535 (the
    format's range, so nothing saturates), floats taken as they are (they must be finite, in 0 .. 1)."""
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float32)
        if not np.isfinite(values).all():
            raise ValueError(
                f"{path} holds NaN or infinite pixel values ({int((~np.isfinite(values)).sum())} of "
                f"{values.size}); replace it with a picture of finite values in 0 .. 1."
            )
        if values.size and (values.min() < 0 or values.max() > 1):
            raise ValueError(
                f"{path} is a float picture with values in {values.min():g} .. {values.max():g}; "
                f"float pictures must hold values in 0 .. 1 (or save it as an 8- or 16-bit picture)."
            )
        return values
    values = np.asarray(image).astype(np.float64)
    if values.size and (values.min() < 0 or values.max() > 65535):
        raise ValueError(
            f"{path} is a 32-bit integer picture with values in {values.min():g} .. {values.max():g}, "
            f"beyond 16 bits (0 .. 65535); save it as an 8- or 16-bit picture."
        )
    return (values / 65535).astype(np.float32)


def _resized(channels: np.ndarray, image_size: int) -> np.ndarray:
    """``(H, W, C)`` float32 values resized (area-averaged) to ``(S, S, C)``, in float: nothing rounded to 8 bits."""
    if channels.shape[:2] == (image_size, image_size):
        return channels
    return np.stack(
        [
            np.asarray(
                Image.fromarray(
                    np.ascontiguousarray(channels[..., c]), mode="F"
                ).resize((image_size, image_size), Image.Resampling.BOX)
            )
            for c in range(channels.shape[2])
        ],
        axis=2,
    )


def _on_paper(image: Image.Image, ink: str | None) -> Image.Image:
    """A picture with transparency, composited on its paper: white under dark ink, black under light ink.

    With ``ink`` None or ``"auto"`` the paper is the opposite of the visible pixels' mean brightness (a
    drawing on a transparent background: its strokes are the opaque pixels)."""
    rgba = image.convert("RGBA")
    if ink in ("dark", "light"):
        light_paper = ink == "dark"
    else:  # a sample of the pixels says (a full-size float copy of a large picture would take gigabytes)
        values = np.asarray(
            rgba.resize(
                (min(rgba.width, 256), min(rgba.height, 256)),
                Image.Resampling.NEAREST,
            ),
            dtype=np.float32,
        )
        alpha = values[..., 3] / 255
        seen = alpha.sum()
        brightness = (
            (values[..., :3].mean(axis=2) * alpha).sum() / (255 * seen)
            if seen
            else 0.0
        )
        light_paper = brightness < 0.5
    paper = Image.new(
        "RGBA",
        rgba.size,
        (255, 255, 255, 255) if light_paper else (0, 0, 0, 255),
    )
    return Image.alpha_composite(paper, rgba).convert("RGB")


def _has_transparency(image: Image.Image) -> bool:
    return (
        image.mode in ("RGBA", "LA", "PA", "RGBa", "La")
        or "transparency" in image.info
    )


def _picture_values(
    image: Image.Image, path: Path, grayscale: bool, ink: str | None
) -> np.ndarray:
    """An opened picture as ``(H, W, C)`` float32 in [0, 1], upright, in ``L`` or ``RGB``."""
    image = ImageOps.exif_transpose(
        image
    )  # a phone's photo is stored sideways, with a tag saying so
    if image.mode in _HIGH_DEPTH_MODES:
        values = _high_depth_values(image, path)[..., None]
        return values if grayscale else np.repeat(values, 3, axis=2)
    if _has_transparency(image):
        image = _on_paper(image, ink)
    image = image.convert(
        "L" if grayscale else "RGB"
    )  # palette, 1-bit, CMYK, YCbCr...: Pillow's conversions
    values = np.asarray(image, dtype=np.float32) / 255.0
    return values[..., None] if grayscale else values


def _read_image(
    path: Path, image_size: int, grayscale: bool, ink: str | None = None
) -> tuple[np.ndarray, bool]:
    """One picture as an ``(C, S, S)`` float32 array in [0, 1], resized (area-averaged) to ``S x S``,
    and whether it was square. An animated picture gives its first frame."""
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own limit and raises above twice that; MAX_PIXELS decides here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:  # reads the header only
                if image.width * image.height > MAX_PIXELS:
                    raise ValueError(
                        f"its header claims {image.width} x {image.height} pixels, more than the "
                        f"{MAX_PIXELS:,} read (a damaged file or a decompression bomb?)"
                    )
                if image.width == 0 or image.height == 0:
                    raise ValueError(
                        f"it is {image.width} x {image.height} pixels, empty"
                    )
                square = image.width == image.height
                if (
                    image.mode not in _HIGH_DEPTH_MODES
                    and not _has_transparency(image)
                ):
                    # 8-bit pictures are resized in 8 bits, as they always were (same values as before).
                    image = ImageOps.exif_transpose(image).convert(
                        "L" if grayscale else "RGB"
                    )
                    if image.size != (image_size, image_size):
                        image = image.resize(
                            (image_size, image_size), Image.Resampling.BOX
                        )
                    array = np.asarray(image, dtype=np.float32) / 255.0
                    array = array[..., None] if grayscale else array
                else:
                    array = _resized(
                        _picture_values(image, path, grayscale, ink),
                        image_size,
                    )
    except Image.DecompressionBombError as error:
        raise ValueError(
            f"{path} could not be read as an image (its header claims more than the {MAX_PIXELS:,} "
            f"pixels read, a damaged file or a decompression bomb?: {error}); remove it or replace it."
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        message = str(error)
        if message.startswith(str(path)):
            raise
        kind = (
            _picture_kind(path)
            if isinstance(error, UnidentifiedImageError)
            else None
        )
        if kind is not None:
            raise ValueError(
                f"{path} is {kind}, which cannot be read here; {CONVERT}."
            ) from None
        raise ValueError(
            f"{path} could not be read as an image ({message}); remove it or replace it."
        ) from error
    return np.ascontiguousarray(array.transpose(2, 0, 1)), square


def paper_is_light(images: Tensor) -> Tensor:
    """``(N,)`` bool: whether each picture of ``(N, C, H, W)`` values in [0, 1] has light paper.

    The paper is the most common level at a picture's border (its median there, over the channels'
    mean): a drawing rarely covers most of its border. Light paper means dark ink, read as ``1 - value``.
    """
    if images.dim() != 4:
        raise ValueError(
            f"images must have shape (N, C, H, W); got {tuple(images.shape)}"
        )
    gray = images.mean(dim=1)
    border = torch.cat(
        [gray[:, 0], gray[:, -1], gray[:, 1:-1, 0], gray[:, 1:-1, -1]], dim=1
    )
    return border.median(dim=1).values > 0.5


def load_images(
    paths: Sequence[str | Path],
    image_size: int,
    grayscale: bool = True,
    invert: bool = False,
    ink: str | None = None,
) -> Tensor:
    """Picture files as one ``(N, C, S, S)`` float32 tensor in [0, 1], each resized to ``S x S``.

    The same reading as :func:`load_image_folder`, for images to enrol or identify. Any picture Pillow
    opens is read as Pillow users expect: turned upright by its EXIF orientation; 16-bit pictures scaled
    by their range (65535); float pictures as they are (NaN, infinity or values beyond 0 .. 1 are
    refused); transparency composited on the paper (so that a drawing on a transparent background keeps
    its strokes); palette, 1-bit and CMYK pictures converted by Pillow; the first frame of an animation.
    Pictures that are not square are stretched to a square, with a warning that names the first of them.

    Ink polarity: the encoders of this package see **ink = 1 on paper = 0** (as in Omniglot).
    ``ink="dark"`` reads dark ink on light paper (``1 - value``), ``ink="light"`` light ink on dark
    paper (as it is); both warn, naming the first, about pictures whose paper is then not dark (drawn the
    other way). ``ink="auto"`` decides for each picture (:func:`paper_is_light`). Without ``ink``,
    ``invert`` gives ``1 - value`` or not, with no check (the reading of earlier versions).

    Raises
    ------
    ValueError
        Naming the file that is missing, is not a readable image, or holds values that are not finite.
    """
    reader = PictureReader(image_size, grayscale, invert, ink)
    images = reader.read(paths)
    reader.warn(stacklevel=3)
    return images


class PictureReader:
    """Reads picture files as :func:`load_images` does, over several calls, and warns once for all of them.

    For pictures read in parts (a folder of thousands of classes, chunk by chunk): :meth:`read` each
    part, then :meth:`warn` says once how many pictures were stretched or drawn the other way, naming
    the first. The arguments are those of :func:`load_images`.
    """

    def __init__(
        self,
        image_size: int,
        grayscale: bool = True,
        invert: bool = False,
        ink: str | None = None,
    ) -> None:
        check_positive(image_size=image_size)
        _check_ink(ink)
        self.image_size, self.grayscale, self.invert, self.ink = (
            image_size,
            grayscale,
            invert,
            ink,
        )
        self.count = 0
        self.stretched: list[Path] = []  # pictures that were not square
        self.other_way: list[
            Path
        ] = []  # pictures whose paper is not what ``ink`` says

    def read(self, paths: Sequence[str | Path]) -> Tensor:
        """The pictures as one ``(N, C, S, S)`` float32 tensor in [0, 1], ink = 1 as ``ink`` or ``invert`` say."""
        if len(paths) == 0:
            raise ValueError("no image files given")
        arrays = []
        paths = [Path(path) for path in paths]
        for path in paths:
            if not path.is_file():
                raise ValueError(
                    f"{path} is not a file; give the path of a picture."
                )
            array, square = _read_image(
                path, self.image_size, self.grayscale, self.ink
            )
            arrays.append(array)
            if not square:
                self.stretched.append(path)
        self.count += len(paths)
        images = torch.from_numpy(np.stack(arrays))
        if self.ink is None:
            return 1.0 - images if self.invert else images
        light = paper_is_light(images)
        if self.ink == "auto":
            return torch.where(
                light[:, None, None, None], 1.0 - images, images
            )
        expected = self.ink == "dark"
        self.other_way += [
            paths[i] for i in (light != expected).nonzero().flatten().tolist()
        ]
        return 1.0 - images if expected else images

    def warn(self, stacklevel: int = 2) -> None:
        """One ``UserWarning`` for the pictures read so far that were stretched, one for those drawn the other way."""
        size = self.image_size
        if self.stretched:
            warnings.warn(
                f"{len(self.stretched)} picture(s) are not square, e.g. {self.stretched[0]}: they are "
                f"stretched to {size} x {size}; crop them to squares first if their shape matters",
                stacklevel=stacklevel,
            )
        if self.other_way:
            expected = self.ink == "dark"
            other = "light" if expected else "dark"
            warnings.warn(
                f"{len(self.other_way)} of {self.count} picture(s), e.g. {self.other_way[0]}, look drawn "
                f"with {other} ink on {'dark' if expected else 'light'} paper, not {self.ink} ink as told: "
                f"the encoder expects ink = 1 on paper = 0; read them with ink={other!r} or ink='auto' (on "
                f"the command line: --ink {other} or --ink auto)",
                stacklevel=stacklevel,
            )
        self.stretched, self.other_way, self.count = [], [], 0


def __getattr__(name: str):
    # what moved to siamese_tutorial.folders is importable from here, as before
    from . import folders

    if name in folders.__all__:
        return getattr(folders, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
