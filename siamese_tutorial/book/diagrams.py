"""Diagrams of the ideas a reader must picture, drawn with matplotlib so that they live with the code.

- :func:`draw_twin_encoder`: the Siamese network, one encoder with shared weights applied twice;
- :func:`draw_contrastive_margin`: what the contrastive loss does to pairs inside and outside the margin;
- :func:`draw_triplet_bands`: the easy, semi-hard and hard negatives of an anchor-positive pair;
- :func:`draw_pipeline`: the whole book on one page, from data to a trained encoder to a gallery.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from .plotting import DISSIMILAR_COLOUR, SIMILAR_COLOUR, set_style

__all__ = [
    "draw_twin_encoder",
    "draw_contrastive_margin",
    "draw_triplet_bands",
    "draw_pipeline",
]

ANCHOR_COLOUR = "black"
HARD_COLOUR, SEMI_HARD_COLOUR, EASY_COLOUR = (
    "tab:red",
    "tab:orange",
    "tab:green",
)


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    set_style()
    ax = (
        ax
        if ax is not None
        else plt.subplots(figsize=size, layout="constrained")[1]
    )
    ax.set_axis_off()
    return ax


def _box(
    ax: Axes,
    x: float,
    y: float,
    text: str,
    width: float = 1.8,
    height: float = 0.7,
    colour: str = "#dbe8f6",
) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - height / 2),
            width,
            height,
            boxstyle="round,pad=0.05",
            facecolor=colour,
            edgecolor="#33475b",
            linewidth=1.2,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=11)


def _arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    colour: str = "#33475b",
    style: str = "-|>",
    mutation_scale: float = 14,
    linewidth: float = 1.4,
    **kwargs,
) -> None:
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle=style,
            mutation_scale=mutation_scale,
            color=colour,
            linewidth=linewidth,
            **kwargs,
        )
    )


def draw_twin_encoder(ax: Axes | None = None) -> Axes:
    """Two inputs, one encoder ``f_W`` (drawn twice, its weights shared), two embeddings, one distance.

    Drawn top to bottom, a column per input, so that its text reads on a phone's column.
    """
    ax = _axes(ax, (5.2, 4.8))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 8.6)
    for x, i in ((2.3, 1), (7.7, 2)):
        _box(ax, x, 7.7, f"input $x_{i}$", width=2.6, colour="white")
        _arrow(ax, (x, 7.3), (x, 6.35))
        _box(ax, x, 5.9, "encoder $f_W$", width=3.2)
        _arrow(ax, (x, 5.5), (x, 4.55))
        _box(ax, x, 4.1, f"$f_W(x_{i})$", width=2.6, colour="#fde9d9")
        _arrow(ax, (x, 3.7), (5.0 + (x - 5.0) * 0.35, 2.35))
    _arrow(
        ax,
        (3.95, 5.9),
        (6.05, 5.9),
        colour="tab:purple",
        style="<|-|>",
        mutation_scale=12,
        linestyle="--",
    )
    ax.text(
        5.0,
        6.55,
        "one set of\nweights $W$",
        color="tab:purple",
        fontsize=11,
        ha="center",
        va="bottom",
    )
    _box(
        ax,
        5.0,
        1.5,
        "$D = \\Vert f_W(x_1) - f_W(x_2) \\Vert_2$\nsmall: same class",
        width=6.6,
        height=1.4,
        colour="#e8f4e8",
    )
    ax.set_title(
        "A Siamese network: one encoder applied\ntwice, then a distance",
        fontsize=12,
    )
    return ax


def _draw_contrastive_points(ax: Axes, margin: float) -> None:
    """Similar points pulled in, dissimilar ones inside the margin pushed out to it."""
    cases = [  # (angle, radius, similar?)
        (110, 0.75, True),
        (200, 0.55, True),
        (330, 1.35, True),
        (20, 0.55, False),
        (250, 0.7, False),
        (70, 1.45, False),
        (160, 1.5, False),
    ]
    for angle, radius, similar in cases:
        direction = np.array(
            [np.cos(np.radians(angle)), np.sin(np.radians(angle))]
        )
        point = radius * margin * direction
        colour = SIMILAR_COLOUR if similar else DISSIMILAR_COLOUR
        ax.plot(*point, "o", color=colour, markersize=8)
        if similar:  # pulled towards x, whatever the distance: force D
            _arrow(
                ax,
                tuple(point - 0.08 * margin * direction),
                tuple(point * 0.55),
                colour=colour,
            )
        elif radius < 1:  # pushed out to the margin: force m - D
            _arrow(
                ax,
                tuple(point + 0.08 * margin * direction),
                tuple(0.97 * margin * direction),
                colour=colour,
            )


def _draw_bands(ax: Axes, d_ap: float, outer: float) -> None:
    """The hard disc (inside ``d_ap``) and the semi-hard ring (out to ``outer``)."""
    ax.add_patch(
        Circle(
            (0, 0),
            outer,
            facecolor=SEMI_HARD_COLOUR,
            alpha=0.18,
            edgecolor="none",
        )
    )
    ax.add_patch(
        Circle(
            (0, 0), d_ap, facecolor=HARD_COLOUR, alpha=0.18, edgecolor="none"
        )
    )
    ax.add_patch(
        Circle((0, 0), d_ap, fill=False, edgecolor=HARD_COLOUR, linestyle="--")
    )
    ax.add_patch(
        Circle(
            (0, 0),
            outer,
            fill=False,
            edgecolor=SEMI_HARD_COLOUR,
            linestyle="--",
        )
    )


def draw_contrastive_margin(
    margin: float = 1.0, ax: Axes | None = None
) -> Axes:
    """The contrastive loss around one point: similar pairs pulled in, dissimilar pairs inside the margin
    pushed out to it, dissimilar pairs beyond the margin left alone."""
    ax = _axes(ax, (5.2, 5.0))
    ax.set_aspect("equal")
    lim = 1.65 * margin
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.add_patch(
        Circle((0, 0), margin, fill=False, linestyle="--", edgecolor="grey")
    )
    ax.text(
        0,
        margin * 1.04,
        f"margin $m = {margin:g}$",
        ha="center",
        va="bottom",
        color="grey",
        fontsize=9,
    )
    ax.plot(0, 0, "o", color=ANCHOR_COLOUR, markersize=9)
    ax.text(0.06 * margin, -0.16 * margin, "$x$", fontsize=11)
    _draw_contrastive_points(ax, margin)
    ax.plot(
        [],
        [],
        "o",
        color=SIMILAR_COLOUR,
        label="similar pair ($Y = 0$): pulled in",
    )
    ax.plot(
        [],
        [],
        "o",
        color=DISSIMILAR_COLOUR,
        label="dissimilar ($Y = 1$): pushed out to $m$,\nleft alone beyond it",
    )
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        fontsize=9,
        frameon=False,
    )
    ax.set_title("The contrastive loss around one point $x$", fontsize=11)
    return ax


def draw_triplet_bands(
    d_ap: float = 1.0, margin: float = 0.5, ax: Axes | None = None
) -> Axes:
    """An anchor, its positive at distance ``d_ap``, and the negatives by band: hard (closer than the
    positive), semi-hard (farther, but within the margin), easy (beyond ``d_ap + margin``: no loss)."""
    ax = _axes(ax, (5.6, 5.2))
    ax.set_aspect("equal")
    outer = d_ap + margin
    lim = 1.2 * outer
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    _draw_bands(ax, d_ap, outer)
    ax.plot(0, 0, "o", color=ANCHOR_COLOUR, markersize=9)
    ax.text(-0.06, -0.16, "anchor $a$", fontsize=9, ha="right")
    positive = np.array([d_ap, 0.0])
    ax.plot(*positive, "o", color=SIMILAR_COLOUR, markersize=9)
    ax.text(
        positive[0] + 0.05,
        0.08,
        "positive $p$",
        fontsize=9,
        color=SIMILAR_COLOUR,
    )
    ax.plot([0, d_ap], [0, 0], color=SIMILAR_COLOUR, linewidth=1)
    ax.text(d_ap / 2, 0.06, "$d(a, p)$", ha="center", fontsize=9)
    for radius, angle, colour, name in [
        (0.55 * d_ap, 130, HARD_COLOUR, "hard: $d(a,n) < d(a,p)$"),
        (
            d_ap + 0.5 * margin,
            215,
            SEMI_HARD_COLOUR,
            "semi-hard: $d(a,p) < d(a,n) < d(a,p) + \\alpha$",
        ),
        (
            outer + 0.25 * margin,
            60,
            EASY_COLOUR,
            "easy: $d(a,n) > d(a,p) + \\alpha$, no loss",
        ),
    ]:
        point = radius * np.array(
            [np.cos(np.radians(angle)), np.sin(np.radians(angle))]
        )
        ax.plot(*point, "s", color=colour, markersize=9, label=name)
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        fontsize=9,
        frameon=False,
    )
    ax.set_title("Negatives of one anchor-positive pair, by band", fontsize=11)
    return ax


def draw_pipeline(ax: Axes | None = None) -> Axes:
    """The pipeline the book builds, training on the left and use on the right, each step with its chapter.

    Training: labelled images, a P x K batch (P classes, K images each, distorted), the encoder, the
    miner that picks pairs or triplets inside the batch, the loss. Use: enrol one image per new class
    into a gallery, then answer a query with the nearest class, or "unknown" beyond the threshold.
    Drawn in two columns, its text sized to read on a phone's column.
    """
    ax = _axes(ax, (5.6, 7.2))
    ax.set_xlim(0, 8.4)
    ax.set_ylim(-1.6, 8.6)
    training = [
        "labelled images\n(Omniglot: 964\ncharacters)",
        "P x K batch: P\nclasses, K images\neach, distorted",
        "encoder $f$: one\nnetwork, an\nembedding each",
        "miner: pairs or\ntriplets in the\nbatch (ch. 2, 3)",
        "loss: contrastive\n(ch. 2) or\ntriplet (ch. 3)",
    ]
    use = [
        "new classes:\none image each",
        "encoder $f$\n(frozen) embeds\nthem",
        "gallery: one\nprototype a class",
        'query: nearest\nclass, "unknown"\nif $D > \\tau$',
    ]
    ax.text(2.1, 8.35, "training", ha="center", fontsize=12, weight="bold")
    ax.text(
        6.4,
        8.35,
        "use (no retraining)",
        ha="center",
        fontsize=12,
        weight="bold",
    )
    for column, (x, steps, colour) in enumerate(
        ((2.1, training, "#dbe8f6"), (6.4, use, "#e8f4e8"))
    ):
        ys = (
            np.linspace(7.25, 0.35, len(steps))
            if column == 0
            else np.linspace(7.25, 2.1, len(steps))
        )
        for k, (text, y) in enumerate(zip(steps, ys)):
            _box(ax, x, y, text, width=3.5, height=1.3, colour=colour)
            if k:
                _arrow(ax, (x, ys[k - 1] - 0.7), (x, y + 0.7))
    # the loss's gradient trains the encoder; the trained encoder is then used as it is
    _arrow(
        ax,
        (0.15, 0.35),
        (0.15, 3.8),
        colour="tab:purple",
        mutation_scale=12,
        linewidth=1.3,
        linestyle="--",
    )
    _arrow(ax, (3.9, 3.8), (4.6, 5.5), colour="tab:purple", linestyle="--")
    ax.text(
        4.2,
        -0.55,
        "dashed: the loss's gradient trains the encoder,\nwhich is then used, frozen, on the right",
        color="tab:purple",
        fontsize=10.5,
        ha="center",
        va="top",
    )
    return ax
