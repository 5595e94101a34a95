"""Figures of the tutorial: embeddings, distance histograms, ROC curves, training curves, one-shot runs.

All functions share one look (:func:`set_style`: seaborn's ``"whitegrid"`` style in the ``"notebook"``
context, applied once), draw into the ``ax`` (or ``fig``) they are given or a new one, and return it.
Images are drawn with ink = 1 in black on white paper. Pair labels follow the package convention:
``0`` = similar pair, ``1`` = dissimilar pair.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from ..checks import as_numpy
from ..omniglot import OneShotRun
from ..history import History
from ..verification import (
    OpenSetCurve,
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
    "plot_training_curves",
    "plot_mistakes",
    "plot_answers",
    "plot_open_set",
    "plot_accuracy_by_ways",
    "plot_ideas",
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
            stacklevel=2,
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


def plot_training_curves(
    history: History | Mapping[str, Any], fig: Figure | None = None
) -> Figure:
    """The logged training curves, one panel each: loss, then what was logged among the active fraction,
    the mean positive and negative distances, the batch accuracy, and the validation score.

    A panel is drawn only for what the history holds: no empty "validation" panel when no validation ran.

    Parameters
    ----------
    history : History or dict
        A :class:`siamese_tutorial.training.History`, or a dict of its content (``History.to_dict()``,
        e.g. from a JSON file).
    fig : Figure, optional
        Figure to draw into (it is cleared); default: a new one.

    Returns
    -------
    Figure
        One Axes per panel, in the order above.
    """
    if isinstance(history, Mapping):
        history = History.from_dict(history)
    if not isinstance(history, History):
        raise ValueError(
            f"history must be a training.History or a dict of its content, got {type(history).__name__}."
        )
    if "loss" not in history.values:
        raise ValueError("the history has no logged loss: nothing to draw.")
    set_style()
    values = history.values
    panels = [("loss", "Training loss")]
    panels += [
        (name, title)
        for name, title in (
            ("active_fraction", "Active (loss > 0) triplets or pairs"),
            ("mean_positive_distance", "Distances in the batch"),
            ("batch_accuracy", "Accuracy on the training batch"),
        )
        if name in values
    ]
    if history.validation:
        panels.append(("validation", "Validation"))
    # one column up to three panels, so that each keeps the page's width on a phone
    columns = 1 if len(panels) <= 3 else 2
    rows = math.ceil(len(panels) / columns)
    if fig is None:
        fig = plt.figure(
            figsize=(6.4 * columns, 2.7 * rows), layout="constrained"
        )
    else:
        fig.clear()
    axes = fig.subplots(rows, columns, squeeze=False).flatten()
    for ax in axes[len(panels) :]:
        ax.remove()
    for ax, (name, title) in zip(axes, panels):
        if name == "validation":
            steps, scores = zip(*history.validation)
            ax.plot(steps, scores, marker="o", color="tab:purple")
            ax.set(ylabel="score")
        elif name == "mean_positive_distance":
            ax.plot(
                history.step,
                values["mean_positive_distance"],
                color=SIMILAR_COLOUR,
                label="positive pairs",
            )
            ax.plot(
                history.step,
                values["mean_negative_distance"],
                color=DISSIMILAR_COLOUR,
                label="negative pairs",
            )
            ax.legend(fontsize="small")
            ax.set(ylabel="mean distance")
        else:
            ax.plot(
                history.step,
                values[name],
                color="tab:green" if name != "loss" else None,
            )
            ax.set(ylabel="fraction" if name != "loss" else "loss")
            if name != "loss":
                ax.set_ylim(0, 1.02)
        ax.set(xlabel="step", title=title)
    return fig


def plot_mistakes(
    runs: Sequence[OneShotRun],
    predictions: Sequence[Tensor],
    ncols: int = 3,
    fig: Figure | None = None,
) -> Figure:
    """Every wrongly answered trial of one-shot runs: the test image, the training image chosen, the true one.

    Each panel shows ``test | chosen | true`` at a size that stays legible at a page's width, titled
    with the run and the test item.

    Parameters
    ----------
    runs : sequence of OneShotRun
        The runs (any image size).
    predictions : sequence of Tensor
        ``(T,)`` predicted training index of each test item of each run, e.g. ``result.predictions`` of a
        :class:`~siamese_tutorial.evaluation.OneShotResult`.
    ncols : int
        Panels per row.
    fig : Figure, optional
        Figure to draw into (it is cleared); default: a new one.

    Returns
    -------
    Figure
    """
    if len(runs) != len(predictions):
        raise ValueError(
            f"give one prediction tensor per run: {len(predictions)} for {len(runs)} runs."
        )
    panels, titles = [], []
    for run, predicted in zip(runs, predictions):
        predicted = torch.as_tensor(predicted).long().cpu()
        if predicted.shape != run.test_labels.shape:
            raise ValueError(
                f"predictions for {run.name} must have shape {tuple(run.test_labels.shape)}, "
                f"one per test item; got {tuple(predicted.shape)}."
            )
        for item in (
            (predicted != run.test_labels).nonzero().flatten().tolist()
        ):
            bar = torch.full(
                (1, run.test_images.shape[2], 2), 0.25
            )  # a thin grey bar between the images
            chosen, true = int(predicted[item]), int(run.test_labels[item])
            panels.append(
                torch.cat(
                    [
                        run.test_images[item].cpu(),
                        bar,
                        run.train_images[chosen].cpu(),
                        bar,
                        run.train_images[true].cpu(),
                    ],
                    dim=-1,
                )
            )
            titles.append(
                f"{run.name}, item {item + 1}: chose {chosen + 1}, true {true + 1}"
            )
    if not panels:
        raise ValueError(
            "there is no mistake to draw: every trial was answered right."
        )
    fig = plot_images(
        torch.stack(panels),
        titles=titles,
        ncols=ncols,
        fig=fig,
        panel_width=3.2,
    )
    for ax in fig.axes:
        ax.set_xlabel("test  |  chosen  |  true", fontsize="small")
    fig.suptitle(f"The {len(panels)} trials answered wrongly")
    return fig


def plot_answers(
    images: Tensor,
    answers: Sequence[str],
    truths: Sequence[str],
    ncols: int = 10,
    fig: Figure | None = None,
) -> Figure:
    """Images with the answer given to each, framed green when right and red when wrong.

    Parameters
    ----------
    images : Tensor
        ``(N, 1, H, W)`` images, ink = 1.
    answers, truths : sequence of str
        The answer given for each image, and the right one.
    ncols : int
        Images per row.
    fig : Figure, optional
        Figure to draw into (it is cleared); default: a new one.

    Returns
    -------
    Figure
    """
    if not len(answers) == len(truths) == len(images):
        raise ValueError(
            f"give one answer and one truth per image: {len(answers)} and {len(truths)} for "
            f"{len(images)} images."
        )
    right = [a == t for a, t in zip(answers, truths)]
    titles = [
        a if ok else f"{a}\n(is {t})"
        for a, t, ok in zip(answers, truths, right)
    ]
    fig = plot_images(images, titles=titles, ncols=ncols, fig=fig)
    for ax, ok in zip(fig.axes, right):
        for spine in ax.spines.values():
            spine.set(
                color=RIGHT_COLOUR if ok else MISTAKE_COLOUR,
                linewidth=3,
                visible=True,
            )
    fig.suptitle(
        f"{sum(right)} of {len(right)} answers right (green frame: right, red: wrong)"
    )
    return fig


def plot_open_set(
    curve: OpenSetCurve, threshold: float, axes: Sequence[Axes] | None = None
) -> Sequence[Axes]:
    """The open-set error rates against the threshold, and the trade-off between them, with the chosen threshold.

    Left: the fractions of strangers accepted (false accepts), of genuine queries rejected (false
    rejects) and of genuine queries given a wrong name, at every threshold. Right: false rejects
    against false accepts (lower left is better), the chosen threshold marked on both.

    Parameters
    ----------
    curve : OpenSetCurve
        From :func:`siamese_tutorial.verification.open_set_curve`.
    threshold : float
        The chosen threshold.
    axes : sequence of two Axes, optional
        Where to draw; default: a new figure.

    Returns
    -------
    sequence of Axes
    """
    set_style()
    if axes is None:
        axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")[1]
    rates_ax, tradeoff_ax = axes
    t = curve.thresholds[1:]  # without -inf
    rates_ax.plot(
        t,
        100 * curve.false_accept[1:],
        color=MISTAKE_COLOUR,
        label="strangers accepted (false accept)",
    )
    rates_ax.plot(
        t,
        100 * curve.false_reject[1:],
        color=SIMILAR_COLOUR,
        label="enrolled rejected (false reject)",
    )
    rates_ax.plot(
        t,
        100 * curve.misidentified[1:],
        color="tab:purple",
        linestyle="--",
        label="enrolled given a wrong name",
    )
    rates_ax.axvline(
        threshold,
        color="black",
        linestyle=":",
        label=f"chosen threshold {threshold:.3f}",
    )
    rates_ax.set(
        xlabel="threshold on the distance to the nearest enrolled class",
        ylabel="% of queries",
        title="Error rates against the threshold",
    )
    rates_ax.legend(fontsize="small", loc="best")
    at = curve.at(threshold)
    tradeoff_ax.plot(
        100 * curve.false_accept, 100 * curve.false_reject, color="tab:grey"
    )
    tradeoff_ax.plot(
        [100 * at["false_accept"]],
        [100 * at["false_reject"]],
        "o",
        color="black",
        label=f"chosen: {100 * at['false_accept']:.1f}% accepted strangers,\n"
        f"{100 * at['false_reject']:.1f}% rejected enrolled",
    )
    zoom = max(
        40.0, 250 * max(at["false_accept"], at["false_reject"])
    )  # the elbow, where choices are made
    tradeoff_ax.set(
        xlabel="strangers accepted (%)",
        ylabel="enrolled rejected (%)",
        title="The trade-off",
        xlim=(0, zoom),
        ylim=(0, zoom),
    )
    tradeoff_ax.set_aspect("equal")
    tradeoff_ax.legend(fontsize="small", loc="upper right")
    return axes


def plot_accuracy_by_ways(
    rows: Sequence[Mapping[str, Any]],
    ax: Axes | None = None,
) -> Axes:
    """Episode accuracy against the number of ways, one line per (shots, classes) setting, with 95% intervals.

    Parameters
    ----------
    rows : sequence of dict
        One per setting and number of ways: ``ways``, ``shots``, ``classes`` (a label, e.g. "within one
        alphabet"), ``accuracy`` and ``ci95`` (``(low, high)``), fractions in [0, 1].
    ax : Axes, optional
        Where to draw; default: a new figure.

    Returns
    -------
    Axes
    """
    ax = _new_axes(
        ax, figsize=(5.6, 5.0)
    )  # narrow, its legend below: it reads on a phone
    settings = sorted({(row["shots"], row["classes"]) for row in rows})
    for colour, (shots, classes) in zip(sns.color_palette(), settings):
        points = sorted(
            (r["ways"], r["accuracy"], *r["ci95"])
            for r in rows
            if (r["shots"], r["classes"]) == (shots, classes)
        )
        ways, accuracy, low, high = (np.array(v) for v in zip(*points))
        ax.errorbar(
            ways,
            100 * accuracy,
            yerr=[100 * (accuracy - low), 100 * (high - accuracy)],
            marker="o",
            capsize=3,
            color=colour,
            label=f"{shots}-shot, {classes}",
        )
    ax.set(
        xlabel="number of ways (classes per episode)",
        ylabel="accuracy (%)",
        title="Accuracy with 95% intervals,\nby ways and shots",
    )
    ax.set_xticks(sorted({r["ways"] for r in rows}))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2)
    return ax


def plot_ideas(rows: Sequence[dict], ax: Axes | None = None) -> Axes:
    """Every idea tried on a recipe, one row each: its seeds' validation against the recipe it varies.

    Parameters
    ----------
    rows : sequence of dict
        From :func:`~siamese_tutorial.experiments.idea_rows`: ``{"idea", "seeds", "against"}``, the
        validation (%) of each seed of the idea and of the recipe it varies; drawn top to bottom.
    ax : Axes, optional
        Where to draw; default: a new figure sized for a phone's column.

    Returns
    -------
    Axes
        Each seed a dot: green above every seed of its recipe, red below all of them, grey among
        them; each idea's mean a black bar; the range of its recipe's seeds a grey band behind.
    """
    ax = _new_axes(ax, figsize=(5.6, 0.36 * len(rows) + 1.6))
    for y, row in enumerate(rows):
        against = row["against"]
        if against:
            ax.fill_betweenx(
                [y - 0.38, y + 0.38],
                min(against),
                max(against),
                color="0.85",
                linewidth=0,
            )
        for score in row["seeds"]:
            above = bool(against) and score > max(against)
            below = bool(against) and score < min(against)
            colour = (
                RIGHT_COLOUR if above else MISTAKE_COLOUR if below else "0.3"
            )
            ax.plot(score, y, "o", color=colour, markersize=6, zorder=3)
        mean = sum(row["seeds"]) / len(row["seeds"])
        ax.plot(
            [mean, mean],
            [y - 0.32, y + 0.32],
            color="black",
            linewidth=1.8,
            zorder=4,
        )
    ax.set_yticks(range(len(rows)), [row["idea"] for row in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)  # the first idea at the top
    ax.set_xlabel("validation, runs-style (%)")
    ax.grid(axis="y", visible=False)
    ax.set_title("Each idea's seeds (dots) against\nits recipe's (grey band)")
    return ax
