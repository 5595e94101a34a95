"""A reader who copies a chapter's shown cells, in order, into a fresh notebook gets a chapter that runs.

The hidden cells (``remove-cell``) compute what the text quotes and assert what it claims; nothing a
shown cell does may depend on them (``test_chapters.py`` checks the names statically). Here each
chapter's shown cells run alone, in a fresh kernel, in ``book/`` as the chapter runs, to the end:
about as long as the chapters themselves (minutes).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = sorted(BOOK.glob("*.ipynb"))


def shown_cells(chapter: Path) -> nbformat.NotebookNode:
    """The chapter's code cells that a reader sees, nothing else."""
    notebook = nbformat.read(chapter, as_version=4)
    notebook.cells = [
        cell
        for cell in notebook.cells
        if cell.cell_type == "code"
        and "remove-cell" not in cell.metadata.get("tags", [])
    ]
    for cell in notebook.cells:
        cell.outputs, cell.execution_count = [], None
    return notebook


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_the_shown_cells_run_alone(chapter, monkeypatch):
    # A reader's shell cells (%%bash) find this Python's command line, as the chapter's hidden set-up
    # cell arranges it in a notebook; progress bars are for people.
    monkeypatch.setenv(
        "PATH",
        f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    monkeypatch.setenv("TQDM_DISABLE", "1")
    notebook = shown_cells(chapter)
    assert notebook.cells, f"{chapter.name} shows no code"
    client = NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(BOOK)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, where one fails
