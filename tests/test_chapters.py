"""The chapters read the same wherever they are opened: how their text gets its numbers, and what
their hidden cells may do.

The text quotes a result with ``{eval}`name``` (JupyterLab evaluates it after Run All, the HTML
book and the Colab editions fill it in from nbval's record of the chapter, ``_ext/chapters.py``).
JupyterLab evaluates such roles late, after the cells that follow them have run: so a name the text
quotes is bound once in its chapter, and hidden cells (``remove-cell``: they compute what the text
quotes and assert what it claims) never bind a name that a shown cell uses, so that the shown cells
run alone, as a reader who copies them runs them (``test_shown_cells.py`` runs them).
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))
sys.path.insert(0, str(ROOT / "_ext"))
chapters = importlib.import_module("chapters")


def cells(chapter: Path) -> list:
    return nbformat.read(chapter, as_version=4).cells


def hidden(cell) -> bool:
    return chapters.HIDDEN in cell.metadata.get("tags", [])


def python(cell) -> ast.Module:
    """A code cell's Python, as IPython reads it (a cell magic such as %%bash holds none)."""
    from IPython.core.inputtransformer2 import TransformerManager

    if cell.source.startswith("%%"):
        return ast.Module(body=[], type_ignores=[])
    return ast.parse(TransformerManager().transform_cell(cell.source))


class _Bindings(ast.NodeVisitor):
    """The names a cell binds in the notebook's namespace: not those local to a function or comprehension."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Store):
            self.names.add(node.id)

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        self.names |= {
            alias.asname or alias.name.split(".")[0] for alias in node.names
        }

    visit_ImportFrom = visit_Import

    def visit_FunctionDef(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    ) -> None:
        self.names.add(node.name)  # its body's names are its own

    visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef

    def visit_local_scope(self, node: ast.AST) -> None:
        pass

    visit_Lambda = visit_ListComp = visit_SetComp = visit_DictComp = (
        visit_GeneratorExp
    ) = visit_local_scope


def bound(tree: ast.AST) -> set[str]:
    """The names a cell binds at its top level (assignments, imports, definitions, loop variables)."""
    bindings = _Bindings()
    bindings.visit(tree)
    return bindings.names


def used(tree: ast.AST) -> set[str]:
    return {
        n.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }


def root_name(expression: str) -> str:
    return re.match(r"\s*([A-Za-z_]\w*)", expression).group(1)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_the_text_quotes_values_with_eval_only(chapter):
    markdown = "\n".join(
        c.source for c in cells(chapter) if c.cell_type == "markdown"
    )
    assert "{glue" not in markdown, (
        "myst-nb's glue shows its keys in JupyterLab and Colab: use {eval}"
    )
    roles = set(re.findall(r"\{([\w:-]+)\}`", markdown))
    assert roles <= {"eval"}, (
        f"roles that JupyterLab or Colab show raw: {roles - {'eval'}}"
    )
    display = re.findall(r"\$\$.*?\$\$", markdown, re.S)
    inline = re.findall(
        r"(?<![\\$])\$[^$\n]+\$",
        re.sub(r"\$\$.*?\$\$", "", markdown, flags=re.S),
    )
    for math in display + inline:
        assert "{eval}" not in math, (
            f"a value inside math cannot be escaped as Markdown: {math}"
        )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_a_quoted_name_is_bound_once(chapter):
    """JupyterLab may evaluate a role after later cells ran: a name rebound later would show its last value."""
    notebook = cells(chapter)
    bindings = [bound(python(c)) for c in notebook if c.cell_type == "code"]
    quoted = {
        root_name(e)
        for c in notebook
        if c.cell_type == "markdown"
        for e in chapters.inline_expressions(c.source)
    }
    for name in sorted(quoted):
        cells_binding = sum(name in names for names in bindings)
        assert cells_binding == 1, (
            f"{name!r}, quoted by the text, is bound in {cells_binding} cells"
        )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_value_formatted_for_the_text_is_quoted(chapter):
    """A hidden cell's ``name = shown(...)`` that the text never quotes is dead code."""
    notebook = cells(chapter)
    quoted = {
        root_name(e)
        for c in notebook
        if c.cell_type == "markdown"
        for e in chapters.inline_expressions(c.source)
    }
    formatted = {
        target.id
        for c in notebook
        if c.cell_type == "code" and hidden(c)
        for node in ast.walk(python(c))
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and getattr(node.value.func, "id", None) == "shown"
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert not formatted - quoted, (
        f"formatted for the text but never quoted: {sorted(formatted - quoted)}"
    )
    rebinding = [
        i
        for i, c in enumerate(notebook)
        if c.cell_type == "code"
        and "shown" in bound(python(c))
        and not re.search(
            r"^from siamese_tutorial\.display import .*\bshown\b",
            c.source,
            re.M,
        )
    ]
    assert not rebinding, (
        f"cells {rebinding} rebind the name shown: the cells after them cannot format"
    )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_shown_cells_use_nothing_a_hidden_cell_binds(chapter):
    """A shown cell reads only names that shown cells bind (itself included): copied alone, it runs."""
    from_hidden, from_shown, problems = set(), set(), []
    for index, cell in enumerate(cells(chapter)):
        if cell.cell_type != "code":
            continue
        tree = python(cell)
        if hidden(cell):
            from_hidden |= bound(tree)
            continue
        from_shown |= bound(tree)
        for name in sorted(used(tree) & (from_hidden - from_shown)):
            problems.append(
                f"cell {index} reads {name!r}, which only a hidden cell binds"
            )
    assert not problems, problems


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_hidden_code_is_collapsed_in_jupyterlab(chapter):
    """JupyterLab ignores the book's remove-cell and remove-input tags: the cells' metadata folds them."""
    for index, cell in enumerate(cells(chapter)):
        tags = set(cell.metadata.get("tags", []))
        if tags & {"remove-cell", "remove-input"}:
            assert (
                cell.metadata.get("jupyter", {}).get("source_hidden") is True
            ), f"cell {index} is shown in full"


def test_the_checks_find_what_they_look_for():
    """The helpers above on cells that break each rule."""
    tree = ast.parse(
        "a = 1\nfor b in []: pass\ndef f(c):\n    d = c\nx = [e for e in range(3)]\nimport numpy as np"
    )
    assert bound(tree) == {"a", "b", "f", "x", "np"}
    assert used(ast.parse("y = a + f(b)")) == {"a", "f", "b"}
    assert root_name(' shipped["triplet"]') == "shipped"


# ------------------------------------------------------------------------------------------ the record


def notebook_with(markdown: str, code: str = "x = 1") -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(code),
            nbformat.v4.new_markdown_cell(markdown),
        ]
    )


