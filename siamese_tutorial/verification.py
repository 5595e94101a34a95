r"""Verification: is this pair the same class? And open-set identification: which enrolled class, or none?

Conventions:

* a *distance* is small for similar items; a verifier says "similar" when ``distance <= threshold``;
* a *pair* label is ``0`` for a **similar** pair and ``1`` for a **dissimilar** pair (Hadsell et al.,
  2006), as in :mod:`siamese_tutorial.losses`;
* rates and accuracies are **fractions in [0, 1]**.

**Pairs** (:func:`roc_curve`, :func:`roc_auc`, :func:`equal_error_rate`, :func:`choose_threshold`):
choose the threshold on validation pairs, judge it on test pairs, and report the base rate beside
the accuracy (:func:`balanced_accuracy` does not depend on it).

**Open set** (:func:`open_set_curve`, :func:`choose_open_set_threshold`): a query is compared with
every enrolled class and answered with the nearest one if it is within the threshold, else
"unknown". A *genuine* query (of an enrolled class) can be rejected (false reject) or given the
wrong name (misidentified); a *stranger* (of no enrolled class) can be accepted (false accept). A
threshold chosen on balanced pairs does not fit this decision: the nearest of ``G`` enrolled
classes is closer than a random dissimilar pair, so strangers get in more often than pairs
suggest. Choose it on a simulated gallery of validation classes instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from torch import Tensor

from .checks import as_numpy, check_number

__all__ = [
    "check_pairs",
    "roc_curve",
    "roc_auc",
    "equal_error_rate",
    "verification_accuracy",
    "balanced_accuracy",
    "choose_threshold",
    "OpenSetCurve",
    "open_set_curve",
    "choose_open_set_threshold",
]


def check_pairs(
    distances: Tensor | np.ndarray | Sequence[float],
    labels: Tensor | np.ndarray | Sequence[int],
) -> tuple[np.ndarray, np.ndarray]:
    """Distances as float64 and labels as a bool ``is_similar`` array, or a ``ValueError`` that says what is wrong.

    Parameters
    ----------
    distances : Tensor or ndarray
        ``(P,)`` distances, finite.
    labels : Tensor or ndarray
        ``(P,)`` 0 = similar, 1 = dissimilar.

    Returns
    -------
    distances, similar : ndarray
        float64 distances and bool ``labels == 0``.
    """
    d, y = as_numpy(distances).astype(np.float64), as_numpy(labels)
    if d.ndim != 1 or d.shape != y.shape or len(d) == 0:
        raise ValueError(
            f"distances and labels must be non-empty 1-D arrays of the same length, got shapes {d.shape} and "
            f"{y.shape}."
        )
    if not np.isin(y, (0, 1)).all():
        raise ValueError(
            "labels must be 0 (similar pair) or 1 (dissimilar pair)."
        )
    if not np.isfinite(d).all():
        raise ValueError(
            "distances contain NaN or infinite values; check the encoder's weights and inputs."
        )
    return d, y == 0


def roc_curve(
    distances: Tensor | np.ndarray, labels: Tensor | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""ROC curve of the verifier "similar if :math:`d \le t`", for every threshold :math:`t`.

    A *positive* is a similar pair (label 0): small distance means similar, so the score is :math:`-d`.

    .. math:: \mathrm{TPR}(t) = P(d \le t \mid y = 0), \qquad \mathrm{FPR}(t) = P(d \le t \mid y = 1)

    Parameters
    ----------
    distances : Tensor or ndarray
        ``(P,)`` distance of each pair.
    labels : Tensor or ndarray
        ``(P,)`` ``0`` for a similar pair, ``1`` for a dissimilar pair; both must occur.

    Returns
    -------
    fpr, tpr, thresholds : ndarray
        One point per distinct distance plus the start ``(0, 0)`` at threshold ``-inf``; thresholds
        increasing, so ``fpr`` and ``tpr`` increase. The same points as
        ``sklearn.metrics.roc_curve(labels == 0, -distances, drop_intermediate=False)``.
    """
    d, similar = check_pairs(distances, labels)
    num_similar, num_dissimilar = int(similar.sum()), int((~similar).sum())
    if num_similar == 0 or num_dissimilar == 0:
        raise ValueError(
            "the ROC curve needs both similar (label 0) and dissimilar (label 1) pairs; "
            f"got {num_similar} similar and {num_dissimilar} dissimilar."
        )
    order = np.argsort(d, kind="stable")
    d, similar = d[order], similar[order]
    last_of_tie = np.r_[
        np.diff(d) != 0, True
    ]  # a threshold admits all pairs at that distance at once
    true_positives = np.r_[0, np.cumsum(similar)[last_of_tie]]
    false_positives = np.r_[0, np.cumsum(~similar)[last_of_tie]]
    thresholds = np.r_[-np.inf, d[last_of_tie]]
    return (
        false_positives / num_dissimilar,
        true_positives / num_similar,
        thresholds,
    )


