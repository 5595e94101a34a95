r"""Mining: which pairs and triplets of a labelled batch to learn from.

Miners look at the current embeddings (without gradient) and return **index tensors** into the
batch: ``(a, p, n)`` for triplets, ``(i, j, y)`` for pairs (``y = 0`` similar, ``y = 1``
dissimilar). Feed them to the losses of :mod:`siamese_tutorial.losses`, e.g.
``triplet_loss(emb[a], emb[p], emb[n])`` or ``batch_contrastive_loss(emb, labels, pairs=(i, j, y))``.
The batch losses of that module make the same choices on the whole ``(N, N)`` distance matrix.

The masks say which pairs and triplets of a batch are valid at all. How many triplets or pairs
still produce a loss, and the mean distances, are in :mod:`siamese_tutorial.batch_statistics`
(importable from here too).

References
----------
- F. Schroff, D. Kalenichenko, J. Philbin. "FaceNet". CVPR 2015 (semi-hard negatives).
- A. Hermans, L. Beyer, B. Leibe. "In Defense of the Triplet Loss". arXiv:1703.07737 (batch hard).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .checks import as_labels, check_number
from .distances import check_embeddings, pairwise_distances

__all__ = [
    "positive_mask",
    "negative_mask",
    "triplet_mask",
    "check_labelled_batch",
    "check_triplet_batch",
    "all_pairs",
    "all_valid_triplets",
    "hardest_triplets",
    "hardest_positives_and_negatives",
    "batch_hard_triplets",
    "semi_hard_negatives",
    "semi_hard_triplets",
    "hard_negative_pairs",
    "hard_pairs",
    "pml_pairs",
]

_PK_HINT = "sample batches with a P x K sampler (siamese_tutorial.data.PKSampler) with P >= 2 and K >= 2"


# ----------------------------------------------------------------------------------------------
# Masks and checks of a labelled batch
# ----------------------------------------------------------------------------------------------


def _check_labels(
    labels: Tensor,
    num_embeddings: int | None = None,
    device: torch.device | None = None,
) -> Tensor:
    """The labels as a tensor (a list or an array converted onto ``device``), checked to be ``(N,)``."""
    labels = as_labels(labels, device)
    if labels.dim() != 1:
        raise ValueError(
            f"labels must be a 1-D tensor of class indices; got shape {tuple(labels.shape)}"
        )
    if num_embeddings is not None and len(labels) != num_embeddings:
        raise ValueError(
            f"labels must have one entry per embedding: got {len(labels)} labels "
            f"for {num_embeddings} embeddings"
        )
    return labels


def check_labelled_batch(embeddings: Tensor, labels: Tensor) -> Tensor:
    """Raise ``ValueError`` unless embeddings are ``(N, D)`` and labels ``(N,)``; return the labels as a tensor.

    Labels may be a tensor, a NumPy array or a list (converted onto the embeddings' device).

    Parameters
    ----------
    embeddings : Tensor
        ``(N, D)`` embeddings.
    labels : Tensor
        ``(N,)`` class labels.
    """
    check_embeddings(embeddings, "embeddings")
    return _check_labels(labels, len(embeddings), embeddings.device)


def positive_mask(labels: Tensor) -> Tensor:
    """``mask[i, j]`` is True when ``i != j`` and ``labels[i] == labels[j]`` (a positive pair).

    Parameters
    ----------
    labels : Tensor
        ``(N,)`` class labels.

    Returns
    -------
    Tensor
        ``(N, N)`` bool mask.
    """
    labels = _check_labels(labels)
    same_class = labels.unsqueeze(0) == labels.unsqueeze(1)
    return same_class & ~torch.eye(
        len(labels), dtype=torch.bool, device=labels.device
    )


def negative_mask(labels: Tensor) -> Tensor:
    """``mask[i, j]`` is True when ``labels[i] != labels[j]`` (a negative pair).

    Parameters
    ----------
    labels : Tensor
        ``(N,)`` class labels.

    Returns
    -------
    Tensor
        ``(N, N)`` bool mask.
    """
    labels = _check_labels(labels)
    return labels.unsqueeze(0) != labels.unsqueeze(1)


def triplet_mask(labels: Tensor) -> Tensor:
    """``mask[a, p, n]`` is True for a valid triplet: ``(a, p)`` positive and ``(a, n)`` negative.

    Parameters
    ----------
    labels : Tensor
        ``(N,)`` class labels.

    Returns
    -------
    Tensor
        ``(N, N, N)`` bool mask (memory ``N^3`` bytes: fine for batches of a few hundred).
    """
    return positive_mask(labels).unsqueeze(2) & negative_mask(
        labels
    ).unsqueeze(1)


def check_triplet_batch(labels: Tensor) -> None:
    """Raise ``ValueError`` unless the batch has a positive pair and a negative pair.

    Both are needed for a valid triplet (and for the distance statistics below): a class with
    >= 2 samples and >= 2 classes. The check reads the labels' values, so on a GPU it waits for
    the device; the losses and statistics that call it take ``check=False`` for a training loop
    whose sampler guarantees such batches.

    Parameters
    ----------
    labels : Tensor
        ``(N,)`` class labels.
    """
    if not positive_mask(labels).any():
        raise ValueError(
            f"the batch has no positive pair (no class with at least 2 samples): {_PK_HINT}"
        )
    if not negative_mask(labels).any():
        raise ValueError(
            f"the batch holds only one class, so there is no negative pair: {_PK_HINT}"
        )


# ----------------------------------------------------------------------------------------------
# Pairs and triplets
# ----------------------------------------------------------------------------------------------


def all_pairs(labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Every unordered pair ``i < j`` of a labelled batch, with its pair label.

    Parameters
    ----------
    labels : Tensor
        ``(N,)`` class labels.

    Returns
    -------
    tuple of Tensor
        ``(i, j, y)``, each ``(N(N-1)/2,)`` int64; ``y = 0`` similar (same class),
        ``y = 1`` dissimilar.
    """
    labels = _check_labels(labels)
    i, j = torch.triu_indices(
        len(labels), len(labels), offset=1, device=labels.device
    )
    return i, j, (labels[i] != labels[j]).long()


def all_valid_triplets(labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Every valid triplet of a labelled batch: ``a != p`` of the same class, ``n`` of another class.

    Parameters
    ----------
    labels : Tensor
        ``(N,)`` class labels.

    Returns
    -------
    tuple of Tensor
        ``(a, p, n)`` int64 index tensors (``N^3`` candidates: for batches of a few hundred).
    """
    a, p, n = torch.nonzero(triplet_mask(labels), as_tuple=True)
    return a, p, n


def hardest_triplets(
    distances: Tensor, labels: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Batch-hard mining on a distance matrix (Hermans et al., 2017).

    For every anchor ``a`` that has a positive and a negative in the batch:
    the hardest positive ``p = argmax_{p: y_p = y_a, p != a} d(a, p)`` and the hardest negative
    ``n = argmin_{n: y_n != y_a} d(a, n)``, the first on ties.

    Parameters
    ----------
    distances : Tensor
        ``(N, N)`` distance matrix of the batch.
    labels : Tensor
        ``(N,)`` class labels.

    Returns
    -------
    tuple of Tensor
        ``(a, p, n)`` int64 index tensors, one triplet per anchor with a positive and a negative.
    """
    labels = _check_labels(labels, len(distances), distances.device)
    p, n, anchors = hardest_positives_and_negatives(distances, labels)
    a = torch.nonzero(anchors).flatten()
    return a, p[a], n[a]


def hardest_positives_and_negatives(
    distances: Tensor, labels: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Every anchor's hardest positive and hardest negative, the first on ties.

    The one batch-hard choice: :func:`hardest_triplets` and
    :func:`siamese_tutorial.losses.batch_hard_triplet_loss` both read it.

    Returns
    -------
    tuple of Tensor
        ``p``, ``n``: ``(N,)`` int64 indices (meaningless for an anchor without a positive or a
        negative); ``anchors``: ``(N,)`` bool, the anchors that have both.
    """
    positives, negatives = positive_mask(labels), negative_mask(labels)
    d = distances.detach()
    p = d.masked_fill(~positives, -torch.inf).argmax(1)
    n = d.masked_fill(~negatives, torch.inf).argmin(1)
    return p, n, positives.any(1) & negatives.any(1)


@torch.no_grad()
def batch_hard_triplets(
    embeddings: Tensor, labels: Tensor, squared: bool = False
) -> tuple[Tensor, Tensor, Tensor]:
    """Batch-hard triplets (Hermans et al., 2017): one per anchor, its hardest positive and negative.

    The hardest positive is the farthest sample of the anchor's class, the hardest negative the
    nearest sample of another class; anchors without a positive or a negative are left out.
    The triplets :func:`siamese_tutorial.losses.batch_hard_triplet_loss` learns from.

    Parameters
    ----------
    embeddings : Tensor
        ``(N, D)`` embeddings of a labelled batch.
    labels : Tensor
        ``(N,)`` class labels.
    squared : bool
        Use squared Euclidean distances (the same triplets: squaring is monotonic).

    Returns
    -------
    tuple of Tensor
        ``(a, p, n)`` int64 index tensors.
    """
    labels = check_labelled_batch(embeddings, labels)
    return hardest_triplets(
        pairwise_distances(embeddings, squared=squared), labels
    )


@torch.no_grad()
def semi_hard_negatives(
    distances: Tensor, labels: Tensor, margin: float
) -> tuple[Tensor, Tensor]:
    r"""For every pair ``(a, p)`` of a distance matrix, its hardest semi-hard negative, if it has one.

    A negative ``n`` of anchor ``a`` is semi-hard for the positive ``p`` when

    .. math:: d(a, p) < d(a, n) < d(a, p) + \alpha ;

    the hardest of them has the smallest :math:`d(a, n)` (the lowest index on ties). Each anchor's
    negatives are sorted once and searched for every positive (``N^2 log N`` instead of an ``N^3``
    mask), all on the ``(N, N)`` matrix, so nothing waits for the device.

    Parameters
    ----------
    distances : Tensor
        ``(N, N)`` distances of a batch.
    labels : Tensor
        ``(N,)`` class labels.
    margin : float
        :math:`\alpha > 0`.

    Returns
    -------
    negative : Tensor
        ``(N, N)`` int64: the chosen negative of the pair ``(a, p)`` (meaningless where ``found`` is False).
    found : Tensor
        ``(N, N)`` bool: ``(a, p)`` is a positive pair with a semi-hard negative. A NaN distance counts
        as found, so that the NaN reaches the loss instead of silently removing the triplet.
    """
    d = distances.detach()
    labels = _check_labels(labels, len(d), d.device)
    # Non-negatives (the anchor itself at least) sort last as +inf, so that
    # the first entry beyond d(a, p) always exists: +inf when no negative is
    # farther than the positive.
    negatives_only = d.masked_fill(~negative_mask(labels), torch.inf)
    sorted_d, order = negatives_only.sort(dim=1, stable=True)
    first = torch.searchsorted(sorted_d, d.contiguous(), right=True)
    first.clamp_(max=len(labels) - 1)
    # "not d(a, n) >= d(a, p) + margin" rather than "<": NaN compares False
    # either way round.
    found = positive_mask(labels) & ~(sorted_d.gather(1, first) >= d + margin)
    return order.gather(1, first), found


def semi_hard_triplets(
    embeddings: Tensor, labels: Tensor, margin: float, squared: bool = False
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Semi-hard triplets (Schroff et al., 2015, "FaceNet", section 3.2).

    For **every** anchor-positive pair ``(a, p)`` the negatives that are farther than the positive
    but still inside the margin,

    .. math:: d(a, p) < d(a, n) < d(a, p) + \alpha,

    are semi-hard: they have a positive loss but are not the hardest ones (which, early in
    training, are often mislabelled or lead to a collapsed model). The hardest of them (smallest
    :math:`d(a, n)`) is chosen (:func:`semi_hard_negatives`). A pair without a semi-hard negative is
    **skipped**, as FaceNet's rule says, with no fallback to another negative, so the result can be
    empty (e.g. once training has converged).

    Parameters
    ----------
    embeddings : Tensor
        ``(N, D)`` embeddings of a labelled batch.
    labels : Tensor
        ``(N,)`` class labels.
    margin : float
        :math:`\alpha > 0`.
    squared : bool
        Use squared Euclidean distances (as FaceNet does).

    Returns
    -------
    tuple of Tensor
        ``(a, p, n)`` int64 index tensors, at most one triplet per anchor-positive pair.
    """
    labels = check_labelled_batch(embeddings, labels)
    check_number("margin", margin, low=0, low_inclusive=False)
    negative, found = semi_hard_negatives(
        pairwise_distances(embeddings.detach(), squared=squared),
        labels,
        margin,
    )
    a, p = found.nonzero(as_tuple=True)
    return a, p, negative[a, p]


@torch.no_grad()
def hard_negative_pairs(
    embeddings: Tensor, labels: Tensor, margin: float, squared: bool = False
) -> tuple[Tensor, Tensor, Tensor]:
    r"""The pairs ``i < j`` that the contrastive loss acts on.

    All similar pairs (their loss :math:`\tfrac12 D^2` is positive unless :math:`D = 0`) plus
    the dissimilar pairs closer than the margin, :math:`D < m` (the others have zero loss and
    zero gradient).

    Parameters
    ----------
    embeddings : Tensor
        ``(N, D)`` embeddings of a labelled batch.
    labels : Tensor
        ``(N,)`` class labels.
    margin : float
        :math:`m > 0`, the margin of the contrastive loss.
    squared : bool
        Compare the squared distance with the margin.

    Returns
    -------
    tuple of Tensor
        ``(i, j, y)`` int64 tensors; ``y = 0`` similar, ``y = 1`` dissimilar: the form of
        :func:`siamese_tutorial.losses.batch_contrastive_loss`'s ``pairs``. **Not** a pytorch-metric-learning
        ``indices_tuple``: PML reads any 3-tuple as triplets ``(anchor, positive, negative)``, so ``y``
        would silently be taken for negative indices. Give PML :func:`pml_pairs` ``(a1, p, a2, n)``.
    """
    labels = check_labelled_batch(embeddings, labels)
    check_number("margin", margin, low=0, low_inclusive=False)
    return hard_pairs(
        pairwise_distances(embeddings, squared=squared), labels, margin
    )


@torch.no_grad()
def hard_pairs(
    distances: Tensor, labels: Tensor, margin: float
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`hard_negative_pairs` on a batch's ``(N, N)`` distance matrix."""
    i, j, y = all_pairs(labels)
    d = distances[i, j]
    # a NaN distance is kept, so that it reaches the loss
    keep = (y == 0) | ~(d >= margin)
    return i[keep], j[keep], y[keep]


def pml_pairs(
    pairs: tuple[Tensor, Tensor, Tensor],
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Pairs ``(i, j, y)`` (``y = 0`` similar, 1 dissimilar, e.g. :func:`hard_negative_pairs`) in
    pytorch-metric-learning's pair form ``(a1, p, a2, n)``: the similar pairs ``(a1[k], p[k])`` and the
    dissimilar pairs ``(a2[k], n[k])``, the ``indices_tuple`` its pair losses (``ContrastiveLoss``) read.

    (Triplets ``(a, p, n)`` of this module are already in PML's triplet form.)
    """
    if len(pairs) != 3:
        raise ValueError(
            f"pairs must be (i, j, y), three 1-D tensors; got a tuple of {len(pairs)}"
        )
    i, j, y = (torch.as_tensor(t) for t in pairs)
    if not i.shape == j.shape == y.shape or i.dim() != 1:
        raise ValueError(
            f"pairs must be three 1-D tensors (i, j, y) of the same length; got shapes "
            f"{tuple(i.shape)}, {tuple(j.shape)} and {tuple(y.shape)}"
        )
    similar = y == 0
    return i[similar], j[similar], i[~similar], j[~similar]


def __getattr__(name: str):
    # what moved to siamese_tutorial.batch_statistics is importable from here, as before
    from . import batch_statistics

    if name in batch_statistics.__all__:
        return getattr(batch_statistics, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
