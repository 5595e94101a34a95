"""Moved to :mod:`siamese_tutorial.book.display` (the book's machinery); importable from here as before."""

import sys

from .book import display

sys.modules[__name__] = display  # one module under both names