def roc_auc(
    distances: Tensor | np.ndarray, labels: Tensor | np.ndarray
) -> float:
    r"""Area under the ROC curve (trapezoidal rule), label 0 = similar, small distance = similar.

    Equals the probability that a random similar pair is closer than a random dissimilar pair (ties
    count one half): :math:`P(d^{+} < d^{-}) + \tfrac12 P(d^{+} = d^{-})`. 0.5 = chance, 1 = perfect.

    Parameters
    ----------
    distances : Tensor or ndarray
        ``(P,)`` distances.
    labels : Tensor or ndarray
        ``(P,)`` 0 = similar, 1 = dissimilar.

    Returns
    -------
    float
    """
    fpr, tpr, _ = roc_curve(distances, labels)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def equal_error_rate(
    distances: Tensor | np.ndarray, labels: Tensor | np.ndarray
) -> float:
    r"""Equal error rate: the error where the false positive rate equals the false negative rate.

    :math:`\mathrm{FPR}(t) = \mathrm{FNR}(t) = 1 - \mathrm{TPR}(t)`; on the finite ROC curve, the point where
    the segment joining the two ROC points around the crossing meets the line
    :math:`\mathrm{FPR} = 1 - \mathrm{TPR}` (linear interpolation). 0 = perfectly separable, 0.5 = chance.

    Parameters
    ----------
    distances : Tensor or ndarray
        ``(P,)`` distances.
    labels : Tensor or ndarray
        ``(P,)`` 0 = similar, 1 = dissimilar.

    Returns
    -------
    float
        A fraction in [0, 1].
    """
    fpr, tpr, _ = roc_curve(distances, labels)
    gap = (
        (1.0 - tpr) - fpr
    )  # FNR - FPR: 1 at t = -inf, decreasing to -1 at the largest distance
    i = int(np.argmax(gap <= 0))
    if gap[i] == 0:
        return float(fpr[i])
    step = gap[i - 1] / (gap[i - 1] - gap[i])
    return float(fpr[i - 1] + step * (fpr[i] - fpr[i - 1]))


def verification_accuracy(
    distances: Tensor | np.ndarray,
    labels: Tensor | np.ndarray,
    threshold: float,
) -> float:
    r"""Fraction of pairs classified correctly by "similar (label 0) if :math:`d \le t`".

    Parameters
    ----------
    distances : Tensor or ndarray
        ``(P,)`` distances.
    labels : Tensor or ndarray
        ``(P,)`` 0 = similar, 1 = dissimilar.
    threshold : float
        The decision threshold :math:`t`, e.g. from :func:`choose_threshold` on validation pairs.

    Returns
    -------
    float
        A fraction in [0, 1].
    """
    d, similar = check_pairs(distances, labels)
    check_number(
        "threshold", threshold
    )  # a NaN threshold would call every pair dissimilar, silently
    return float(np.mean((d <= threshold) == similar))


