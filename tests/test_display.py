"""siamese_tutorial.display: the chapters show the package's own code without its docstring, tables, and
the values their text quotes, each formatted once."""

from decimal import Decimal

import pandas as pd
import pytest

from siamese_tutorial.display import (
    show_code,
    show_table,
    source_without_docstring,
)
from siamese_tutorial.losses import ContrastiveLoss, contrastive_loss
from siamese_tutorial.models import SiameseNetwork


def test_source_without_docstring_keeps_the_code():
    source = source_without_docstring(contrastive_loss)
    assert (
        source.startswith("def contrastive_loss(")
        and "Hadsell" not in source
        and '"""' not in source
    )
    assert "similar_loss = 0.5 * distance.pow(2)" in source
    compile(source, "<shown>", "exec")  # still valid Python


def test_classes_and_methods_lose_every_docstring():
    source = source_without_docstring(SiameseNetwork)
    assert (
        source.startswith("class SiameseNetwork(nn.Module):")
        and '"""' not in source
    )
    assert "def forward(self, x1: Tensor, x2: Tensor) -> Tensor:" in source
    method = source_without_docstring(ContrastiveLoss.forward)
    assert method.startswith("def forward(") and '"""' not in method
    compile(source, "<shown>", "exec")


def test_show_code_is_a_python_block_and_tables_have_no_index():
    assert show_code(contrastive_loss).data.startswith(
        "```python\ndef contrastive_loss("
    )
    html = show_table(
        pd.DataFrame({"method": ["a", "b"], "accuracy (%)": [96.5, 94.25]})
    ).data
    assert "<th>method</th>" in html and "96.5" in html and "94.2" in html
    assert "<th></th>" not in html  # no index column
    gaps = pd.DataFrame(
        {
            "accuracy (%)": [96.5, None],
            "runs": pd.array([388, None], dtype="Int64"),
        }
    )
    cells = show_table(gaps).data
    assert (
        "<td>96.5</td>" in cells
        and "<td>388</td>" in cells
        and cells.count("<td>–</td>") == 2
    )
    assert "nan" not in cells.lower() and "&lt;NA&gt;" not in cells


def test_a_shown_value_reads_as_printed_everywhere():
    import numpy as np
    import torch

    from siamese_tutorial.display import shown

    auc = shown(np.float64(0.91234), ".3f")
    assert (
        repr(auc) == str(auc) == f"{auc}" == "0.912"
    )  # what {eval} shows: no quotes, no type
    assert auc.value == 0.91234 and type(auc.value) is float
    assert shown(torch.tensor(27)).text == "27" and shown(
        0.9725, ".1%"
    ).number == Decimal("0.972")
    assert (
        shown(1234567, ",").number == 1234567
        and shown("a #3 answered #7").number is None
    )
    assert shown("#3") == "#3"  # words compare as words


def test_a_claim_is_checked_on_the_printed_numbers():
    """Chapter 3 said "at least 3.1 points" where its table printed 64.1 and 61.1: the gap is 3.0."""
    from siamese_tutorial.display import shown

    # 64.05 prints as 64.0 or 64.1 as the float rounds; the claim must use what was printed
    ahead, behind = shown(64.14999, ".1f"), shown(61.05001, ".1f")
    assert (ahead.text, behind.text) == ("64.1", "61.1")
    gap = ahead - behind
    assert gap == Decimal("3.0") and shown(gap, ".1f").text == "3.0"
    assert (
        round(64.14999 - 61.05001, 1) == 3.1
    )  # the unrounded difference, rounded, claims more
    assert (
        shown(0.641, ".1%") > shown(0.611, ".1%") > 0.6
        and not shown(0.5, ".1f") < 0.45
    )
    assert shown(0.9725, ".1%") - shown(0.9605, ".1%") == Decimal("0.012")
    with pytest.raises(TypeError, match="not a number"):
        shown("alice") < shown(1)


def test_tables_print_shown_values_as_the_text_quotes_them():
    from siamese_tutorial.display import shown

    html = show_table(
        pd.DataFrame({"method": ["a"], "accuracy (%)": [shown(97.25, ".2f")]})
    ).data
    assert "<td>97.25</td>" in html


# Every object a chapter shows with show_code, by the name the chapter uses.
SHOWN = {
    "ConvEncoder.forward": "siamese_tutorial.models",
    "Gallery.enrol": "siamese_tutorial.gallery",
    "SiameseCNN.__init__": "siamese_tutorial.models",
    "SiameseNetwork": "siamese_tutorial.models",
    "contrastive_loss": "siamese_tutorial.losses",
    "embed": "siamese_tutorial.evaluation",
    "one_shot_accuracy_from_cost": "siamese_tutorial.evaluation",
    "semi_hard_negatives": "siamese_tutorial.mining",
    "triplet_loss": "siamese_tutorial.losses",
}


def test_the_code_the_book_shows_fits_79_characters():
    import importlib
    import json
    import re
    from pathlib import Path

    book = Path(__file__).resolve().parent.parent / "book"
    shown = set()
    for chapter in book.glob("*.ipynb"):
        for cell in json.loads(chapter.read_text())["cells"]:
            if cell["cell_type"] == "code":
                shown |= set(
                    re.findall(
                        r"show_code\(([\w.]+)\)", "".join(cell["source"])
                    )
                )
    assert shown == set(SHOWN), (
        "add the newly shown objects to SHOWN (or remove the old ones)"
    )
    for name, module in SHOWN.items():
        obj = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
        long = [
            line
            for line in source_without_docstring(obj).splitlines()
            if len(line) > 79
        ]
        assert not long, (
            f"{name} is shown in the book: its lines must fit 79 characters: {long}"
        )
