"""The executed chapters: one execution of each chapter serves the tests, the HTML book and Colab.

nbval runs every chapter (``make test``, or ``make book`` for the chapters that changed), checks it,
and the project's ``conftest.py`` records what it ran into ``_build/executed/book/<chapter>.ipynb``:
every code cell's outputs and, for every Markdown cell, the values of its ``{eval}`expression```
roles as JupyterLab evaluates them after Run All (the cell's ``user_expressions`` metadata, which
jupyterlab-myst writes and reads). The book is then built from that record with execution off
(``executed_chapters.py``), and each chapter's Colab edition is made from it (``colab.py``).

A record holds two digests: of the chapter's code (its code cells, their checked outputs, and the
expressions of each Markdown cell, but not its prose), and of what the chapters read from the
package (its code, shipped encoders and results, and the pinned versions). A record is current when
both still match, so that an edit to the prose alone rebuilds the book without running anything.

``python _ext/chapters.py execute`` runs nbval on the chapters whose record is missing or stale.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
EXECUTED = ROOT / "_build" / "executed"
RECORD_KEY = "siamese_tutorial_execution"
"""The notebook metadata key of a record's digests."""

FIGURES_KEY = "siamese_tutorial_figures"
"""The code cell metadata key, in a record, of its figures' measures: each figure's width in pixels
and its smallest text, in pixels, as a 390-px column on a phone shows it."""

# What the chapters read besides themselves: the package, its shipped weights and results, and the
# versions everything runs at.
PACKAGE_INPUTS = (
    "siamese_tutorial/**/*.py",
    "siamese_tutorial/weights/*",
    "siamese_tutorial/book/results/*.json",
    "constraints.txt",
)

EVAL = re.compile(r"\{eval\}`([^`]+)`")
"""MyST's inline expression role, ``{eval}`expression```."""

HIDDEN = "remove-cell"
"""The tag of a hidden cell: it computes what the text quotes and asserts what the text claims."""


COLUMN_PX = 390
"""The book's text column on a phone (a 420-px screen): every figure's text must read there."""


def figure_text(figure, column: int = COLUMN_PX) -> dict:
    """A matplotlib figure as a phone shows it: its width and its smallest text, in CSS pixels.

    The inline backend saves a figure with ``bbox_inches="tight"`` at the figure's dpi, and the book
    shows the picture at that width, scaled down to the column when it is wider. A text of ``p``
    points is then ``p / 72 * dpi * min(1, column / width)`` pixels high. Returns ``{"width_px",
    "smallest_text_px", "text"}`` (the last two None and "" for a figure without text). This
    function also runs in each chapter's kernel (``conftest.py`` sends its source), so it imports
    what it needs itself.
    """
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    figure.draw_without_rendering()  # the layout (constrained, tight) as saving will draw it
    box = figure.get_tightbbox(figure.canvas.get_renderer())
    width = (box.width + 2 * plt.rcParams["savefig.pad_inches"]) * figure.dpi
    scale = min(1.0, column / width)
    sizes = sorted(
        (text.get_fontsize() / 72 * figure.dpi * scale, text.get_text())
        for text in figure.findobj(Text)
        if text.get_visible() and text.get_text().strip()
    )
    smallest, text = sizes[0] if sizes else (None, "")
    return {
        "width_px": round(float(width)),
        "smallest_text_px": smallest and round(float(smallest), 2),
        "text": text[:40],
    }


def inline_expressions(markdown: str) -> list[str]:
    """The expressions of a Markdown cell's ``{eval}`` roles, each once, in order of first use."""
    return list(dict.fromkeys(EVAL.findall(markdown)))


def executed_path(chapter: Path) -> Path:
    """Where the record of ``book/<chapter>.ipynb`` lives."""
    return EXECUTED / Path(chapter).resolve().relative_to(ROOT)


def code_digest(notebook: nbformat.NotebookNode) -> str:
    """A digest of what an execution of ``notebook`` depends on, and of what it is checked against.

    Code cells count with their source, tags and (for nbval-checked cells) stored outputs; Markdown
    cells count only by their place and the expressions they evaluate, so that prose may change freely.
    """
    parts = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            tags = sorted(cell.metadata.get("tags", []))
            checked = cell.outputs if "nbval-check-output" in tags else []
            parts.append(["code", cell.source, tags, checked])
        elif cell.cell_type == "markdown":
            parts.append(["markdown", inline_expressions(cell.source)])
        else:
            parts.append([cell.cell_type])
    return hashlib.sha256(
        json.dumps(parts, sort_keys=True).encode()
    ).hexdigest()


def package_digest() -> str:
    """A digest of the contents of every file of :data:`PACKAGE_INPUTS`."""
    digest = hashlib.sha256()
    for pattern in PACKAGE_INPUTS:
        for path in sorted(ROOT.glob(pattern)):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(
                    str(path.relative_to(ROOT)).encode()
                    + b"\0"
                    + path.read_bytes()
                    + b"\0"
                )
    return digest.hexdigest()


def staleness(chapter: Path) -> str | None:
    """Why the record of ``chapter`` cannot serve its current source (None when it can)."""
    record = executed_path(chapter)
    if not record.is_file():
        return "never executed"
    try:
        digests = nbformat.read(record, as_version=4).metadata.get(
            RECORD_KEY, {}
        )
    except Exception:  # an unreadable record is replaced, whatever broke it
        return "its record is unreadable"
    if digests.get("code") != code_digest(
        nbformat.read(chapter, as_version=4)
    ):
        return "its code changed since it was executed"
    if digests.get("package") != package_digest():
        return "the package changed since it was executed"
    return None


