"""Progress bars for long work: a widget in a notebook, a line on a terminal, none in a build."""

from __future__ import annotations

import os

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


def progress_bar(
    total: int, desc: str, unit: str, visible: bool = True, initial: int = 0
) -> tqdm:
    """A tqdm progress bar: a widget in a notebook, a line on stderr elsewhere.

    ``TQDM_DISABLE=1`` in the environment hides it, in a notebook too (tqdm's own notebook bar ignores
    that variable): the book's build and its tests set it, a reader at a notebook sees the bar.
    """
    hidden = not visible or os.environ.get("TQDM_DISABLE", "").lower() in (
        "1",
        "true",
        "yes",
    )
    return tqdm(
        total=total, initial=initial, desc=desc, unit=unit, disable=hidden
    )
