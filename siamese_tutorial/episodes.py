"""N-way K-shot episodes of a labelled set: random, or built like the official one-shot runs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .checks import check_positive
from .labelled import class_members

__all__ = ["EPISODE_STYLES", "Episode", "n_way_k_shot_episodes"]


EPISODE_STYLES = ("random", "runs")
"""How :func:`n_way_k_shot_episodes` picks the images of an episode's classes."""


@dataclass(frozen=True)
class Episode:
    """One N-way K-shot classification episode, as indices into a labelled data set.

    Attributes
    ----------
    classes : Tensor
        ``(n_way,)`` int64 labels (in the data set) of the episode's classes; position ``c`` is class ``c``.
    support : Tensor
        ``(n_way, k_shot)`` int64 indices of the support (training) images; row ``c`` holds class ``c``.
    query : Tensor
        ``(n_way * num_queries,)`` int64 indices of the query (test) images, grouped by class.
    answers : Tensor
        ``(n_way * num_queries,)`` int64 position in ``classes`` of each query's class.
    """

    classes: Tensor
    support: Tensor
    query: Tensor
    answers: Tensor


def _eligible_class_groups(
    order: Tensor,
    starts: Tensor,
    counts: Tensor,
    needed: int,
    n_way: int,
    group_labels: Tensor | None,
    within_group: bool,
) -> list[Tensor]:
    """Sets of classes to draw an episode from: all classes, or one set per group (alphabet).

    Classes are positions in the output of :func:`~siamese_tutorial.labelled.class_members` (``order, starts, counts``); only
    classes with ``>= needed`` images are kept, and only groups with ``>= n_way`` such classes.
    """
    if counts.max() < needed:
        raise ValueError(
            f"Each class needs k_shot + num_queries = {needed} images, but the largest class has only "
            f"{int(counts.max())}. Lower k_shot or num_queries."
        )
    eligible = counts >= needed
    if not within_group:
        if eligible.sum() < n_way:
            raise ValueError(
                f"n_way={n_way} needs {n_way} classes with at least k_shot + num_queries = {needed} images, "
                f"but only {int(eligible.sum())} of the {len(counts)} classes have that many. Lower n_way."
            )
        return [eligible.nonzero().flatten()]
    if group_labels is None:
        raise ValueError(
            "within_group=True needs group_labels (one group, e.g. alphabet, index per image)."
        )
    group_labels = torch.as_tensor(group_labels)
    if group_labels.shape != order.shape:
        raise ValueError(
            f"group_labels must have one entry per image, shape {tuple(order.shape)}; "
            f"got {tuple(group_labels.shape)}."
        )
    class_group = group_labels[order[starts]]
    if (group_labels[order] != class_group.repeat_interleave(counts)).any():
        raise ValueError(
            "group_labels are inconsistent: some class has images in several groups."
        )
    per_group = [
        (eligible & (class_group == g)).nonzero().flatten()
        for g in class_group.unique()
    ]
    groups = [g for g in per_group if len(g) >= n_way]
    if not groups:
        raise ValueError(
            f"No group has n_way={n_way} classes with at least k_shot + num_queries = {needed} images "
            f"(the largest has {max(len(g) for g in per_group)}). Lower n_way, or use within_group=False."
        )
    return groups


def _drawer_table(
    labels: Tensor, drawers: Tensor | None, num_classes: int
) -> Tensor:
    """``(C, D)`` int64: the image of class position ``c`` by drawer ``d``, or -1 where there is none."""
    if drawers is None:
        raise ValueError(
            "style='runs' needs drawers (who drew each image), e.g. an Omniglot split's `drawers`."
        )
    drawers = torch.as_tensor(drawers)
    if drawers.shape != labels.shape or drawers.min() < 0:
        raise ValueError(
            f"drawers must give a drawer index >= 0 for each image, shape {tuple(labels.shape)}; "
            f"got shape {tuple(drawers.shape)}."
        )
    table = torch.full(
        (num_classes, int(drawers.max()) + 1), -1, dtype=torch.int64
    )
    class_position = torch.searchsorted(torch.unique(labels), labels)
    table[class_position, drawers] = torch.arange(len(labels))
    return table


def _check_request(
    n_way: int, k_shot: int, num_queries: int, num_episodes: int, style: str
) -> None:
    """Refuse episodes that cannot be: fewer than 2 ways, a count below 1, an unknown style."""
    check_positive(
        n_way=n_way,
        k_shot=k_shot,
        num_queries=num_queries,
        num_episodes=num_episodes,
    )
    if n_way < 2:
        raise ValueError(
            f"n_way must be >= 2 (classification among at least two classes), got {n_way}."
        )
    if style not in EPISODE_STYLES:
        raise ValueError(
            f"unknown episode style {style!r}; choose one of {EPISODE_STYLES}."
        )