def test_the_code_digest_ignores_prose_but_not_code_or_quoted_values():
    base = chapters.code_digest(notebook_with("The value is {eval}`x`."))
    assert (
        chapters.code_digest(
            notebook_with("Now it reads {eval}`x`, in other words.")
        )
        == base
    )
    assert (
        chapters.code_digest(notebook_with("The value is {eval}`y`.")) != base
    )
    assert (
        chapters.code_digest(
            notebook_with("The value is {eval}`x`.", code="x = 2")
        )
        != base
    )
    checked = notebook_with("{eval}`x`")
    checked.cells[0].metadata["tags"] = ["nbval-check-output"]
    checked.cells[0].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="1\n")
    ]
    unchecked = notebook_with("{eval}`x`")
    unchecked.cells[0].outputs = list(checked.cells[0].outputs)
    assert chapters.code_digest(checked) != chapters.code_digest(
        notebook_with("{eval}`x`")
    )
    assert chapters.code_digest(unchecked) == chapters.code_digest(
        notebook_with("{eval}`x`")
    )


def test_a_recorded_value_replaces_its_role_escaped_and_unquoted():
    cell = nbformat.v4.new_markdown_cell(
        "AUC {eval}`auc`, named {eval}`who`, {eval}`n` of 30."
    )
    ok = lambda text: {
        "status": "ok",
        "data": {"text/plain": text},
        "metadata": {},
    }  # noqa: E731
    cell.metadata["user_expressions"] = [
        {"expression": "auc", "result": ok("0.912")},
        {"expression": "who", "result": ok("'#3 and *4*'")},
        {"expression": "n", "result": ok("27")},
    ]
    text = chapters.evaluated_markdown(cell, chapters.markdown_escape)
    assert text == r"AUC 0\.912, named \#3 and \*4\*, 27 of 30."
    cell.metadata["user_expressions"][2]["result"] = {
        "status": "error",
        "ename": "NameError",
        "evalue": "n",
    }
    with pytest.raises(ValueError, match="NameError"):
        chapters.evaluated_markdown(cell, chapters.markdown_escape)
    cell.metadata["user_expressions"] = cell.metadata["user_expressions"][:1]
    with pytest.raises(ValueError, match="`who` has no recorded value"):
        chapters.evaluated_markdown(cell, chapters.markdown_escape)


def test_a_record_serves_the_current_prose_until_the_code_changes(
    tmp_path, monkeypatch
):
    book, executed = tmp_path / "book", tmp_path / "_build" / "executed"
    book.mkdir()
    monkeypatch.setattr(chapters, "ROOT", tmp_path)
    monkeypatch.setattr(chapters, "EXECUTED", executed)
    monkeypatch.setattr(chapters, "package_digest", lambda: "p")
    chapter = book / "a.ipynb"
    nbformat.write(notebook_with("Old words: {eval}`x`."), chapter)
    assert chapters.staleness(chapter) == "never executed"
    value = [
        {
            "expression": "x",
            "result": {
                "status": "ok",
                "data": {"text/plain": "1"},
                "metadata": {},
            },
        }
    ]
    output = nbformat.v4.new_output("stream", name="stdout", text="hi\n")
    chapters.record(
        nbformat.read(chapter, as_version=4),
        {0: [output]},
        {1: value},
        chapters.executed_path(chapter),
    )
    assert chapters.staleness(chapter) is None
    nbformat.write(notebook_with("New words: {eval}`x`."), chapter)
    current = chapters.current_record(chapter)
    assert (
        current.cells[1].source == "New words: {eval}`x`."
        and current.cells[0].outputs[0]["text"] == "hi\n"
    )
    assert current.cells[1].metadata["user_expressions"] == value
    nbformat.write(
        notebook_with("New words: {eval}`x`.", code="x = 2"), chapter
    )
    assert (
        chapters.staleness(chapter) == "its code changed since it was executed"
    )
    with pytest.raises(ValueError, match="run `make book`"):
        chapters.current_record(chapter)
    monkeypatch.setattr(chapters, "package_digest", lambda: "q")
    nbformat.write(notebook_with("New words: {eval}`x`."), chapter)
    assert (
        chapters.staleness(chapter)
        == "the package changed since it was executed"
    )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_shown_code_fits_79_characters(chapter):
    """A shown cell reads on a phone and in the book's column: no line over 79 characters."""
    long = [
        f"cell {index}: {line!r}"
        for index, cell in enumerate(cells(chapter))
        if cell.cell_type == "code" and not hidden(cell)
        for line in cell.source.splitlines()
        if len(line) > 79
    ]
    assert not long, long
