"""Every figure of the book reads on a phone: its smallest text at least 8 px in a 390-px column.

When nbval runs a chapter, ``conftest.py`` measures each figure a cell shows just before the inline
backend saves it: its width as saved (``bbox_inches="tight"``), and each visible text's size in
pixels, ``points / 72 * dpi``, scaled down by ``390 / width`` when the picture is wider than the
phone's column. The chapters' records (``_build/executed/``) hold the measures; this reads them
once the book is built (``make test`` sets ``SIAMESE_BOOK_HTML``).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
chapters = importlib.import_module("chapters")
SMALLEST_PX = 8
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))


def figures(chapter: Path) -> list[tuple[int, dict]]:
    """(cell index, measure) for every figure the chapter's record shows."""
    record = nbformat.read(chapters.executed_path(chapter), as_version=4)
    return [
        (index, measure)
        for index, cell in enumerate(record.cells)
        if cell.cell_type == "code"
        for measure in cell.metadata.get(chapters.FIGURES_KEY, [])
    ]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_figure_reads_on_a_phone(built_book, chapter):
    assert chapters.staleness(chapter) is None, (
        f"{chapter.name}: {chapters.staleness(chapter)}"
    )
    measured = figures(chapter)
    images = sum(
        "image/png" in output.get("data", {})
        for cell in nbformat.read(
            chapters.executed_path(chapter), as_version=4
        ).cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert len(measured) == images, (
        f"{chapter.name}: {images} figures shown, {len(measured)} measured"
    )
    small = [
        f"cell {index}: {m['text']!r} at {m['smallest_text_px']} px (the figure is {m['width_px']} px wide)"
        for index, m in measured
        if m["smallest_text_px"] is not None
        and m["smallest_text_px"] < SMALLEST_PX
    ]
    assert not small, (
        f"{chapter.name}: text under {SMALLEST_PX} px on a phone: {small}"
    )
