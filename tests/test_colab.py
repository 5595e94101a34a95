"""The chapters' Colab editions (``_ext/colab.py``): plain Markdown and LaTeX that Colab shows as the
book reads, the numbers in, the solutions folded, the captions under the figures.

The conversion is tested here on small cells; the editions of the built book (``make test`` sets
``SIAMESE_BOOK_HTML``) are rendered with markdown-it-py's plain CommonMark, as Colab would render
them, and searched for anything of MyST left.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import nbformat
import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
colab = importlib.import_module("colab")
chapters = importlib.import_module("chapters")
SITE = "https://example.org/book-site/"
REPOSITORY = "https://github.com/siamese-tutorial/siamese-networks-book"
LEFT_OVER = re.compile(
    r"\{[\w:-]+\}`|```\s*\{|^:[\w-]+:|\{eval\}|\{glue", re.M
)


def test_a_folded_solution_becomes_details():
    cell = "Question?\n\n```{admonition} Solution\n:class: dropdown\nThe answer, $x^2$.\n```\n\nAfter."
    assert colab.plain_markdown(cell, SITE, "book/a") == (
        "Question?\n\n<details>\n<summary>Solution</summary>\n\nThe answer, $x^2$.\n\n</details>\n\nAfter."
    )


def test_an_open_admonition_becomes_a_titled_quotation():
    cell = "```{admonition} Why the margin\nBecause.\nAnd so.\n```"
    assert (
        colab.plain_markdown(cell, SITE, "book/a")
        == "> **Why the margin**\n>\n> Because.\n> And so."
    )


def test_links_to_figures_become_words_and_links_to_pages_the_site():
    cell = (
        "As [Figure 2](#fig-raw-learned) shows; see [chapter 2](2_contrastive_loss), the "
        "[bibliography](bibliography) and [a page](https://example.com/x)."
    )
    assert colab.plain_markdown(cell, SITE, "book/1_siamese_idea") == (
        "As Figure 2 shows; see [chapter 2](https://example.org/book-site/book/2_contrastive_loss.html), the "
        "[bibliography](https://example.org/book-site/book/bibliography.html) and [a page](https://example.com/x)."
    )


@pytest.mark.parametrize(
    "cell",
    [
        "A {cite}`lake2015` citation.",
        "```{note}\nText\n```",
        "(fig-x)=\n# Title",
        "```{figure} a.png\n:name: fig-a\n```",
    ],
)
def test_myst_that_colab_cannot_show_is_refused(cell):
    with pytest.raises(ValueError, match="MyST markup Colab cannot show"):
        colab.plain_markdown(cell, SITE, "book/a")


def test_the_colab_button_points_to_the_edition():
    context = {
        "header_buttons": [
            {
                "type": "group",
                "buttons": [
                    {
                        "text": "Binder",
                        "url": "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/book/a.ipynb",
                    },
                    {
                        "text": "Colab",
                        "url": "https://colab.research.google.com/github/o/r/blob/main/book/a.ipynb",
                    },
                ],
            }
        ]
    }
    colab.colab_button(None, "book/a", None, context, None)
    binder, button = context["header_buttons"][0]["buttons"]
    assert (
        button["url"]
        == f"https://colab.research.google.com/github/o/r/blob/{colab.BRANCH}/book/a.ipynb"
    )
    assert binder["url"].endswith("/main?urlpath=lab/tree/book/a.ipynb")


# ------------------------------------------------------------------------------------------ the built editions


CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_each_edition_reads_as_plain_markdown(built_book, chapter):
    edition_path = built_book / colab.FOLDER / "book" / chapter.name
    assert edition_path.is_file(), f"no Colab edition of {chapter.name}"
    edition = nbformat.read(edition_path, as_version=4)
    source = nbformat.read(chapter, as_version=4)
    first = edition.cells[0]
    assert (
        first.cell_type == "code"
        and f'%pip install --quiet "siamese-tutorial @ git+{REPOSITORY}"'
        in first.source
    )
    commonmark = MarkdownIt("commonmark")
    markdown = [
        cell.source for cell in edition.cells if cell.cell_type == "markdown"
    ]
    for text in markdown:
        html = commonmark.render(text)
        left = LEFT_OVER.search(text) or LEFT_OVER.search(html)
        assert not left, (
            f"MyST left in the Colab edition of {chapter.name}: {left.group(0)!r} in {text[:200]!r}"
        )
    rendered = "\n".join(commonmark.render(text) for text in markdown)
    dropdowns = sum(
        cell.source.count(":class: dropdown")
        for cell in source.cells
        if cell.cell_type == "markdown"
    )
    assert (
        rendered.count("<details>") == dropdowns
        and rendered.count("<summary>") == dropdowns
    )
    captions = [
        c.metadata["mystnb"]["figure"]["caption"]
        for c in source.cells
        if c.metadata.get("mystnb", {}).get("figure", {}).get("caption")
        and chapters.HIDDEN not in c.metadata.get("tags", [])
    ]
    for number, caption in enumerate(captions, start=1):
        assert f"**Figure {number}.** {caption}" in markdown, (
            f"Figure {number} of {chapter.name} has no caption"
        )
    hidden = [
        c
        for c in source.cells
        if chapters.HIDDEN in c.metadata.get("tags", [])
    ]
    shown_code = [
        c for c in source.cells if c.cell_type == "code" and c not in hidden
    ]
    assert [c.source for c in edition.cells if c.cell_type == "code"][1:] == [
        c.source for c in shown_code
    ]
    assert sum(
        bool(c.outputs) for c in edition.cells if c.cell_type == "code"
    ) >= len(captions)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_each_colab_button_opens_the_edition(built_book, chapter):
    page = (
        built_book / "book" / chapter.with_suffix(".html").name
    ).read_text()
    buttons = re.findall(
        r'href="(https://colab\.research\.google\.com/[^"]+)"', page
    )
    assert buttons == [
        f"https://colab.research.google.com/github/siamese-tutorial/siamese-networks-book/blob/"
        f"{colab.BRANCH}/book/{chapter.name}"
    ]
