"""Figures of results: training curves, a run's mistakes and answers, open-set rates, accuracy by ways.

They share the look of :mod:`~siamese_tutorial.book.plotting` (:func:`~siamese_tutorial.book.plotting.set_style`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory
from torch import Tensor

from ..history import History
from ..omniglot import OneShotRun
from ..verification import (
    OpenSetCurve,
)
from .plotting import (
    DISSIMILAR_COLOUR,
    MISTAKE_COLOUR,
    RIGHT_COLOUR,
    SIMILAR_COLOUR,
    _new_axes,
    plot_images,
    set_style,
)

__all__ = [
    "plot_training_curves",
    "plot_mistakes",
    "plot_answers",
    "plot_open_set",
    "plot_accuracy_by_ways",
    "plot_ideas",
]


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
        _draw_panel(ax, name, history)
        ax.set(xlabel="step", title=title)
    return fig


def _draw_panel(ax: Axes, name: str, history: History) -> None:
    """One panel of :func:`plot_training_curves`: the curve of ``name`` over the steps."""
    values = history.values
    if name == "validation":
        steps, scores = zip(*history.validation)
        ax.plot(steps, scores, marker="o", color="tab:purple")
        ax.set(ylabel="score")
    elif name == "mean_positive_distance":
        ax.plot(
            history.step,
            values["mean_positive_distance"],
            color=SIMILAR_COLOUR,
            label="similar (positive) pairs",
        )
        ax.plot(
            history.step,
            values["mean_negative_distance"],
            color=DISSIMILAR_COLOUR,
            label="dissimilar (negative) pairs",
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
    rates_ax.legend(  # below the axes: inside, it would hide a curve
        fontsize="small",
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2),
        ncols=2,
    )
    _draw_tradeoff(tradeoff_ax, curve, threshold)
    return axes


def _draw_tradeoff(
    tradeoff_ax: Axes, curve: OpenSetCurve, threshold: float
) -> None:
    """The right panel of :func:`plot_open_set`: strangers accepted against enrolled rejected."""
    at = curve.at(threshold)
    tradeoff_ax.plot(
        100 * curve.false_accept, 100 * curve.false_reject, color="tab:grey"
    )
    chosen = (100 * at["false_accept"], 100 * at["false_reject"])
    tradeoff_ax.plot(*chosen, "o", color="black")
    tradeoff_ax.annotate(  # above and right of the point, where the curve is not
        f"chosen: {chosen[0]:.1f}% accepted strangers,\n"
        f"{chosen[1]:.1f}% rejected enrolled",
        chosen,
        xytext=(8, 8),
        textcoords="offset points",
        fontsize="small",
    )
    # the elbow, where choices are made
    zoom = max(40.0, 250 * max(at["false_accept"], at["false_reject"]))
    tradeoff_ax.set(
        xlabel="strangers accepted (%)",
        ylabel="enrolled rejected (%)",
        title="The trade-off",
        xlim=(0, zoom),
        ylim=(0, zoom),
    )
    tradeoff_ax.set_aspect("equal")


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
    ax = _new_axes(ax, figsize=(4.4, 5.0))  # narrow, legend below: for a phone
    settings = sorted({(row["shots"], row["classes"]) for row in rows})
    for s, (colour, (shots, classes)) in enumerate(
        zip(sns.color_palette(), settings)
    ):
        points = sorted(
            (r["ways"], r["accuracy"], *r["ci95"])
            for r in rows
            if (r["shots"], r["classes"]) == (shots, classes)
        )
        ways, accuracy, low, high = (np.array(v) for v in zip(*points))
        # a small sideways step per setting, so that no interval hides another
        dodge = 2.0 ** (0.05 * (s - (len(settings) - 1) / 2))
        ax.errorbar(
            ways * dodge,
            100 * accuracy,
            yerr=[100 * (accuracy - low), 100 * (high - accuracy)],
            marker="o",
            markersize=5,
            capsize=3,
            color=colour,
            label=f"{shots}-shot, {classes}",
        )
    ax.set(
        xlabel="number of ways (classes per episode)",
        ylabel="accuracy (%)",
        title="Accuracy with 95% intervals,\nby ways and shots",
    )
    ax.set_xscale("log", base=2)  # 5, 10, 20, 40 evenly apart
    ways = sorted({r["ways"] for r in rows})
    ax.set_xticks(ways, [str(w) for w in ways])
    ax.minorticks_off()
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=1)
    return ax


def plot_ideas(rows: Sequence[dict], ax: Axes | None = None) -> Axes:
    """Every idea tried on a recipe, one row each: its seeds' validation against the recipe it varies.

    Built for a phone's column: each idea's name above its row, and a heading wherever the recipe
    varied changes.

    Parameters
    ----------
    rows : sequence of dict
        From :func:`~siamese_tutorial.experiments.idea_rows`: ``{"idea", "varies", "seeds",
        "against"}``, the validation (%) of each seed of the idea and of the recipe it varies; drawn
        top to bottom.
    ax : Axes, optional
        Where to draw; default: a new figure sized for a phone's column.

    Returns
    -------
    Axes
        Each seed a dot: green above every seed of its recipe, red below all of them, grey among
        them; each idea's mean a black bar; the range of its recipe's seeds a grey band behind.
    """
    headings = sum(
        1 + (row["varies"] != before["varies"])
        for before, row in zip([{"varies": None}, *rows], rows)
    )
    ax = _new_axes(ax, figsize=(4.2, 0.42 * headings + 0.8))
    names = blended_transform_factory(ax.transAxes, ax.transData)
    y, varies = 0.0, None
    for row in rows:
        if row["varies"] != varies:
            varies = row["varies"]
            ax.text(
                0.01,
                y - 0.1,
                f"varying {varies}:",
                transform=names,
                fontweight="bold",
                va="bottom",
            )
            y += 1.1
        ax.text(0.01, y - 0.3, row["idea"], transform=names, va="bottom")
        _idea_row(ax, y, row)
        y += 1.1
    ax.set_yticks([])
    ax.set_ylim(y - 0.7, -1.0)  # the first idea at the top
    ax.set_xlabel("validation, runs-style (%)")
    ax.grid(axis="y", visible=False)
    return ax


def _idea_row(ax: Axes, y: float, row: dict) -> None:
    """One idea's seeds (dots), their mean (a bar) and its recipe's seeds' range (a band), at ``y``."""
    against = row["against"]
    if against:
        ax.fill_betweenx(
            [y - 0.25, y + 0.25],
            min(against),
            max(against),
            color="0.85",
            linewidth=0,
        )
    for score in row["seeds"]:
        above = bool(against) and score > max(against)
        below = bool(against) and score < min(against)
        colour = RIGHT_COLOUR if above else MISTAKE_COLOUR if below else "0.3"
        ax.plot(score, y, "o", color=colour, markersize=5, zorder=3)
    mean = sum(row["seeds"]) / len(row["seeds"])
    ax.plot(
        [mean, mean],
        [y - 0.24, y + 0.24],
        color="black",
        linewidth=1.8,
        zorder=4,
    )
