"""What the book's chapters show besides figures: the package's own code, tables, progress bars.

The chapters show the package's code rather than a second copy, so the text and the tested code
cannot drift apart; the docstring is left out, since the chapter renders its formula above the code.
"""

from __future__ import annotations

import ast
import inspect
import os
import textwrap
from typing import Any

from tqdm.auto import tqdm

__all__ = ["source_without_docstring", "show_code", "show_table", "glue", "progress_bar"]


def progress_bar(total: int, desc: str, unit: str, shown: bool = True, initial: int = 0) -> tqdm:
    """A tqdm progress bar: a widget in a notebook, a line on stderr elsewhere.

    ``TQDM_DISABLE=1`` in the environment hides it, in a notebook too (tqdm's own notebook bar ignores
    that variable): the book's build and its tests set it, a reader at a notebook sees the bar.
    """
    hidden = not shown or os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes")
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=hidden)


def source_without_docstring(obj: Any) -> str:
    """The source of a function, class or method, without its docstring (decorators and comments kept)."""
    source = textwrap.dedent(inspect.getsource(obj))
    tree = ast.parse(source)
    lines = source.splitlines()
    drop = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                drop.update(range(first.lineno - 1, first.end_lineno))
    return "\n".join(line for i, line in enumerate(lines) if i not in drop).strip("\n") + "\n"


def show_code(obj: Any):
    """A Markdown code block of ``obj``'s source without its docstring, for a notebook cell's output."""
    from IPython.display import Markdown  # only notebooks need IPython

    return Markdown(f"```python\n{source_without_docstring(obj)}```")


def show_table(frame, float_format: str = "{:.1f}"):
    """A pandas DataFrame as an HTML table without the index column, numbers formatted alike, a dash
    where a value is missing."""
    from IPython.display import HTML

    def number(value: Any) -> str:
        return value if isinstance(value, str) else float_format.format(value)  # the dash stays

    formatters = {column: number for column in frame.select_dtypes("float").columns}
    frame = frame.astype(object).where(frame.notna(), "–")  # pandas would write NaN and <NA>
    return HTML(frame.to_html(index=False, formatters=formatters, border=0, classes="dataframe"))


def glue(name: str, value: Any) -> None:
    """Hand ``value`` to the chapter's text as ``{glue:text}`name``` (myst-nb's glue), showing nothing here.

    The prose of the book never types a result: it pastes the value its cell computed, so that a
    re-run cannot silently contradict the text. In the HTML book myst-nb inserts the value (with
    the role's format, e.g. ``{glue:text}`auc:.3f```); where myst-nb is not installed (Colab, or a
    plain JupyterLab) nothing is glued and the cell's printed output carries the number. Returns
    nothing, so that a hidden cell ending in a glue prints nothing in JupyterLab either.
    """
    if getattr(value, "ndim", None) == 0:  # a numpy or torch scalar: its plain value, which formats alike
        value = value.item()
    try:
        from myst_nb import glue as myst_nb_glue
    except ImportError:  # a reader's kernel without the book's tools: the printed output suffices
        return
    myst_nb_glue(name, value, display=False)