def record(
    source: nbformat.NotebookNode,
    outputs: dict[int, list],
    expressions: dict[int, list],
    target: Path,
    figures: dict[int, list] | None = None,
) -> None:
    """Write the record of an execution of ``source``: its outputs and evaluated expressions, by cell index.

    ``outputs[i]`` is code cell ``i``'s list of nbformat outputs; ``expressions[i]`` Markdown cell
    ``i``'s ``user_expressions`` (``[{"expression": ..., "result": {"status": "ok", "data": ...}}]``),
    as jupyterlab-myst stores them; ``figures[i]`` what code cell ``i``'s figures measure (their
    smallest text on a phone, :data:`FIGURES_KEY`). Written to a temporary file and renamed: never
    half a record.
    """
    executed = nbformat.from_dict(
        json.loads(json.dumps(source))
    )  # a deep copy
    count = 0
    for index, cell in enumerate(executed.cells):
        if cell.cell_type == "code":
            count += 1
            cell.execution_count = count
            cell.outputs = [
                nbformat.from_dict(output) for output in outputs.get(index, [])
            ]
            for output in cell.outputs:
                if output.output_type == "execute_result":
                    output.execution_count = count
            if (figures or {}).get(index):
                cell.metadata[FIGURES_KEY] = figures[index]
        elif cell.cell_type == "markdown" and expressions.get(index):
            cell.metadata["user_expressions"] = expressions[index]
    executed.metadata[RECORD_KEY] = {
        "code": code_digest(source),
        "package": package_digest(),
    }
    nbformat.validate(executed)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        nbformat.write(executed, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def current_record(chapter: Path) -> nbformat.NotebookNode:
    """The record of ``chapter`` with the chapter's current prose; ValueError when it cannot serve.

    The record's code cells and expressions are those of the source (its digest says so); its
    Markdown cells and every cell's metadata (figure captions) are taken from the source as it is now.
    """
    why = staleness(chapter)
    if why:
        raise ValueError(
            f"{Path(chapter).name}: {why}; run `make book`, which executes it under nbval"
        )
    source = nbformat.read(chapter, as_version=4)
    executed = nbformat.read(executed_path(chapter), as_version=4)
    for cell, done in zip(source.cells, executed.cells):
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = (
                done.outputs,
                done.execution_count,
            )
        elif (
            cell.cell_type == "markdown"
            and "user_expressions" in done.metadata
        ):
            cell.metadata["user_expressions"] = done.metadata[
                "user_expressions"
            ]
    return source


def plain_value(result: dict) -> str:
    """What a reader sees for one evaluated expression: its ``text/plain``, a string without quotes.

    Raises ValueError for an expression that failed or has no plain text, naming its error.
    """
    if result.get("status") != "ok":
        raise ValueError(
            f"{result.get('ename', 'error')}: {result.get('evalue', '')}"
        )
    text = result.get("data", {}).get("text/plain")
    if text is None:
        raise ValueError("the value has no text/plain form")
    if (
        len(text) >= 2 and text[0] == text[-1] and text[0] in "'\""
    ):  # a str's repr, as jupyterlab-myst strips it
        text = text[1:-1]
    return text


def evaluated_markdown(cell: nbformat.NotebookNode, escape) -> str:
    """A Markdown cell's source with each ``{eval}`` role replaced by ``escape(value)``.

    Raises ValueError when an expression has no recorded value, or its evaluation failed.
    """
    values = {
        entry["expression"]: entry["result"]
        for entry in cell.metadata.get("user_expressions", [])
    }

    def value(match: re.Match) -> str:
        expression = match.group(1)
        if expression not in values:
            raise ValueError(f"{{eval}}`{expression}` has no recorded value")
        try:
            return escape(plain_value(values[expression]))
        except ValueError as error:
            raise ValueError(f"{{eval}}`{expression}`: {error}") from None

    return EVAL.sub(value, cell.source)


def markdown_escape(text: str) -> str:
    """``text`` as literal Markdown: every ASCII punctuation character backslash-escaped (CommonMark)."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", text)


def chapters() -> list[Path]:
    """The book's chapters (notebooks), in file order."""
    return sorted(BOOK.glob("*.ipynb"))


def execute(selected: list[Path]) -> int:
    """Run nbval on the ``selected`` chapters whose record is stale; its exit status."""
    stale = [chapter for chapter in selected if staleness(chapter)]
    for chapter in selected:
        print(
            f"{chapter.relative_to(ROOT)}: {staleness(chapter) or 'current'}",
            flush=True,
        )
    if not stale:
        return 0
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        *[str(chapter.relative_to(ROOT)) for chapter in stale],
    ]
    return subprocess.run(command, cwd=ROOT).returncode


if __name__ == "__main__":
    if sys.argv[1:2] != ["execute"]:
        sys.exit("usage: python _ext/chapters.py execute [CHAPTER.ipynb ...]")
    chosen = [Path(arg).resolve() for arg in sys.argv[2:]] or chapters()
    sys.exit(execute(chosen))
