"""New classes from old (rotations, reflections), and random affine distortions of images."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from .checks import (
    check_number,
)
from .labelled import LabelledImages

__all__ = ["with_rotations", "with_reflections", "affine", "random_affine"]


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