def balanced_accuracy(
    distances: Tensor | np.ndarray,
    labels: Tensor | np.ndarray,
    threshold: float,
) -> float:
    r"""The mean of the accuracy on similar pairs and the accuracy on dissimilar pairs, at threshold :math:`t`.

    .. math:: \tfrac12 \big[ P(d \le t \mid y = 0) + P(d > t \mid y = 1) \big]

    Unlike :func:`verification_accuracy` it does not depend on the share of similar pairs: answering
    always "dissimilar" scores 0.5, however rare similar pairs are.

    Parameters
    ----------
    distances : Tensor or ndarray
        ``(P,)`` distances.
    labels : Tensor or ndarray
        ``(P,)`` 0 = similar, 1 = dissimilar; both must occur.
    threshold : float
        The decision threshold :math:`t`.

    Returns
    -------
    float
        A fraction in [0, 1].
    """
    d, similar = check_pairs(distances, labels)
    check_number("threshold", threshold)
    if similar.all() or not similar.any():
        raise ValueError(
            "balanced accuracy needs both similar (label 0) and dissimilar (label 1) pairs."
        )
    return float(
        ((d[similar] <= threshold).mean() + (d[~similar] > threshold).mean())
        / 2
    )


def choose_threshold(
    distances: Tensor | np.ndarray, labels: Tensor | np.ndarray
) -> float:
    r"""The threshold :math:`t` that maximises :func:`verification_accuracy` on (validation) pairs.

    Accuracy only changes at the observed distances; of the best cut between two consecutive distinct
    distances, the midpoint is returned (a margin on both sides for unseen pairs). Ties between equally
    good cuts go to the smallest threshold. Choose it on validation pairs, report accuracy on test pairs.

    Parameters
    ----------
    distances : Tensor or ndarray
        ``(P,)`` distances.
    labels : Tensor or ndarray
        ``(P,)`` 0 = similar, 1 = dissimilar; both must occur.

    Returns
    -------
    float
        The threshold: "similar" when ``distance <= threshold``.
    """
    _, similar = check_pairs(distances, labels)
    fpr, tpr, thresholds = roc_curve(distances, labels)
    correct = (
        tpr * similar.sum() + (1.0 - fpr) * (~similar).sum()
    )  # pairs right when cutting at thresholds[i]
    best = int(np.argmax(correct))
    if best == 0:  # everything dissimilar: just below the smallest distance
        return float(np.nextafter(thresholds[1], -np.inf))
    if best == len(thresholds) - 1:  # everything similar
        return float(thresholds[-1])
    return float((thresholds[best] + thresholds[best + 1]) / 2)


# ----------------------------------------------------------------------------------------------
# Open-set identification: the nearest enrolled class, or "unknown"
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenSetCurve:
    r"""Error rates of "nearest enrolled class if within the threshold, else unknown", for every threshold.

    Attributes
    ----------
    thresholds : ndarray
        Increasing thresholds: ``-inf`` (reject everything), then every distinct observed distance.
    false_accept : ndarray
        Fraction of strangers accepted as some enrolled class, :math:`P(d_{min} \le t \mid \text{stranger})`.
    false_reject : ndarray
        Fraction of genuine queries answered "unknown", :math:`P(d_{min} > t \mid \text{genuine})`.
    misidentified : ndarray
        Fraction of genuine queries accepted under a wrong name.
    num_genuine, num_strangers : int
        How many queries the rates are fractions of.
    """

    thresholds: np.ndarray
    false_accept: np.ndarray
    false_reject: np.ndarray
    misidentified: np.ndarray
    num_genuine: int
    num_strangers: int

    @property
    def genuine_error(self) -> np.ndarray:
        """Fraction of genuine queries not given their own name: rejected or misidentified."""
        return self.false_reject + self.misidentified

    def at(self, threshold: float) -> dict[str, float]:
        """The three rates at ``threshold`` (``-inf``: reject everything; ``inf``: accept everything)."""
        check_number(
            "threshold",
            threshold if threshold not in (-np.inf, np.inf) else 0.0,
        )
        i = int(np.searchsorted(self.thresholds, threshold, side="right")) - 1
        return {
            "false_accept": float(self.false_accept[i]),
            "false_reject": float(self.false_reject[i]),
            "misidentified": float(self.misidentified[i]),
        }


