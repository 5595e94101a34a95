"""nbval's run of a chapter is the chapter's one execution: record it for the book and for Colab.

Once nbval has run (and checked) a chapter's last code cell, the values of every Markdown cell's
``{eval}`` roles are asked of the same kernel, as JupyterLab asks them after Run All (which in
practice evaluates them late: a name the text quotes is therefore bound once in a chapter, which
``tests/test_chapters.py`` checks); an expression that fails fails that last cell's test. When
every cell of a chapter has passed, the outputs and values are written to
``_build/executed/book/<chapter>.ipynb`` (``_ext/chapters.py``), from which ``make book`` builds
the HTML without running anything again.
"""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))
import chapters  # noqa: E402  (the book's build tools live in _ext/)

EXPRESSION_TIMEOUT = (
    60  # seconds for one Markdown cell's expressions: they only read variables
)
# Kernel side: before matplotlib-inline shows and closes a cell's figures (its post_execute hook,
# registered when pyplot is first imported, runs after this one), measure each as a phone shows it.
FIGURE_PROBE = f"""
_siamese_probe = {{"COLUMN_PX": {chapters.COLUMN_PX}}}
exec({inspect.getsource(chapters.figure_text)!r}, _siamese_probe)


def _siamese_figures(found=[]):
    import sys
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt
        found.extend(_siamese_probe["figure_text"](plt.figure(number)) for number in plt.get_fignums())


def _siamese_figures_drain():
    found = _siamese_figures.__defaults__[0]
    drained = list(found)
    found.clear()
    return drained


get_ipython().events.register("post_execute", _siamese_figures)
"""

_runs: dict[Path, dict] = {}


def _is_chapter_cell(item) -> bool:
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:  # nbval not installed: no chapters are run
        return False
    return isinstance(item, IPyNbCell)


def _execute_quietly(kernel, code: str) -> None:
    """Run ``code`` in the chapter's kernel, outside its history and outputs; raise if it fails."""
    message = kernel.kc.execute(code, silent=True, store_history=False)
    while True:
        reply = kernel.kc.get_shell_msg(timeout=EXPRESSION_TIMEOUT)
        if reply["parent_header"].get("msg_id") == message:
            break
    kernel.await_idle(message, EXPRESSION_TIMEOUT)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(
            f"the figure probe failed in the kernel: {reply['content'].get('evalue')}"
        )


def _evaluate(kernel, expressions: list[str]) -> dict[str, dict]:
    """Ask the kernel for ``expressions`` as user expressions, as jupyterlab-myst does."""
    message = kernel.kc.execute(
        "",
        silent=True,
        store_history=False,
        user_expressions={str(i): e for i, e in enumerate(expressions)},
    )
    while True:
        reply = kernel.kc.get_shell_msg(timeout=EXPRESSION_TIMEOUT)
        if reply["parent_header"].get("msg_id") == message:
            break
    kernel.await_idle(message, EXPRESSION_TIMEOUT)
    results = reply["content"].get("user_expressions", {})
    return {
        expression: results[str(i)] for i, expression in enumerate(expressions)
    }


def _as_displayed(source: str, outputs: list) -> list[dict]:
    """A cell's outputs as a notebook shows them: nbval runs cells without storing them in the
    kernel's history, where IPython looks for the ``;`` that silences a cell's value, so that value is
    dropped here by IPython's own rule."""
    from IPython.core.displayhook import DisplayHook

    quiet = DisplayHook.semicolon_at_end_of_expression(source)
    return [
        dict(output)
        for output in outputs
        if not (quiet and output["output_type"] == "execute_result")
    ]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    if not _is_chapter_cell(item):
        return (yield)
    path = Path(str(item.parent.fspath)).resolve()
    if path not in _runs:  # the chapter's first cell: the kernel is fresh
        _execute_quietly(item.parent.kernel, FIGURE_PROBE)
        # the chapter as it is on disk, before nbval merges the stored outputs it compares with
        _runs[path] = {
            "source": nbformat.read(path, as_version=4),
            "outputs": {},
            "expressions": {},
            "figures": {},
            "failed": False,
        }
    run = _runs[path]
    try:
        result = yield
    except BaseException:
        run["failed"] = True
        raise
    cells = item.parent.nb.cells
    index = next(i for i, cell in enumerate(cells) if cell is item.cell)
    run["outputs"][index] = _as_displayed(
        item.cell.source, item.test_outputs or []
    )
    figures = _evaluate(item.parent.kernel, ["_siamese_figures_drain()"])[
        "_siamese_figures_drain()"
    ]
    if figures.get("status") == "ok" and figures["data"]["text/plain"] != "[]":
        run["figures"][index] = ast.literal_eval(figures["data"]["text/plain"])
    if index != max(
        i for i, cell in enumerate(cells) if cell.cell_type == "code"
    ):
        return result
    failed = []
    for later, cell in enumerate(cells):
        expressions = (
            chapters.inline_expressions(cell.source)
            if cell.cell_type == "markdown"
            else []
        )
        if expressions:
            values = _evaluate(item.parent.kernel, expressions)
            run["expressions"][later] = [
                {"expression": e, "result": v} for e, v in values.items()
            ]
            failed += [
                f"{{eval}}`{e}` failed: {v.get('ename')}: {v.get('evalue')}"
                for e, v in values.items()
                if v.get("status") != "ok"
            ]
    if failed:
        run["failed"] = True
        raise AssertionError("the text's " + "; ".join(failed))
    return result


def pytest_runtest_teardown(item, nextitem):
    """After a chapter's last cell: record the execution when every cell passed."""
    if not _is_chapter_cell(item) or (
        nextitem is not None and nextitem.parent is item.parent
    ):
        return
    path = Path(str(item.parent.fspath)).resolve()
    run = _runs.pop(path, None)
    if not path.is_relative_to(chapters.BOOK):
        return  # a notebook that is not a chapter of the book: nothing to record
    target = chapters.executed_path(path)
    ran = [c.source for c in item.parent.nb.cells if c.cell_type == "code"]
    if (
        run is None
        or run["failed"]
        or len(run["outputs"]) != len(ran)
        or ran
        != [c.source for c in run["source"].cells if c.cell_type == "code"]
    ):
        target.unlink(
            missing_ok=True
        )  # no record of a chapter that did not pass whole, or changed meanwhile
        return
    chapters.record(
        run["source"],
        run["outputs"],
        run["expressions"],
        target,
        run["figures"],
    )
