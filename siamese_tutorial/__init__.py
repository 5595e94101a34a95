"""Siamese networks, from idea to one-shot Omniglot: the companion package of the tutorial."""

__version__ = "0.1.0"
