"""What the book's chapters show besides figures: the package's own code, tables, progress bars.

The chapters show the package's code rather than a second copy, so the text and the tested code
cannot drift apart; the docstring is left out, since the chapter renders its formula above the code.
"""

from __future__ import annotations

import ast
import inspect
import operator
import textwrap
from decimal import Decimal, InvalidOperation
from typing import Any

from ..progress import progress_bar

__all__ = [
    "source_without_docstring",
    "show_code",
    "show_table",
    "Shown",
    "shown",
    "progress_bar",
]


def source_without_docstring(obj: Any) -> str:
    """The source of a function, class or method, without its docstring (decorators and comments kept)."""
    source = textwrap.dedent(inspect.getsource(obj))
    tree = ast.parse(source)
    lines = source.splitlines()
    drop = set()
    for node in ast.walk(tree):
        if (
            isinstance(
                node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            )
            and node.body
        ):
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                drop.update(range(first.lineno - 1, first.end_lineno))
    return (
        "\n".join(line for i, line in enumerate(lines) if i not in drop).strip(
            "\n"
        )
        + "\n"
    )


def show_code(obj: Any):
    """A Markdown code block of ``obj``'s source without its docstring, for a notebook cell's output."""
    from IPython.display import Markdown  # only notebooks need IPython

    return Markdown(f"```python\n{source_without_docstring(obj)}```")


def show_table(frame, spec: str = ".1f"):
    """A pandas DataFrame as an HTML table without the index column, a dash where a value is missing.

    Its numbers are printed by :func:`shown` with ``spec``, as the text quotes them and the hidden
    cells check them: a table and a sentence cannot round one value two ways. A cell that already
    holds a :class:`Shown` value prints as it is.
    """
    from IPython.display import HTML

    def number(value: Any) -> str:
        if isinstance(
            value, (str, Shown)
        ):  # the dash stays; a Shown value as the text quotes it
            return str(value)
        return shown(value, spec).text

    formatters = {
        column: number for column in frame.select_dtypes("float").columns
    }
    frame = frame.astype(object).where(
        frame.notna(), "–"
    )  # pandas would write NaN and <NA>
    return HTML(
        frame.to_html(
            index=False, formatters=formatters, border=0, classes="dataframe"
        )
    )


class Shown:
    """A value as the reader reads it: formatted once, then printed, tabled and compared as printed.

    The chapters' text quotes a result with MyST's ``{eval}`name``` role, which JupyterLab
    (jupyterlab-myst) evaluates in the kernel after Run All and the HTML book fills in from the
    executed chapter: either way the reader sees ``repr(name)``, which is ``text`` here, with no
    quotes. A table formats its numbers with the same :func:`shown`, and a hidden cell asserts the
    text's claims on ``number``, the value *as printed*: ``Shown(64.05, ".1f")`` prints ``64.0`` or
    ``64.1`` as Python rounds the float, and its comparisons and differences use whichever it printed,
    so that a claim cannot hold for the unrounded values and fail for the printed ones.

    Parameters
    ----------
    value : Any
        The value (a 0-d numpy or torch scalar is read as its Python number).
    spec : str
        A format spec, as in ``format(value, spec)``: ``".3f"``, ``".1%"``, ``","``, ``""``.

    Attributes
    ----------
    value : Any
        The value given.
    text : str
        ``format(value, spec)``: what the reader sees.
    number : decimal.Decimal or None
        The printed text read back as a number (``"97.3%"`` is 0.973, ``"1,234"`` is 1234), exact in
        decimal; ``None`` when the text is not a number (a name, a list of names).
    """

    __slots__ = ("value", "text", "number")

    def __init__(self, value: Any, spec: str = "") -> None:
        if (
            getattr(value, "ndim", None) == 0
        ):  # a numpy or torch scalar formats as its plain value
            value = value.item()
        self.value = value
        self.text = format(value, spec)
        self.number = _printed_number(self.text)

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return format(self.text, spec)

    def number_or_fail(self) -> Decimal:
        """``number``, or a TypeError that names the text when it is not a number."""
        if self.number is None:
            raise TypeError(
                f"{self.text!r} is not a number: it cannot be compared or subtracted"
            )
        return self.number

    def _with(self, other: Any, operation) -> Any:
        mine = self.number_or_fail()
        if isinstance(other, Shown):
            return operation(mine, other.number_or_fail())
        if isinstance(other, (int, float, Decimal)) and not isinstance(
            other, bool
        ):
            return operation(mine, Decimal(str(other)))
        return NotImplemented

    def __eq__(self, other: Any) -> bool:
        if self.number is None or (
            isinstance(other, Shown) and other.number is None
        ):
            return self.text == str(other)  # words compare as words
        return self._with(other, operator.eq)

    def __lt__(self, other: Any) -> bool:
        return self._with(other, operator.lt)

    def __le__(self, other: Any) -> bool:
        return self._with(other, operator.le)

    def __gt__(self, other: Any) -> bool:
        return self._with(other, operator.gt)

    def __ge__(self, other: Any) -> bool:
        return self._with(other, operator.ge)

    __hash__ = None  # equal to numbers of other types: not a dictionary key

    def __sub__(self, other: Any) -> Decimal:
        return self._with(other, operator.sub)

    def __rsub__(self, other: Any) -> Decimal:
        return self._with(other, lambda mine, theirs: theirs - mine)

    def __add__(self, other: Any) -> Decimal:
        return self._with(other, operator.add)

    __radd__ = __add__

    def __float__(self) -> float:
        return float(self.number_or_fail())


def shown(value: Any, spec: str = "") -> Shown:
    """``value`` formatted once with ``spec``, for the text, a table and an assertion alike (:class:`Shown`)."""
    return Shown(value, spec)


def _printed_number(text: str) -> Decimal | None:
    """The number a reader reads in ``text`` ("97.3%" is 0.973, "1,234" is 1234), else None."""
    digits = text.strip().replace(",", "").replace("\u2212", "-")
    percent = digits.endswith("%")
    try:
        number = Decimal(digits[:-1] if percent else digits)
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return number / 100 if percent else number
