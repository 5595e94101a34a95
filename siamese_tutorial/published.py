"""Published one-shot results on Omniglot's 20 runs, to compare with, and the 95% quantile."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Z_95",
    "PublishedResult",
    "PUBLISHED_RESULTS",
    "PUBLISHED_ACCURACY",
]

Z_95 = 1.959963984540054
"""The 97.5% quantile of the standard normal distribution: a two-sided 95% interval."""


@dataclass(frozen=True)
class PublishedResult:
    """A published accuracy on Omniglot's one-shot classification, with the trials it was measured on.

    Attributes
    ----------
    method, source : str
        Who measured it, e.g. ``"People"`` and ``"Lake et al. 2015"``.
    accuracy : float
        A fraction in [0, 1].
    on_official_runs : bool
        Whether it was measured on the 20 official runs (``all_runs.zip``, 400 trials): only those
        figures compare with the runs' results, within the runs' interval.
    measured_on : str
        The trials, in words, as the source describes them.
    """

    method: str
    source: str
    accuracy: float
    on_official_runs: bool
    measured_on: str

    @property
    def label(self) -> str:
        """``"method (source)"``."""
        return f"{self.method} ({self.source})"


PUBLISHED_RESULTS = (
    PublishedResult(
        "People",
        "Lake et al. 2015",
        0.955,
        True,
        "the 20 official runs, 40 people on Mechanical Turk (4.5% errors)",
    ),
    PublishedResult(
        "Bayesian Program Learning",
        "Lake et al. 2015",
        0.967,
        True,
        "the 20 official runs, trained on the 30 background alphabets (3.3% errors)",
    ),
    PublishedResult(
        "Attentive Recurrent Comparators",
        "Shyam et al. 2017",
        0.985,
        True,
        "Lake et al.'s within-alphabet task (1.5% errors, the paper's best model, ConvARC with "
        "full context); the authors' code scores it on the 20 official runs",
    ),
    PublishedResult(
        "Siamese network",
        "Koch et al. 2015",
        0.920,
        False,
        "400 trials of its own, built like the runs (20 characters of one alphabet, one drawer's "
        "drawings against another's) on another split: 10 held-out alphabets and 4 held-out "
        "drawers (its section 4), not the 20 official runs",
    ),
)
"""The published figures this book quotes, each with what it was measured on."""

PUBLISHED_ACCURACY = {
    result.label: result.accuracy
    for result in PUBLISHED_RESULTS
    if result.on_official_runs
}
"""The published accuracies measured on the 20 official runs (400 trials), by ``"method (source)"``: the
figures the book's results on the runs are set against."""
