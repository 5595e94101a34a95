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
