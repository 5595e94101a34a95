"""What every loss checks and how it reduces: one home for the losses' conventions."""

from __future__ import annotations

import torch
from torch import Tensor

from ..checks import check_finite, check_number

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"unknown reduction {reduction!r}; choose one of {REDUCTIONS}"
        )


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    _check_reduction(reduction)
    if reduction == "mean":
        return (
            loss.mean() if loss.numel() else loss.sum()
        )  # the mean of nothing: 0, still on the graph
    return loss.sum() if reduction == "sum" else loss


def _check_finite_inputs(check: bool, **tensors: Tensor) -> None:
    """With ``check``, raise ``FloatingPointError`` naming the first input that holds NaN or infinity."""
    if check:
        for name, x in tensors.items():
            check_finite(
                x.detach(),
                f"the {name} given to the loss",
                "find where they became NaN or infinite "
                "(the images? a diverged training?); a NaN loss would train nothing",
            )


def _check_margin(margin: float, allow_zero: bool) -> None:
    """``margin`` must be finite and > 0, or >= 0 when ``allow_zero`` (0 is a plain ranking for triplets;
    for the contrastive loss it would remove the dissimilar term)."""
    check_number("margin", margin, low=0, low_inclusive=allow_zero)


def _check_pair_labels(label: Tensor) -> None:
    if not torch.all((label == 0) | (label == 1)):
        bad = label[(label != 0) & (label != 1)][0].item()
        raise ValueError(
            "pair labels must be 0 (similar pair, same class) or 1 (dissimilar pair, different "
            f"classes), the convention of Hadsell et al. (2006); got the value {bad}"
        )
