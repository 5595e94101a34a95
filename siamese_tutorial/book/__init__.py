"""The book's own machinery: what the chapters show and how, apart from what they teach.

- :mod:`~siamese_tutorial.book.display`: code shown without docstrings, tables, and ``shown``
  (a value the text quotes, formatted once for the text, its tables and its checks);
- :mod:`~siamese_tutorial.book.plotting` and :mod:`~siamese_tutorial.book.diagrams`: the figures;
- :mod:`~siamese_tutorial.book.experiments`: the record of how the shipped encoders were made
  (``results/``, shipped with the package, so that a chapter opened alone reads it);
- :mod:`~siamese_tutorial.book.browser`: the drawing page's assets.

Each is importable by its old path too (``siamese_tutorial.display``, ...).
"""
