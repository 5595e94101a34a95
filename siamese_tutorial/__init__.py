"""Siamese networks, from idea to one-shot Omniglot: the companion package of the tutorial.

Modules, in the order of the book: :mod:`~siamese_tutorial.data`, :mod:`~siamese_tutorial.models`,
:mod:`~siamese_tutorial.losses`, :mod:`~siamese_tutorial.mining`, :mod:`~siamese_tutorial.training`,
:mod:`~siamese_tutorial.evaluation`, :mod:`~siamese_tutorial.plotting`, and the shipped encoders in
:mod:`~siamese_tutorial.pretrained`.
"""

from .pretrained import available_pretrained, load_pretrained

__all__ = ["available_pretrained", "load_pretrained"]
__version__ = "0.1.0"
