"""The chapters read as text in JupyterLab and Colab too, where MyST's roles are not resolved.

`{cite}` roles showed there as bare keys ("bromley1993") and `{numref}` as labels ("fig-twins"),
so the chapters cite in words, "Hadsell et al. (2006)" or "(Lake et al., 2015)", end with the full
entries of what they cite (written from references.bib by tests/references.py), and refer to a
figure by its number as a Markdown link, "[Figure 2](#fig-raw-learned)", which the HTML book resolves
to the figure and a notebook shows as its words. These tests keep the words true.
"""

import json
import re
from pathlib import Path

import pytest
import references

BOOK = Path(__file__).resolve().parent.parent / "book"
CHAPTERS = sorted(BOOK.glob("*.ipynb"))


def markdown(chapter: Path) -> str:
    cells = json.loads(chapter.read_text())["cells"]
    return "\n\n".join(
        "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
    )


def figure_names(chapter: Path) -> list[str]:
    """The chapter's figures in the order the HTML book numbers them (numfig, from 1 on each page)."""
    names = []
    for cell in json.loads(chapter.read_text())["cells"]:
        figure = cell["metadata"].get("mystnb", {}).get("figure")
        if cell["cell_type"] == "code" and figure:
            names.append(figure.get("name"))
    return names


def cited_keys(text: str) -> set[str]:
    """The entries the text cites in words: "Koch et al. (2015)", "(Wilson, 1927)", "…; Snell et al., 2017)"."""
    text = re.sub(r"\s+", " ", text)  # a citation may break across lines
    keys = set()
    for key in references.entries():
        short, year = references.in_text(key)
        names = references.surnames(key)
        every = (
            ", ".join(names[:-1]) + " & " + names[-1]
            if len(names) > 2
            else short
        )  # "A, B & C"
        authors = "|".join(re.escape(form) for form in (short, every))
        if re.search(
            rf"(?:{authors})(?:'s)? \({year}\)|(?:{authors}), {year}", text
        ):
            keys.add(key)
    return keys


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_no_role_that_a_notebook_shows_as_a_key(chapter):
    text = markdown(chapter)
    assert not re.findall(r"\{(?:cite(?::\w+)?|numref|ref|eq)\}`", text)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_figure_links_give_the_number_the_book_gives(chapter):
    names = figure_names(chapter)
    links = re.findall(r"\[Figure (\d+)\]\(#([\w-]+)\)", markdown(chapter))
    for number, name in links:
        assert name in names, f"{chapter.stem}: no figure named {name}"
        assert names.index(name) + 1 == int(number), (
            f"{chapter.stem}: {name} is Figure {names.index(name) + 1}"
        )
    # every figure is referred to from the text, and no other form of reference is left
    assert {name for _, name in links} == set(names) - {None}
    assert not re.search(
        r"\]\(#fig-",
        re.sub(r"\[Figure \d+\]\(#[\w-]+\)", "", markdown(chapter)),
    )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_what_the_text_cites_is_listed_in_full_at_the_end(chapter):
    text = markdown(chapter)
    body, _, listed = text.partition("\n## References\n")
    cited = cited_keys(body)
    if not cited:
        assert not listed
        return
    items = re.findall(r"^- (.+)$", listed.split("\n## ")[0], flags=re.M)
    full = {references.full(key): key for key in references.entries()}
    assert all(item in full for item in items), [
        item for item in items if item not in full
    ]
    assert {full[item] for item in items} == cited


def test_every_entry_of_the_bibliography_is_cited_somewhere():
    cited = set().union(
        *(cited_keys(markdown(chapter)) for chapter in CHAPTERS)
    )
    assert cited == set(references.entries())


def test_references_are_written_the_usual_way():
    assert references.in_text("hadsell2006") == ("Hadsell et al.", "2006")
    assert references.in_text("dubuisson1994") == ("Dubuisson & Jain", "1994")
    assert references.in_text("wilson1927") == ("Wilson", "1927")
    assert references.full("bromley1993") == (
        "Bromley, J., Guyon, I., LeCun, Y., Säckinger, E. & Shah, R. (1993). Signature Verification using a"
        " \u201cSiamese\u201d Time Delay Neural Network. *Advances in Neural Information Processing Systems 6*,"
        " 737\u2013744."
    )
    assert references.full("dubuisson1994").startswith(
        "Dubuisson, M.-P. & Jain, A. K. (1994)."
    )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_the_built_book_numbers_each_page_s_figures_as_its_text_does(
    chapter, built_book
):
    html = (built_book / "book" / f"{chapter.stem}.html").read_text()
    captions = re.findall(
        r'<figure[^>]* id="([\w-]+)">.*?<span class="caption-number">Figure (\d+) </span>',
        html,
        re.S,
    )
    assert captions == [
        (name, str(number))
        for number, name in enumerate(figure_names(chapter), start=1)
    ]
    links = re.findall(
        r'<a class="reference internal" href="#(fig-[\w-]+)">Figure (\d+)</a>',
        html,
    )
    assert links and set(links) <= set(captions)


def test_the_appendix_on_the_encoders_is_a_lesson_not_a_log():
    """At most 1,500 words (every Markdown cell: folded solutions and references included), every
    idea in one table and one figure; each idea's details stay in the record (experiments.json)."""
    chapter = BOOK / "6_how_the_encoders_were_made.ipynb"
    words = len(re.findall(r"\S+", markdown(chapter)))
    assert words <= 1500, f"the appendix has {words} words"
    code = [
        c
        for c in json.loads(chapter.read_text())["cells"]
        if c["cell_type"] == "code"
    ]
    tables = sum("show_table(" in "".join(c["source"]) for c in code)
    assert (tables, len(figure_names(chapter))) == (1, 1)
