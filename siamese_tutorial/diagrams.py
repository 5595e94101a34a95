"""Moved to :mod:`siamese_tutorial.book.diagrams` (the book's machinery); importable from here as before."""

import sys

from .book import diagrams

sys.modules[__name__] = diagrams  # one module under both names
