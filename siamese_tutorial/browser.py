"""Moved to :mod:`siamese_tutorial.book.browser` (the book's machinery); importable from here as before.

``python -m siamese_tutorial.browser`` still builds the drawing page's assets.
"""

import sys

from .book import browser

if __name__ == "__main__":
    sys.exit(browser.main())
sys.modules[__name__] = browser  # one module under both names
