"""The book's references, written from book/references.bib the way the chapters write them.

The chapters cite in plain words, "Hadsell et al. (2006)", and end with a list of full entries,
because JupyterLab and Colab show MyST's `{cite}` roles as bare keys ("hadsell2006").
tests/test_book_text.py checks every chapter against these two functions.
"""

from __future__ import annotations

import codecs
import re
from functools import cache
from pathlib import Path

import latexcodec  # noqa: F401  (registers the "ulatex" codec)
from pybtex.database import parse_file

BIB = Path(__file__).resolve().parent.parent / "book" / "references.bib"


@cache
def entries() -> dict:
    return dict(parse_file(str(BIB)).entries)


def plain(latex: str) -> str:
    """BibTeX text as a reader sees it: accents decoded, protective braces gone, quotes curled."""
    text = latex.replace("``", "\u201c").replace("''", "\u201d")
    text = codecs.decode(text, "ulatex")
    return re.sub(r"[{}]", "", text)


def surnames(key: str) -> list[str]:
    return [
        plain(" ".join(p.last_names)) for p in entries()[key].persons["author"]
    ]


def in_text(key: str) -> tuple[str, str]:
    """The author part and the year of an in-text citation: ("Bromley et al.", "1993")."""
    names = surnames(key)
    if len(names) == 1:
        authors = names[0]
    elif len(names) == 2:
        authors = f"{names[0]} & {names[1]}"
    else:
        authors = f"{names[0]} et al."
    return authors, entries()[key].fields["year"]


def full(key: str) -> str:
    """One entry of a chapter's reference list, in Markdown."""
    entry = entries()[key]
    people = []
    for person in entry.persons["author"]:
        initials = " ".join(
            "-".join(f"{part[0]}." for part in plain(name).split("-"))
            for name in person.first_names + person.middle_names
        )
        people.append(f"{plain(' '.join(person.last_names))}, {initials}")
    authors = (
        people[0]
        if len(people) == 1
        else ", ".join(people[:-1]) + " & " + people[-1]
    )
    fields = entry.fields
    venue = plain(fields.get("booktitle") or fields["journal"])
    if "journal" in fields and "volume" in fields:
        venue += f" {fields['volume']}"
        if "number" in fields:
            venue += f"({fields['number']})"
    pages = (
        ", " + fields["pages"].replace("--", "\u2013")
        if "pages" in fields
        else ""
    )
    return f"{authors} ({fields['year']}). {plain(fields['title'])}. *{venue}*{pages}."
