"""Siamese networks, from idea to one-shot Omniglot: the companion package of the tutorial.

Modules, in the order of the book: :mod:`~siamese_tutorial.data`, :mod:`~siamese_tutorial.models`,
:mod:`~siamese_tutorial.losses`, :mod:`~siamese_tutorial.mining`, :mod:`~siamese_tutorial.training`,
:mod:`~siamese_tutorial.evaluation`, :mod:`~siamese_tutorial.plotting`, and the shipped encoders in
:mod:`~siamese_tutorial.pretrained`. The API reference of the book lists them all.
"""

from importlib.metadata import PackageNotFoundError, version

from .pretrained import available_pretrained, load_pretrained

__all__ = ["available_pretrained", "load_pretrained"]

try:
    __version__ = version(
        "siamese-tutorial"
    )  # declared once, in pyproject.toml
except (
    PackageNotFoundError
):  # running from a source tree that was never installed
    __version__ = "unknown"
