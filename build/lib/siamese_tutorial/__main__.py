"""``python -m siamese_tutorial``: the command line of :mod:`siamese_tutorial.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