def n_way_k_shot_episodes(
    labels: Tensor,
    n_way: int,
    k_shot: int,
    num_queries: int,
    num_episodes: int,
    seed: int,
    group_labels: Tensor | None = None,
    within_group: bool = False,
    style: str = "random",
    drawers: Tensor | None = None,
) -> list[Episode]:
    """Deterministic N-way K-shot episodes drawn from a labelled data set (Vinyals et al., 2016).

    Each episode draws ``n_way`` distinct classes (with ``within_group``: from one group, e.g. one
    alphabet, chosen uniformly among the groups with enough classes, like the runs of Lake et al.),
    then ``k_shot + num_queries`` images of each class: the first ``k_shot`` are its support, the
    rest its queries. The same ``seed`` gives the same episodes.

    ``style`` says which images:

    - ``"random"``: distinct random images of each class, independently for every class;
    - ``"runs"``: built like the 20 official runs of Lake et al., where every training image of a run
      was drawn by one person and every test image by another: ``k_shot + num_queries`` distinct
      drawers are drawn per episode, the first ``k_shot`` drawers give every class's support and the
      others its queries. Only classes with an image by each of those drawers take part.

    Parameters
    ----------
    labels : Tensor
        ``(N,)`` int64 class of each image.
    n_way : int
        Classes per episode.
    k_shot : int
        Support images per class.
    num_queries : int
        Query images **per class** (the official task has 1: 20 queries for 20 ways).
    num_episodes : int
        Number of episodes.
    seed : int
        Seed of the private random generator.
    group_labels : Tensor, optional
        ``(N,)`` group (alphabet) of each image; required when ``within_group``.
    within_group : bool
        Draw all the classes of an episode from a single group (harder: the characters look alike).
    style : str
        ``"random"`` or ``"runs"`` (see above).
    drawers : Tensor, optional
        ``(N,)`` drawer of each image, one image per class and drawer; required for ``"runs"``.

    Returns
    -------
    list[Episode]
    """
    _check_request(n_way, k_shot, num_queries, num_episodes, style)
    labels = torch.as_tensor(labels)
    needed = k_shot + num_queries
    order, starts, counts = class_members(labels)
    groups = _eligible_class_groups(
        order, starts, counts, needed, n_way, group_labels, within_group
    )
    table = (
        _drawer_table(labels, drawers, len(counts))
        if style == "runs"
        else None
    )
    generator = torch.Generator().manual_seed(seed)
    answers = torch.arange(n_way).repeat_interleave(num_queries)
    episodes = []
    for _ in range(num_episodes):
        group = groups[
            int(torch.randint(len(groups), (1,), generator=generator))
        ]
        if table is None:
            chosen, images = _random_episode(
                group, order, starts, counts, n_way, needed, generator
            )
        else:
            chosen, images = _runs_style_episode(
                group, table, n_way, needed, generator
            )
        episodes.append(
            Episode(
                classes=labels[order[starts[chosen]]],
                support=images[:, :k_shot],
                query=images[:, k_shot:].flatten(),
                answers=answers.clone(),
            )
        )
    return episodes


def _random_episode(
    group: Tensor,
    order: Tensor,
    starts: Tensor,
    counts: Tensor,
    n_way: int,
    needed: int,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """``n_way`` classes of ``group`` and ``needed`` random images of each, ``(n_way, needed)``."""
    chosen = group[torch.randperm(len(group), generator=generator)[:n_way]]
    images = torch.stack(
        [
            order[
                starts[c]
                + torch.randperm(int(counts[c]), generator=generator)[:needed]
            ]
            for c in chosen
        ]
    )  # (n_way, k_shot + num_queries)
    return chosen, images


def _runs_style_episode(
    group: Tensor,
    table: Tensor,
    n_way: int,
    needed: int,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """``n_way`` classes of ``group``, each drawn by the same ``needed`` drawers, as the runs are."""
    drawn_by = torch.randperm(table.shape[1], generator=generator)[:needed]
    complete = group[(table[group][:, drawn_by] >= 0).all(dim=1)]
    if len(complete) < n_way:
        raise ValueError(
            f"only {len(complete)} classes of a group have an image by each of the drawers "
            f"{drawn_by.tolist()}; style='runs' needs n_way={n_way}. Lower n_way or use style='random'."
        )
    chosen = complete[
        torch.randperm(len(complete), generator=generator)[:n_way]
    ]
    # support drawers first, then the query drawers
    return chosen, table[chosen][:, drawn_by]
