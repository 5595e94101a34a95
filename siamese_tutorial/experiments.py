"""Moved to :mod:`siamese_tutorial.book.experiments` (the book's machinery); importable from here as before."""

import sys

from .book import experiments

sys.modules[__name__] = experiments  # one module under both names
