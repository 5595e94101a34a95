"""Moved to :mod:`siamese_tutorial.book.plotting` (the book's machinery); importable from here as before."""

import sys

from .book import plotting

sys.modules[__name__] = plotting  # one module under both names
