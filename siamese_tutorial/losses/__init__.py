"""Losses of metric learning: the contrastive loss and the triplet losses.

Conventions used throughout the package:

* embeddings are ``(N, D)`` tensors, one row per example;
* a *pair* label is ``0`` for a **similar** pair (same class) and ``1`` for a **dissimilar** pair
  (different classes), the convention of Hadsell, Chopra & LeCun (2006);
* ``squared=True`` means "use the squared Euclidean distance" wherever a distance appears;
* NaN or infinite inputs raise ``FloatingPointError`` (a NaN loss would train nothing, silently) when
  ``check=True``, the default: the check reads the device once. A training loop passes ``check=False``
  and checks its loss and embeddings itself, as :class:`~siamese_tutorial.training.Trainer` does at its
  log steps, so that no step waits for the device;
* labels may be tensors, NumPy arrays or lists;
* an empty batch (no pair, no triplet: a miner that found nothing) gives a loss of 0 with a zero
  gradient, as pytorch-metric-learning's losses do, never the NaN of a mean of nothing.

References
----------
- R. Hadsell, S. Chopra, Y. LeCun. "Dimensionality Reduction by Learning an Invariant Mapping".
  CVPR 2006.
- F. Schroff, D. Kalenichenko, J. Philbin. "FaceNet: A Unified Embedding for Face Recognition and
  Clustering". CVPR 2015.
- A. Hermans, L. Beyer, B. Leibe. "In Defense of the Triplet Loss for Person Re-Identification".
  arXiv:1703.07737, 2017.
"""

from ._common import REDUCTIONS
from .pairs import (
    ContrastiveLoss,
    all_pairs_contrastive_loss,
    batch_contrastive_loss,
    contrastive_loss,
    pair_loss_of_distances,
)
from .triplets import (
    TripletLoss,
    batch_all_loss_of_distances,
    batch_all_triplet_loss,
    batch_hard_loss_of_distances,
    batch_hard_triplet_loss,
    semi_hard_loss_of_distances,
    semi_hard_triplet_loss,
    triplet_loss,
)

__all__ = [
    "contrastive_loss",
    "ContrastiveLoss",
    "triplet_loss",
    "TripletLoss",
    "batch_all_triplet_loss",
    "batch_hard_triplet_loss",
    "semi_hard_triplet_loss",
    "batch_contrastive_loss",
    "all_pairs_contrastive_loss",
    "pair_loss_of_distances",
    "batch_all_loss_of_distances",
    "batch_hard_loss_of_distances",
    "semi_hard_loss_of_distances",
    "REDUCTIONS",
]
