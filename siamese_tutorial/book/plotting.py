"""Figures of the tutorial: images, embeddings, distance histograms, ROC curves.

The figures of results (training curves, one-shot runs, open-set rates, accuracy by ways) are in
:mod:`~siamese_tutorial.book.result_plots`, and importable from here too.

All functions share one look (:func:`set_style`: seaborn's ``"whitegrid"`` style in the ``"notebook"``
context, applied once), draw into the ``ax`` (or ``fig``) they are given or a new one, and return it.
Images are drawn with ink = 1 in black on white paper. Pair labels follow the package convention:
``0`` = similar pair, ``1`` = dissimilar pair.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from ..checks import as_numpy
from ..verification import (
    check_pairs,
    equal_error_rate,
    roc_auc,
    roc_curve,
)

__all__ = [
    "set_style",
    "plot_images",
    "plot_embedding_2d",
    "plot_distance_histograms",
    "plot_roc",
]

SIMILAR_COLOUR, DISSIMILAR_COLOUR, MISTAKE_COLOUR, RIGHT_COLOUR = (
    "tab:blue",
    "tab:orange",
    "tab:red",
    "tab:green",
)

_style_applied = False


def set_style(force: bool = False) -> None:
    """Apply the book's style, seaborn ``"whitegrid"`` in the ``"notebook"`` context, once per session.

    Every plotting function calls it, so figures look alike whatever the caller did before; call it
    with ``force=True`` to restore the style after changing it.

    Parameters
    ----------
    force : bool
        Apply it again even if it was already applied.
    """
    global _style_applied
    if force or not _style_applied:
        sns.set_theme(context="notebook", style="whitegrid")
        _style_applied = True


def _new_axes(
    ax: Axes | None, figsize: tuple[float, float] = (5.0, 4.0)
) -> Axes:
    set_style()
    return (
        ax
        if ax is not None
        else plt.subplots(figsize=figsize, layout="constrained")[1]
    )


def plot_images(
    images: Tensor | np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    fig: Figure | None = None,
    cmap: str = "gray_r",
    panel_width: float = 1.4,
) -> Figure:
    """A grid of small images, ink (1) in black on white paper (0).

    Parameters
    ----------
    images : Tensor or ndarray
        ``(N, 1, H, W)`` or ``(N, H, W)`` images.
    titles : sequence of str, optional
        One title per image.
    ncols : int
        Images per row.
    fig : Figure, optional
        Figure to draw into (it is cleared); default: a new one.
    cmap : str
        Matplotlib colour map.
    panel_width : float
        Inches per image (for a new figure).

    Returns
    -------
    Figure
        One Axes per image, in ``fig.axes`` order; ticks removed but the frame kept (to colour it).
    """
    images = as_numpy(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(
            f"images must be a non-empty (N, 1, H, W) or (N, H, W) stack, got shape {images.shape}."
        )
    if titles is not None and len(titles) != len(images):
        raise ValueError(
            f"titles must have one entry per image: got {len(titles)} for {len(images)} images."
        )
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}.")
    set_style()
    ncols = min(ncols, len(images))
    nrows = math.ceil(len(images) / ncols)
    height, width = images.shape[1:]
    if fig is None:
        aspect = max(1.0, width / height)
        fig = plt.figure(
            figsize=(
                panel_width * ncols,
                (panel_width / aspect + 0.35) * nrows,
            ),
            layout="constrained",
        )
    else:
        fig.clear()
    for i, image in enumerate(images):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.imshow(
            image, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest"
        )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        if (
            titles is not None
        ):  # the font's own size: smaller would not read on a phone
            ax.set_title(titles[i])
    return fig


def plot_embedding_2d(
    embeddings: Tensor | np.ndarray,
    labels: Tensor | np.ndarray,
    ax: Axes | None = None,
    class_names: Sequence[str] | None = None,
    max_legend: int = 10,
    title: str = "Embedding",
) -> Axes:
    """Scatter plot of 2-D embeddings, one colour per class.

    Parameters
    ----------
    embeddings : Tensor or ndarray
        ``(N, 2)`` embeddings (train with ``embedding_dim=2``, or project first, e.g. with PCA).
    labels : Tensor or ndarray
        ``(N,)`` class of each point.
    ax : Axes, optional
        Where to draw; default: a new figure.
    class_names : sequence of str, optional
        Name of class ``c`` (for the legend), indexed by label.
    max_legend : int
        Show a legend, beside the axes so that it hides no point, only up to this many classes (beyond,
        colours alone tell classes apart); 0 shows none.
    title : str
        Axes title.

    Returns
    -------
    Axes
    """
    points, labels = as_numpy(embeddings), as_numpy(labels)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(
            f"embeddings must have shape (N, 2), got {points.shape}; train with embedding_dim=2 or project "
            f"to 2-D first (e.g. PCA)."
        )
    if labels.shape != (len(points),):
        raise ValueError(
            f"labels must have shape ({len(points)},), one per embedding, got {labels.shape}."
        )
    ax = _new_axes(ax, figsize=(5.5, 5.0))
    classes = np.unique(labels)
    names = [
        str(c) if class_names is None else class_names[int(c)] for c in classes
    ]
    palette = sns.color_palette(
        "tab10" if len(classes) <= 10 else "husl", len(classes)
    )
    for colour, c, name in zip(palette, classes, names):
        chosen = labels == c
        ax.scatter(
            points[chosen, 0],
            points[chosen, 1],
            s=14,
            alpha=0.8,
            color=colour,
            label=name,
        )
    if len(classes) <= max_legend:
        ax.legend(
            title="class",
            fontsize="small",
            markerscale=1.5,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
        )
    ax.set_xlabel("embedding dimension 1")
    ax.set_ylabel("embedding dimension 2")
    ax.set_title(title)
    ax.set_aspect("equal", adjustable="datalim")
    return ax


def plot_distance_histograms(
    distances: Tensor | np.ndarray,
    labels: Tensor | np.ndarray,
    threshold: float | None = None,
    ax: Axes | None = None,
    bins: int = 40,
    title: str = "Distances of similar and dissimilar pairs",
) -> Axes:
    """Histograms of the distances of similar (label 0) and dissimilar (label 1) pairs.

    A good embedding separates the two; a threshold between them is a verifier ("similar if
    ``distance <= threshold``").

    Parameters
    ----------
    distances : Tensor or ndarray
        ``(P,)`` distance of each pair.
    labels : Tensor or ndarray
        ``(P,)`` ``0`` = similar pair, ``1`` = dissimilar pair.
    threshold : float, optional
        Draw this decision threshold as a vertical line.
    ax : Axes, optional
        Where to draw; default: a new figure.
    bins : int
        Number of bins, shared by both histograms.
    title : str
        Axes title.

    Returns
    -------
    Axes
    """
    distances, similar = check_pairs(distances, labels)
    ax = _new_axes(ax)
    edges = np.histogram_bin_edges(distances, bins=bins)
    groups = (
        (similar, "similar (label 0)", SIMILAR_COLOUR),
        (~similar, "dissimilar (label 1)", DISSIMILAR_COLOUR),
    )
    for chosen, name, colour in groups:
        if chosen.any():
            sns.histplot(
                distances[chosen],
                bins=edges,
                stat="density",
                element="step",
                color=colour,
                alpha=0.35,
                label=name,
                ax=ax,
            )
    if threshold is not None:
        ax.axvline(
            threshold,
            color="black",
            linestyle="--",
            linewidth=1.5,
            label=f"threshold {threshold:.3g}",
        )
    ax.legend(fontsize="small")
    ax.set_xlabel("distance")
    ax.set_ylabel("density")
    ax.set_title(title)
    return ax


def _checked_rates(fpr, tpr) -> tuple[np.ndarray, np.ndarray]:
    """``fpr`` and ``tpr`` as float arrays, checked to be an ROC curve."""
    fpr, tpr = (
        as_numpy(fpr).astype(np.float64),
        as_numpy(tpr).astype(np.float64),
    )
    if fpr.ndim != 1 or fpr.shape != tpr.shape:
        raise ValueError(
            f"fpr and tpr must be 1-D and of the same length, got shapes {fpr.shape}, {tpr.shape}."
        )
    rates = np.concatenate([fpr, tpr])
    if not (
        np.isfinite(rates).all()
        and (rates >= 0).all()
        and (rates <= 1).all()
        and (np.diff(fpr) >= 0).all()
        and (np.diff(tpr) >= 0).all()
    ):
        raise ValueError(
            "fpr and tpr must be rates in [0, 1], each non-decreasing (as roc_curve gives them); to "
            "draw the ROC curve of pairs, give plot_roc(distances, labels) with integer labels 0 or 1"
        )
    return fpr, tpr


def _roc_of(distances, labels, fpr, tpr, auc, eer):
    """plot_roc's curve: computed from the pairs, or the one given, checked."""
    if (
        labels is not None
        and fpr is None
        and tpr is None
        and as_numpy(labels).dtype.kind == "f"
    ):
        # plot_roc(fpr, tpr), the form of earlier versions: read as a computed curve (checked below), said.
        warnings.warn(
            "plot_roc(fpr, tpr) is read as a computed curve; write plot_roc(fpr=fpr, tpr=tpr), or give "
            "plot_roc(distances, labels) (integer labels) as its neighbours take them",
            FutureWarning,
            stacklevel=3,  # the caller of plot_roc
        )
        distances, labels, fpr, tpr = None, None, distances, labels
    if distances is not None or labels is not None:
        if (
            fpr is not None
            or tpr is not None
            or auc is not None
            or eer is not None
        ):
            raise ValueError(
                "give plot_roc either the pairs' distances and labels (it computes the curve, its AUC "
                "and EER) or a computed curve as fpr=..., tpr=... (with auc=, eer=), not both"
            )
        if labels is None or as_numpy(labels).dtype.kind not in "biu":
            got = "no" if labels is None else "non-integer"
            raise ValueError(
                "plot_roc(distances, labels) takes the pairs' distances and their integer labels (0 "
                f"similar, 1 dissimilar), like plot_distance_histograms; got {got} labels"
            )
        fpr, tpr, _ = roc_curve(distances, labels)
        auc, eer = (
            roc_auc(distances, labels),
            equal_error_rate(distances, labels),
        )
    elif fpr is None or tpr is None:
        raise ValueError(
            "plot_roc needs the pairs' distances and labels, or a computed curve as fpr=..., tpr=..."
        )
    fpr, tpr = _checked_rates(fpr, tpr)
    return fpr, tpr, auc, eer


def plot_roc(
    distances: Tensor | np.ndarray | None = None,
    labels: Tensor | np.ndarray | None = None,
    auc: float | None = None,
    eer: float | None = None,
    ax: Axes | None = None,
    label: str | None = None,
    title: str = "ROC curve of pair verification",
    *,
    fpr: Tensor | np.ndarray | None = None,
    tpr: Tensor | np.ndarray | None = None,
) -> Axes:
    """ROC curve of the verifier "similar if the distance is small", with its AUC, its EER and the chance diagonal.

    Like its neighbours (:func:`plot_distance_histograms`, :func:`siamese_tutorial.verification.roc_curve`)
    it takes the pairs' ``distances`` and ``labels``, and computes the curve, the area under it and the
    equal error rate. A curve already computed is drawn with the keywords ``fpr=`` and ``tpr=`` (and
    ``auc=``, ``eer=`` if known). Rates given in the place of distances and labels are refused (labels
    are integers 0 or 1; a true positive rate is a float), never drawn as a wrong curve.

    Parameters
    ----------
    distances : Tensor or ndarray
        ``(P,)`` distance of each pair.
    labels : Tensor or ndarray
        ``(P,)`` integer (or bool) pair labels: ``0`` = similar pair, ``1`` = dissimilar pair.
    auc, eer : float, optional
        With ``fpr`` and ``tpr`` only: the area under the curve (shown in the legend) and the equal
        error rate (marked where the curve meets the line ``FPR = 1 - TPR``).
    ax : Axes, optional
        Where to draw (several curves may share one); default: a new figure.
    label : str, optional
        Legend label of the curve.
    title : str
        Axes title.
    fpr, tpr : Tensor or ndarray, keyword only
        False and true positive rates of a curve already computed (a positive = a similar pair), in
        place of ``distances`` and ``labels``.

    Returns
    -------
    Axes
    """
    fpr, tpr, auc, eer = _roc_of(distances, labels, fpr, tpr, auc, eer)
    ax = _new_axes(ax, figsize=(4.5, 4.5))
    text = label or "ROC"
    if auc is not None:
        text += f" (AUC = {auc:.3f})"
    (line,) = ax.plot(fpr, tpr, linewidth=2, label=text)
    if eer is not None:
        ax.plot(
            [eer],
            [1 - eer],
            "o",
            color=line.get_color(),
            label=f"EER = {eer:.3f}",
        )
    if "chance" not in [
        other.get_label() for other in ax.get_lines()
    ]:  # once, however many curves share ax
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize="small")
    ax.set_xlabel("false positive rate (dissimilar pairs accepted)")
    ax.set_ylabel("true positive rate (similar pairs accepted)")
    ax.set_title(title)
    return ax


def __getattr__(name: str):
    # what moved to siamese_tutorial.book.result_plots is importable from here, as before
    from . import result_plots

    if name in result_plots.__all__:
        return getattr(result_plots, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