def open_set_curve(
    genuine_distances: Tensor | np.ndarray,
    genuine_correct: Tensor | np.ndarray,
    stranger_distances: Tensor | np.ndarray,
) -> OpenSetCurve:
    """The open-set error rates at every threshold.

    Parameters
    ----------
    genuine_distances : Tensor or ndarray
        ``(Q,)`` distance from each query of an enrolled class to its nearest enrolled class.
    genuine_correct : Tensor or ndarray
        ``(Q,)`` bool: that nearest class is the query's own.
    stranger_distances : Tensor or ndarray
        ``(R,)`` distance from each query of no enrolled class to its nearest enrolled class.

    Returns
    -------
    OpenSetCurve
    """
    genuine, correct = (
        as_numpy(genuine_distances).astype(np.float64),
        as_numpy(genuine_correct).astype(bool),
    )
    strangers = as_numpy(stranger_distances).astype(np.float64)
    if (
        genuine.ndim != 1
        or genuine.shape != correct.shape
        or strangers.ndim != 1
    ):
        raise ValueError(
            f"genuine_distances and genuine_correct must be 1-D of one length and stranger_distances "
            f"1-D; got shapes {genuine.shape}, {correct.shape} and {strangers.shape}."
        )
    if len(genuine) == 0 or len(strangers) == 0:
        raise ValueError(
            f"the open-set curve needs genuine queries and strangers; got {len(genuine)} and "
            f"{len(strangers)}."
        )
    if not (np.isfinite(genuine).all() and np.isfinite(strangers).all()):
        raise ValueError(
            "distances contain NaN or infinite values; check the encoder's weights and inputs."
        )
    thresholds = np.r_[-np.inf, np.unique(np.r_[genuine, strangers])]

    def at_or_below(
        values: np.ndarray,
    ) -> np.ndarray:  # how many values are <= each threshold
        return np.searchsorted(np.sort(values), thresholds, side="right")

    accepted_right = at_or_below(genuine[correct])
    accepted_wrong = at_or_below(genuine[~correct])
    return OpenSetCurve(
        thresholds=thresholds,
        false_accept=at_or_below(strangers) / len(strangers),
        false_reject=1.0 - (accepted_right + accepted_wrong) / len(genuine),
        misidentified=accepted_wrong / len(genuine),
        num_genuine=len(genuine),
        num_strangers=len(strangers),
    )


def choose_open_set_threshold(
    curve: OpenSetCurve, max_false_accept: float | None = None
) -> float:
    r"""A threshold for the open-set decision, chosen on a (validation) :class:`OpenSetCurve`.

    Without ``max_false_accept``: the threshold that minimises the *balanced* open-set error, the mean
    of the strangers' error and the genuine queries' error,

    .. math:: \tfrac12 \big[\mathrm{FAR}(t) + \mathrm{FRR}(t) + \mathrm{MIR}(t)\big],

    so that strangers and enrolled classes count alike whatever their numbers. With
    ``max_false_accept = a``: the largest threshold that lets in at most a fraction ``a`` of the
    strangers (a door that must stay shut). Between two observed distances the midpoint is returned.

    Parameters
    ----------
    curve : OpenSetCurve
        From :func:`open_set_curve` on validation queries.
    max_false_accept : float, optional
        The largest acceptable false-accept rate, in [0, 1].

    Returns
    -------
    float
        The threshold: accept the nearest class when its distance is ``<= threshold``.
    """
    t = curve.thresholds
    if max_false_accept is None:
        best = int(np.argmin(curve.false_accept + curve.genuine_error))
    else:
        if not 0 <= max_false_accept <= 1:
            raise ValueError(
                f"max_false_accept must be a fraction in [0, 1]; got {max_false_accept}"
            )
        best = int(np.nonzero(curve.false_accept <= max_false_accept)[0].max())
    if best == 0:  # reject everything: just below the smallest distance
        return float(np.nextafter(t[1], -np.inf))
    if best == len(t) - 1:
        return float(t[-1])
    return float((t[best] + t[best + 1]) / 2)
