"""Labelled images, and the batches, pairs, triplets and episodes the chapters train with.

One address for all of them; each lives in its own module: :mod:`~siamese_tutorial.labelled` (the
data set), :mod:`~siamese_tutorial.pictures` (picture files), :mod:`~siamese_tutorial.sampling`
(P x K batches, pairs, triplets), :mod:`~siamese_tutorial.episodes` and
:mod:`~siamese_tutorial.augmentation`.

:class:`LabelledImages` holds any labelled set of square images as tensors: Omniglot
(:mod:`siamese_tutorial.omniglot`) is one instance, a folder of your own pictures
(:func:`load_image_folder`) another. Classes may belong to *groups* (Omniglot's alphabets): batches
drawn from one group hold the look-alike negatives of a within-group task.

Images are float32 tensors ``(N, C, S, S)`` with values in ``[0, 1]``; for Omniglot **ink = 1 and
paper = 0**, so that zero padding (shifts, rotations) adds paper. Picture files are read by
:func:`load_images` (of :mod:`siamese_tutorial.pictures`, importable from here too).
"""

from .augmentation import (
    affine,
    random_affine,
    with_reflections,
    with_rotations,
)
from .episodes import EPISODE_STYLES, Episode, n_way_k_shot_episodes
from .folders import class_folders, picture_files
from .labelled import LabelledImages, load_image_folder, split_classes
from .pictures import (
    IMAGE_SUFFIXES,
    INK_POLARITIES,
    MAX_PIXELS,
    PictureReader,
    load_images,
    paper_is_light,
)
from .sampling import (
    PKBatches,
    PKSampler,
    balanced_pairs,
    random_pairs,
    random_triplets,
)

__all__ = [
    "LabelledImages",
    "IMAGE_SUFFIXES",
    "INK_POLARITIES",
    "MAX_PIXELS",
    "load_images",
    "paper_is_light",
    "load_image_folder",
    "PictureReader",
    "class_folders",
    "picture_files",
    "split_classes",
    "PKSampler",
    "PKBatches",
    "random_pairs",
    "balanced_pairs",
    "random_triplets",
    "EPISODE_STYLES",
    "Episode",
    "n_way_k_shot_episodes",
    "with_rotations",
    "with_reflections",
    "affine",
    "random_affine",
]
