"""Each chapter's Colab edition: the executed chapter in the plain Markdown and LaTeX that Colab reads.

Colab renders CommonMark with HTML and LaTeX, and nothing of MyST: a directive, a role or an
``{eval}`` would show as its source. The edition is made from the chapter's record
(``chapters.py``) after the build:

* the first cell installs the package; the hidden cells (which only compute the text's values and
  check its claims) are left out, since their values are already in the text;
* each ``{eval}`` role becomes the value the reader of the HTML book sees;
* a folded solution (``{admonition}`` with ``:class: dropdown``) becomes ``<details>``, any other
  admonition a quotation with its title;
* a figure's caption, which myst-nb reads from the cell's metadata, becomes a Markdown cell under
  it, numbered as the book numbers it; a link to a figure becomes its words ("Figure 2"), and a link
  to another page of the book its address on the published site (``html.baseurl``).

Anything else of MyST is an error here, so that an edition never ships a construct Colab shows raw.
The editions are written into the site at ``colab/book/<chapter>.ipynb``; the book's workflow
publishes that folder as the ``colab`` branch, where Colab opens them from GitHub, and each
chapter's Colab button points there.
"""

from __future__ import annotations

import re
from pathlib import Path

import chapters
import nbformat
from sphinx.util import logging

logger = logging.getLogger(__name__)

BRANCH = "colab"
"""The branch of the repository that holds the editions (the workflow pushes it)."""

FOLDER = "colab"
"""The editions' folder in the built site."""

ADMONITION = re.compile(
    r"^```\{admonition\}[ \t]*(?P<title>[^\n]*)\n(?P<options>(?::[\w-]+:[^\n]*\n)*)"
    r"(?P<body>.*?)^```[ \t]*$",
    re.S | re.M,
)
FIGURE_LINK = re.compile(r"\[(Figure \d+)\]\(#[\w-]+\)")
PAGE_LINK = re.compile(
    r"\]\((?!https?:|#|mailto:)([\w./-]+?)(?:\.(?:ipynb|md|html))?(#[\w-]+)?\)"
)
MYST_LEFT = re.compile(
    r"\{[\w:-]+\}`|^```+\s*\{|^\([\w-]+\)=\s*$|^:[\w-]+:", re.M
)


def install_cell(repository: str) -> nbformat.NotebookNode:
    """The edition's first cell: the book's package, from its repository, into Colab's Python."""
    return nbformat.v4.new_code_cell(
        "# Colab: the book's package (and Omniglot, on first use); the rest runs as in the book\n"
        f'%pip install --quiet "siamese-tutorial @ git+{repository}"'
    )


def plain_markdown(source: str, site: str, page: str) -> str:
    """A chapter's Markdown cell (its ``{eval}`` values already in) as CommonMark, HTML and LaTeX.

    ``site`` is the published book's address (ending in ``/``); ``page`` the cell's page there
    (``book/1_siamese_idea``), against which links to other pages are resolved.
    """

    def admonition(match: re.Match) -> str:
        title = match["title"].strip() or "Note"
        body = match["body"].strip("\n")
        if re.search(r"^:class:.*\bdropdown\b", match["options"], re.M):
            return f"<details>\n<summary>{title}</summary>\n\n{body}\n\n</details>"
        return "\n".join(
            [f"> **{title}**", ">"]
            + [f"> {line}".rstrip() for line in body.splitlines()]
        )

    text = ADMONITION.sub(admonition, source)
    text = FIGURE_LINK.sub(r"\1", text)
    base = site + page.rsplit("/", 1)[0] + "/" if "/" in page else site

    def page_link(match: re.Match) -> str:
        return f"]({base}{match[1]}.html{match[2] or ''})"

    text = PAGE_LINK.sub(page_link, text)
    left = MYST_LEFT.search(text)
    if left:
        line = text[: left.start()].count("\n") + 1
        raise ValueError(
            f"MyST markup Colab cannot show, at line {line} of a Markdown cell: "
            f"{text.splitlines()[line - 1]!r}"
        )
    return text


def colab_edition(
    chapter: Path, repository: str, site: str
) -> nbformat.NotebookNode:
    """The Colab edition of ``chapter`` (``book/<name>.ipynb``), from its record."""
    notebook = chapters.current_record(chapter)
    page = str(
        Path(chapter).resolve().relative_to(chapters.ROOT).with_suffix("")
    )
    cells, figures = [install_cell(repository)], 0
    for cell in notebook.cells:
        if chapters.HIDDEN in cell.metadata.get("tags", []):
            continue
        caption = (
            cell.metadata.get("mystnb", {}).get("figure", {}).get("caption")
        )
        edition_cell = nbformat.from_dict(cell)
        edition_cell.metadata = {}  # myst-nb's options and the book's tags mean nothing to Colab
        if cell.cell_type == "markdown":
            try:
                markdown = chapters.evaluated_markdown(
                    cell, chapters.markdown_escape
                )
                edition_cell.source = plain_markdown(markdown, site, page)
            except ValueError as error:
                raise ValueError(f"{Path(chapter).name}: {error}") from None
        cells.append(edition_cell)
        if caption:
            figures += 1
            cells.append(
                nbformat.v4.new_markdown_cell(
                    f"**Figure {figures}.** {caption}"
                )
            )
    metadata = {
        key: notebook.metadata[key]
        for key in ("kernelspec", "language_info")
        if key in notebook.metadata
    }
    edition = nbformat.v4.new_notebook(
        cells=cells,
        metadata={
            **metadata,
            "colab": {"name": Path(chapter).name, "provenance": []},
        },
    )
    nbformat.validate(edition)
    return edition


def _repository(app) -> tuple[str, str]:
    """The repository's address and the published site's, from _config.yml (jupyter-book passes both on)."""
    options = app.config.html_theme_options
    site = app.config.html_baseurl or ""
    return options.get("repository_url", ""), site if site.endswith(
        "/"
    ) else site + "/"


def write_editions(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    repository, site = _repository(app)
    for docname in sorted(app.env.found_docs):
        chapter = Path(app.env.doc2path(docname))
        if chapter.suffix != ".ipynb":
            continue
        try:
            edition = colab_edition(chapter, repository, site)
        except ValueError as error:
            logger.warning(f"no Colab edition: {error}", location=docname)
            continue
        target = Path(app.outdir, FOLDER, docname + ".ipynb")
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(edition, str(target))


def colab_button(app, pagename, templatename, context, doctree) -> None:
    """Point the page's Colab launch button at its edition on the ``colab`` branch."""

    def visit(node):
        if isinstance(node, dict):
            if node.get("text") == "Colab" and "url" in node:
                node["url"] = re.sub(
                    r"/blob/[^/]+/", f"/blob/{BRANCH}/", node["url"], count=1
                )
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(context.get("header_buttons", []))


def setup(app):
    app.connect("build-finished", write_editions)
    app.connect(
        "html-page-context", colab_button, priority=600
    )  # after sphinx-book-theme's launch buttons (501)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
