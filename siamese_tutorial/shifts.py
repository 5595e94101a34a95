r"""Test-time shifts, in one home: an image and its four translations, and their mean embedding.

The shipped encoders embed an image as the mean of the embeddings of the image and of four copies
shifted by ``s`` pixels left, right, up and down, scaled back to unit length when the encoder
L2-normalises: :func:`~siamese_tutorial.evaluation.embed` with ``shifts=s``, and
:class:`ShiftAveragedEncoder`, the same as one module (the drawing page's ONNX model).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checks import check_shifts
from .models import encoder_of

__all__ = [
    "shift_images",
    "shift_offsets",
    "average_views",
    "ShiftAveragedEncoder",
]


def shift_images(images: Tensor, dx: int, dy: int) -> Tensor:
    """Translate ``(N, C, S, S)`` images by ``dx`` pixels right and ``dy`` down; the uncovered border is 0."""
    s = images.shape[-1]
    padded = F.pad(images, (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)))
    return padded[
        ..., max(-dy, 0) : max(-dy, 0) + s, max(-dx, 0) : max(-dx, 0) + s
    ]


def shift_offsets(shifts: int) -> list[tuple[int, int]]:
    """``(dx, dy)`` of the views of test-time ``shifts``: the image, then right, left, down, up."""
    s = shifts
    if not s:
        return [(0, 0)]
    return [(0, 0), (s, 0), (-s, 0), (0, s), (0, -s)]


def average_views(views: Tensor, encoder: nn.Module) -> Tensor:
    """The mean of ``(V, N, D)`` embeddings of ``V`` views, unit length if ``encoder`` normalises."""
    mean = views.mean(0)
    normalize = getattr(encoder, "normalize", False)
    return F.normalize(mean, dim=1) if normalize else mean


class ShiftAveragedEncoder(nn.Module):
    """An encoder and its test-time shifts as one module: ``(B, C, S, S)`` images to ``(B, D)`` embeddings.

    The same as ``embed(encoder, images, shifts=shifts)``: the mean embedding of the image and its four
    translations by ``shifts`` pixels, made unit length again when the encoder L2-normalises. All five
    views go through the encoder in one batch (in eval mode batch normalisation does not mix them).
    """

    def __init__(self, encoder: nn.Module, shifts: int) -> None:
        super().__init__()
        self.encoder = encoder_of(encoder)
        size = getattr(self.encoder, "image_size", None)
        if size is None:
            raise ValueError(
                "the encoder has no image_size attribute; only encoders of fixed-size images can be "
                "exported."
            )
        check_shifts(
            shifts, size
        )  # as embed() refuses them: never an ONNX model whose embeddings are not embed()'s
        self.shifts = shifts
        self.offsets = shift_offsets(shifts)  # those of embed, in its order

    def forward(self, images: Tensor) -> Tensor:
        views = torch.cat(
            [shift_images(images, dx, dy) for dx, dy in self.offsets]
        )
        embeddings = self.encoder(views)
        return average_views(
            embeddings.reshape(len(self.offsets), len(images), -1),
            self.encoder,
        )
