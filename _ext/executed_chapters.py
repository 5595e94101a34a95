"""The book shows each chapter as nbval executed it: outputs and ``{eval}`` values from its record.

Execution is off in ``_config.yml``: every chapter was run once, by nbval, and recorded in
``_build/executed/`` (``chapters.py``). When Sphinx reads a chapter, this hands myst-nb the chapter
as it is now with the recorded outputs, and each ``{eval}`expression``` role replaced by the value
the reader sees (its ``text/plain``, as JupyterLab shows it), escaped as literal Markdown. A chapter
whose record is missing or stale is a warning (an error under ``-W``): run ``make book``.

After the build, each chapter's ``.ipynb`` download is its record with the current prose and the
``{eval}`` roles kept, their values in the cells' ``user_expressions``: JupyterLab shows them as
soon as the notebook opens.
"""

from __future__ import annotations

from pathlib import Path

import chapters
import nbformat
from sphinx.util import logging

logger = logging.getLogger(__name__)


def _chapter(app, docname: str) -> Path | None:
    path = Path(app.env.doc2path(docname))
    return path if path.suffix == ".ipynb" else None


def show_executed(app, docname: str, source: list[str]) -> None:
    chapter = _chapter(app, docname)
    if chapter is None:
        return
    app.env.note_dependency(
        str(chapters.executed_path(chapter))
    )  # a new execution re-reads the page
    try:
        notebook = chapters.current_record(chapter)
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                cell.source = chapters.evaluated_markdown(
                    cell, chapters.markdown_escape
                )
    except ValueError as error:
        logger.warning(str(error), location=docname)
        return
    source[0] = nbformat.writes(notebook)


def write_downloads(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    for docname in sorted(app.env.found_docs):
        chapter = _chapter(app, docname)
        if chapter is None:
            continue
        try:
            notebook = chapters.current_record(chapter)
        except ValueError as error:
            logger.warning(
                f"{error}; its download has no outputs", location=docname
            )
            continue
        target = Path(app.outdir, "_sources", docname + ".ipynb")
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, str(target))


def setup(app):
    app.connect("source-read", show_executed)
    app.connect("build-finished", write_downloads)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
