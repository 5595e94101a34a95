"""siamese_tutorial.display: the chapters show the package's own code without its docstring, and tables."""

import pandas as pd

from siamese_tutorial.display import show_code, show_table, source_without_docstring
from siamese_tutorial.losses import ContrastiveLoss, contrastive_loss
from siamese_tutorial.models import SiameseNetwork


def test_source_without_docstring_keeps_the_code():
    source = source_without_docstring(contrastive_loss)
    assert source.startswith("def contrastive_loss(") and "Hadsell" not in source and '"""' not in source
    assert "similar_loss = 0.5 * distance.pow(2)" in source
    compile(source, "<shown>", "exec")  # still valid Python


def test_classes_and_methods_lose_every_docstring():
    source = source_without_docstring(SiameseNetwork)
    assert source.startswith("class SiameseNetwork(nn.Module):") and '"""' not in source
    assert "def forward(self, x1: Tensor, x2: Tensor) -> Tensor:" in source
    method = source_without_docstring(ContrastiveLoss.forward)
    assert method.startswith("def forward(") and '"""' not in method
    compile(source, "<shown>", "exec")


def test_show_code_is_a_python_block_and_tables_have_no_index():
    assert show_code(contrastive_loss).data.startswith("```python\ndef contrastive_loss(")
    html = show_table(pd.DataFrame({"method": ["a", "b"], "accuracy (%)": [96.5, 94.25]})).data
    assert "<th>method</th>" in html and "96.5" in html and "94.2" in html
    assert "<th></th>" not in html  # no index column
    gaps = pd.DataFrame({"accuracy (%)": [96.5, None], "runs": pd.array([388, None], dtype="Int64")})
    cells = show_table(gaps).data
    assert "<td>96.5</td>" in cells and "<td>388</td>" in cells and cells.count("<td>–</td>") == 2
    assert "nan" not in cells.lower() and "&lt;NA&gt;" not in cells


def test_glue_hands_plain_values_to_myst_nb(monkeypatch):
    import sys
    import types

    import numpy as np
    import torch

    from siamese_tutorial.display import glue

    glued = {}
    fake = types.ModuleType("myst_nb")
    fake.glue = lambda name, value, display: glued.update({name: (value, display)})
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    assert glue("mean", np.float64(0.9675)) is None  # nothing to print at the end of a cell
    glue("loss", torch.tensor(0.5))
    glue("seeds", "388, 386")
    # plain Python numbers, so that the text's format ({glue:text}`mean:.1%`) applies; nothing shown
    assert glued == {"mean": (0.9675, False), "loss": (0.5, False), "seeds": ("388, 386", False)}
    assert type(glued["mean"][0]) is float
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # no myst-nb (Colab): no error
    assert glue("mean", 0.5) is None


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
                shown |= set(re.findall(r"show_code\(([\w.]+)\)", "".join(cell["source"])))
    assert shown == set(SHOWN), "add the newly shown objects to SHOWN (or remove the old ones)"
    for name, module in SHOWN.items():
        obj = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
        long = [line for line in source_without_docstring(obj).splitlines() if len(line) > 79]
        assert not long, f"{name} is shown in the book: its lines must fit 79 characters: {long}"
