"""Training: objectives over labelled batches, the training loop, checkpoints and the Omniglot recipe.

The pieces, from small to large:

- :func:`make_objective` turns a loss name into a function ``(embeddings, labels) -> (loss, stats)``
  that works on one labelled batch (online mining: pairs and triplets are formed inside the batch);
- :func:`fit` is the training loop: steps or a time budget, optional augmentation, validation,
  best-model selection and checkpoints, with a :class:`History` of what happened;
- :func:`save_checkpoint` / :func:`load_checkpoint` write and read weights together with the recipe
  that rebuilds the network;
- :class:`TrainConfig` and :func:`train_encoder` put it together for Omniglot: P x K batches,
  rotations as new classes, affine distortions, Adam with a cosine learning-rate schedule.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from siamese_tutorial import mining
from siamese_tutorial.data import Omniglot, PKSampler, atomic_write, random_affine, with_rotations
from siamese_tutorial.losses import (
    batch_all_triplet_loss,
    batch_contrastive_loss,
    batch_hard_triplet_loss,
    triplet_loss,
)
from siamese_tutorial.models import ConvEncoder, Encoder, SiameseNetwork, build_encoder

__all__ = [
    "OBJECTIVES",
    "Objective",
    "default_device",
    "seed_everything",
    "make_objective",
    "History",
    "fit",
    "save_checkpoint",
    "load_checkpoint",
    "TrainConfig",
    "train_encoder",
]

Objective = Callable[[Tensor, Tensor], tuple[Tensor, dict[str, float]]]
"""``(embeddings (B, D), labels (B,)) -> (scalar loss, statistics)``."""

CHECKPOINT_FORMAT = "siamese_tutorial.checkpoint/1"


def default_device() -> torch.device:
    """The GPU when there is one, else the CPU.

    Returns
    -------
    torch.device
        ``cuda`` if ``torch.cuda.is_available()``, else ``cpu``.
    """
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and all GPUs) random number generators.

    This makes a run repeatable on the CPU; on a GPU some kernels stay non-deterministic.

    Parameters
    ----------
    seed : int
        The seed.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------------------------
# Objectives: (embeddings, labels) -> (loss, statistics) on one labelled batch
# ----------------------------------------------------------------------------------------------


def _contrastive(embeddings: Tensor, labels: Tensor, margin: float, squared: bool) -> Tensor:
    return batch_contrastive_loss(embeddings, labels, margin)


def _contrastive_hard(embeddings: Tensor, labels: Tensor, margin: float, squared: bool) -> Tensor:
    pairs = mining.hard_negative_pairs(embeddings.detach(), labels, margin)
    return batch_contrastive_loss(embeddings, labels, margin, pairs=pairs)


def _batch_all(embeddings: Tensor, labels: Tensor, margin: float, squared: bool) -> Tensor:
    return batch_all_triplet_loss(embeddings, labels, margin, squared)


def _batch_hard(embeddings: Tensor, labels: Tensor, margin: float, squared: bool) -> Tensor:
    return batch_hard_triplet_loss(embeddings, labels, margin, squared)


def _batch_hard_soft(embeddings: Tensor, labels: Tensor, margin: float, squared: bool) -> Tensor:
    return batch_hard_triplet_loss(embeddings, labels, margin, squared, soft=True)


def _mean_triplet_loss(
    embeddings: Tensor, triplets: tuple[Tensor, Tensor, Tensor], margin: float, squared: bool
) -> Tensor:
    # sum / max(n, 1): a miner may find no triplet, and the mean of nothing would be NaN
    a, p, n = triplets
    losses = triplet_loss(embeddings[a], embeddings[p], embeddings[n], margin, squared, reduction="sum")
    return losses / max(len(a), 1)


def _semi_hard(embeddings: Tensor, labels: Tensor, margin: float, squared: bool) -> Tensor:
    triplets = mining.semi_hard_triplets(embeddings.detach(), labels, margin, squared)
    return _mean_triplet_loss(embeddings, triplets, margin, squared)


def _random_triplets(embeddings: Tensor, labels: Tensor, margin: float, squared: bool) -> Tensor:
    # the sampler works on CPU index tensors; the global generator keeps seeded runs repeatable
    triplets = mining.random_triplets(labels.cpu(), len(labels))
    return _mean_triplet_loss(embeddings, tuple(t.to(labels.device) for t in triplets), margin, squared)


_LOSSES: dict[str, Callable[[Tensor, Tensor, float, bool], Tensor]] = {
    "contrastive": _contrastive,
    "contrastive_hard": _contrastive_hard,
    "batch_all": _batch_all,
    "batch_hard": _batch_hard,
    "batch_hard_soft": _batch_hard_soft,
    "semi_hard": _semi_hard,
    "random_triplets": _random_triplets,
}
_PAIR_LOSSES = ("contrastive", "contrastive_hard")

OBJECTIVES: tuple[str, ...] = tuple(_LOSSES)
"""The loss names :func:`make_objective` knows."""


def _check_objective(loss: str, margin: float, squared: bool) -> None:
    if loss not in _LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {list(OBJECTIVES)}")
    if not margin > 0:
        raise ValueError(f"margin must be > 0; got {margin}")
    if squared and loss in _PAIR_LOSSES:
        raise ValueError(
            f"squared=True applies to triplet losses only; the contrastive loss of Hadsell et al. "
            f"(2006) is defined on the plain distance. Use squared=False with loss={loss!r}."
        )


def make_objective(loss: str, margin: float = 0.2, squared: bool = False) -> Objective:
    """The training objective of a labelled batch: a loss with its mining, and its statistics.

    ================== ==============================================================================
    ``loss``           what is minimised (see :mod:`siamese_tutorial.losses`)
    ================== ==============================================================================
    contrastive        contrastive loss (Hadsell et al., 2006) over all pairs ``i < j`` of the batch
    contrastive_hard   contrastive loss over the positive pairs and the negatives inside the margin
    batch_all          mean over the active triplets of all valid triplets (Hermans et al., 2017)
    batch_hard         hardest positive and hardest negative per anchor (Hermans et al., 2017)
    batch_hard_soft    batch hard with the soft margin ``softplus`` (the margin is then unused)
    semi_hard          semi-hard negatives per anchor-positive pair (Schroff et al., 2015)
    random_triplets    ``B`` random valid triplets of the batch, no look at the embeddings
    ================== ==============================================================================

    The statistics (:func:`siamese_tutorial.mining.triplet_statistics` for triplet losses,
    :func:`~siamese_tutorial.mining.pair_statistics` for contrastive ones) are computed without
    gradient: ``active_fraction``, ``mean_positive_distance``, ``mean_negative_distance``.

    Parameters
    ----------
    loss : str
        One of :data:`OBJECTIVES`.
    margin : float
        The margin (``alpha`` of the triplet losses, ``m`` of the contrastive loss), > 0.
    squared : bool
        Use squared Euclidean distances (triplet losses only).

    Returns
    -------
    Objective
        ``objective(embeddings (B, D), labels (B,)) -> (scalar loss, dict of floats)``.
    """
    _check_objective(loss, margin, squared)
    loss_fn = _LOSSES[loss]

    def objective(embeddings: Tensor, labels: Tensor) -> tuple[Tensor, dict[str, float]]:
        # statistics first: they also reject batches without a positive or a negative pair
        if loss in _PAIR_LOSSES:
            stats = mining.pair_statistics(embeddings.detach(), labels, margin)
        else:
            stats = mining.triplet_statistics(embeddings.detach(), labels, margin, squared)
        return loss_fn(embeddings, labels, margin, squared), stats

    return objective


# ----------------------------------------------------------------------------------------------
# History and the training loop
# ----------------------------------------------------------------------------------------------


@dataclass
class History:
    """What happened during :func:`fit`, one entry per logged step.

    Each logged value is the mean over the steps since the previous entry (``log_every`` steps).

    Attributes
    ----------
    step : list of int
        The step (1-based) of each entry.
    loss, active_fraction, mean_positive_distance, mean_negative_distance : list of float
        Training loss and batch statistics (see :func:`make_objective`).
    lr : list of float
        Learning rate of the first parameter group at that step.
    seconds : list of float
        Wall-clock seconds since the start of training.
    validation : list of (int, float)
        ``(step, score)`` of every validation.
    """

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    active_fraction: list[float] = field(default_factory=list)
    mean_positive_distance: list[float] = field(default_factory=list)
    mean_negative_distance: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    validation: list[tuple[int, float]] = field(default_factory=list)

    @property
    def best_validation(self) -> tuple[int, float] | None:
        """``(step, score)`` of the highest validation score (the earliest on ties), or None."""
        if not self.validation:
            return None
        return max(self.validation, key=lambda entry: (entry[1], -entry[0]))

    def to_dict(self) -> dict[str, list]:
        """Plain lists (for JSON or a checkpoint); :meth:`from_dict` inverts it.

        Returns
        -------
        dict
            One list per attribute.
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, list]) -> History:
        """Rebuild a history from :meth:`to_dict` (JSON lists become ``(step, score)`` tuples again).

        Parameters
        ----------
        data : dict
            One list per attribute.

        Returns
        -------
        History
            The history.
        """
        values = {f.name: list(data.get(f.name, [])) for f in fields(cls)}
        values["validation"] = [(int(step), float(score)) for step, score in values["validation"]]
        return cls(**values)

    def as_dataframe(self):
        """The per-step entries as a ``pandas.DataFrame`` (one row per entry; validation left out).

        Returns
        -------
        pandas.DataFrame
            Columns ``step``, ``loss``, ``active_fraction``, ``mean_positive_distance``,
            ``mean_negative_distance``, ``lr``, ``seconds``.
        """
        import pandas as pd  # only the notebooks need pandas

        columns = self.to_dict()
        del columns["validation"]
        return pd.DataFrame(columns)


_LOGGED = ("loss", "active_fraction", "mean_positive_distance", "mean_negative_distance", "lr")


def _epochs(batches: Iterable) -> Iterator:
    """Iterate over ``batches`` again and again: a list or a DataLoader restarts; a spent generator ends."""
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            return


def _check_stopping(steps: int | None, time_budget: float | None) -> None:
    if steps is None and time_budget is None:
        raise ValueError("give steps, time_budget (seconds) or both, so that training knows when to stop")
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be >= 1; got {steps}")
    if time_budget is not None and not time_budget > 0:
        raise ValueError(f"time_budget must be > 0 seconds; got {time_budget}")


def fit(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    *,
    steps: int | None = None,
    time_budget: float | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    augment: Callable[[Tensor], Tensor] | None = None,
    validate: Callable[[nn.Module], float] | None = None,
    validate_every: int = 500,
    checkpoint_path: str | Path | None = None,
    config: dict[str, Any] | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    log_every: int = 10,
) -> History:
    """Train an embedding network on labelled batches.

    Each step: ``augment`` the images (on the device they come on, so a CPU pipeline augments on
    the CPU), move the batch to ``device``, embed it, ``loss, stats = objective(embeddings,
    labels)``, one optimizer step, one ``scheduler`` step. Training stops after ``steps`` steps or
    once ``time_budget`` seconds have passed (validation time included), whichever comes first,
    or when ``batches`` runs out (a list or a DataLoader is iterated again; a generator is not).

    **Model selection.** With ``validate``, the model is scored (in ``eval()`` mode, without
    gradient) every ``validate_every`` steps and after the last step. Higher scores are better;
    the best step is the one with the highest score, the earliest on ties. Its weights are kept,
    written to ``checkpoint_path`` (if given) each time the score improves, and loaded back into
    ``model`` at the end, so the returned model is the selected one. Without ``validate`` the
    final weights are the result. Either way ``checkpoint_path`` finally holds the returned
    weights with the full history.

    Parameters
    ----------
    model : nn.Module
        Maps images ``(B, ...)`` to embeddings ``(B, D)``: an :class:`~siamese_tutorial.models.Encoder`
        or a :class:`~siamese_tutorial.models.SiameseNetwork` (trained through its ``embed``).
    batches : iterable of (Tensor, Tensor)
        ``(images (B, ...), labels (B,))`` batches, e.g. from a P x K sampler.
    objective : Objective
        From :func:`make_objective`.
    optimizer : torch.optim.Optimizer
        Optimizer over ``model``'s parameters.
    steps : int, optional
        Number of optimizer steps.
    time_budget : float, optional
        Seconds of training (at least one of ``steps`` and ``time_budget`` is required).
    scheduler : LRScheduler, optional
        Stepped after every optimizer step.
    augment : callable, optional
        ``images -> images``, applied to every training batch.
    validate : callable, optional
        ``model -> score`` (higher is better).
    validate_every : int
        Steps between validations.
    checkpoint_path : str or Path, optional
        Where :func:`save_checkpoint` writes the selected weights.
    config : dict, optional
        The training recipe, stored in the checkpoint.
    device : str or torch.device, optional
        Default :func:`default_device`.
    progress : bool
        Show a tqdm progress bar.
    log_every : int
        Steps per :class:`History` entry.

    Returns
    -------
    History
        Training curves and validation scores.

    Raises
    ------
    FloatingPointError
        When the loss becomes NaN or infinite (training has diverged).
    """
    _check_stopping(steps, time_budget)
    if validate_every < 1 or log_every < 1:
        raise ValueError(f"validate_every and log_every must be >= 1; got {validate_every} and {log_every}")
    if checkpoint_path is not None:
        _architecture(model)  # fail now, not after training, if the model cannot be checkpointed
    device = torch.device(device) if device is not None else default_device()
    model.to(device)
    embed = model.embed if isinstance(model, SiameseNetwork) else model
    history = History()
    window: dict[str, list[float]] = {}
    best_step, best_score, best_state = 0, -math.inf, None
    step, start = 0, time.perf_counter()

    def log() -> None:
        history.step.append(step)
        history.seconds.append(time.perf_counter() - start)
        for name in _LOGGED:  # NaN for a statistic a custom objective does not report
            values = window.get(name, [])
            getattr(history, name).append(sum(values) / len(values) if values else math.nan)
        window.clear()

    def run_validation() -> None:
        nonlocal best_step, best_score, best_state
        model.eval()
        with torch.no_grad():
            score = float(validate(model))
        model.train()
        history.validation.append((step, score))
        if score > best_score:
            best_step, best_score = step, score
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if checkpoint_path is not None:
                save_checkpoint(checkpoint_path, model, config or {}, history, {"step": step, "score": score})

    model.train()
    with tqdm(total=steps, disable=not progress, desc="training", unit="step") as bar:
        for images, labels in _epochs(batches):
            if augment is not None:
                images = augment(images)
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            loss, stats = objective(embed(images), labels)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"the loss is {loss.item()} at step {step + 1}; lower the learning rate or check the data"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            lr = optimizer.param_groups[0]["lr"]
            if scheduler is not None:
                scheduler.step()
            step += 1
            for name, value in {"loss": loss.item(), "lr": lr, **stats}.items():
                window.setdefault(name, []).append(value)
            if step % log_every == 0:
                log()
                bar.set_postfix(loss=f"{history.loss[-1]:.4f}", active=f"{history.active_fraction[-1]:.2f}")
            if validate is not None and step % validate_every == 0:
                run_validation()
            bar.update(1)
            if (steps is not None and step >= steps) or (
                time_budget is not None and time.perf_counter() - start >= time_budget
            ):
                break
    if step == 0:
        raise ValueError("batches yielded no batch; give an iterable of (images, labels) batches")
    if window:
        log()
    if validate is not None and (not history.validation or history.validation[-1][0] != step):
        run_validation()
    selected: dict[str, Any] = {"step": step, "score": None}
    if best_state is not None:
        model.load_state_dict(best_state)
        selected = {"step": best_step, "score": best_score}
    if checkpoint_path is not None:
        save_checkpoint(checkpoint_path, model, config or {}, history, selected)
    return history


# ----------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------


def _architecture(model: nn.Module) -> dict[str, Any]:
    """How to rebuild ``model``: the encoder's config and whether it is wrapped in a SiameseNetwork."""
    siamese = isinstance(model, SiameseNetwork)
    encoder = model.encoder if siamese else model
    if not isinstance(encoder, Encoder):
        raise ValueError(
            f"cannot checkpoint a {type(model).__name__}: the model must be an Encoder of "
            "siamese_tutorial.models (or a SiameseNetwork around one), so that load_checkpoint can rebuild it"
        )
    return {"encoder": encoder.config(), "siamese": siamese}


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    config: dict[str, Any],
    history: History | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write weights, architecture, training config and history to ``path``, atomically.

    The file is written to a temporary file in the same folder and then renamed over ``path``
    with ``os.replace`` (atomic on POSIX and Windows): a crash or an error while saving leaves
    the previous checkpoint intact and no half-written file behind.

    Parameters
    ----------
    path : str or Path
        Destination (its folder is created if needed).
    model : nn.Module
        An :class:`~siamese_tutorial.models.Encoder` or a
        :class:`~siamese_tutorial.models.SiameseNetwork` around one.
    config : dict
        The training recipe (plain Python values), e.g. ``TrainConfig.to_dict()``.
    history : History, optional
        Training history.
    extra : dict, optional
        Anything else (plain Python values), e.g. the selected step and its score.
    """
    path = Path(path)
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "architecture": _architecture(model),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": dict(config),
        "history": history.to_dict() if history is not None else None,
        "extra": dict(extra or {}),
    }
    atomic_write(path, lambda file: torch.save(checkpoint, file))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a checkpoint written by :func:`save_checkpoint`, with its weights.

    The file is read with ``weights_only=True`` (no arbitrary code runs while loading).

    Parameters
    ----------
    path : str or Path
        The checkpoint file.
    map_location : str or torch.device
        Where to put the weights.

    Returns
    -------
    model : nn.Module
        The encoder (or SiameseNetwork), in ``eval()`` mode; call ``.train()`` to train it further.
    checkpoint : dict
        ``architecture``, ``state_dict``, ``config``, ``history`` (a :class:`History` or None),
        ``extra``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; check the path, or train and save one first")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise ValueError(
            f"{path} could not be read as a checkpoint (corrupted, truncated, or not written by "
            f"save_checkpoint): {error}. Delete it and train again, or restore a good copy."
        ) from error
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} is not a siamese_tutorial checkpoint (expected format {CHECKPOINT_FORMAT!r}); "
            "write checkpoints with save_checkpoint"
        )
    architecture = checkpoint["architecture"]
    encoder = build_encoder(architecture["encoder"]["name"], **architecture["encoder"]["kwargs"])
    model = SiameseNetwork(encoder) if architecture["siamese"] else encoder
    model.load_state_dict(checkpoint["state_dict"])
    model.to(map_location).eval()
    if checkpoint["history"] is not None:
        checkpoint["history"] = History.from_dict(checkpoint["history"])
    return model, checkpoint


# ----------------------------------------------------------------------------------------------
# The Omniglot recipe
# ----------------------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    """Every knob of the Omniglot training recipe of :func:`train_encoder`.

    Attributes
    ----------
    loss : str
        One of :data:`OBJECTIVES`.
    margin : float
        Margin of the loss, > 0 (0.2 suits L2-normalised embeddings, whose distances are in [0, 2]).
    squared : bool
        Squared Euclidean distances (triplet losses only).
    p, k : int
        Classes per batch and images per class (each >= 2: a batch needs positives and negatives).
    image_size : int
        Side of the training images (must match the data set).
    augment : bool
        Random affine distortions (:func:`siamese_tutorial.data.random_affine`).
    rotations : bool
        Add rotations by 90, 180, 270 degrees as new classes (:func:`siamese_tutorial.data.with_rotations`).
    within_alphabet : bool
        Draw each batch's classes from as few alphabets as possible (``class_groups`` of
        :class:`~siamese_tutorial.data.PKSampler`), so that negatives look like those of the
        within-alphabet one-shot task.
    width, blocks, embedding_dim, normalize : int, int, int or None, bool
        The :class:`~siamese_tutorial.models.ConvEncoder`.
    steps : int, optional
        Optimizer steps (the cosine learning-rate schedule needs them).
    time_budget : float, optional
        Seconds of training (at least one of ``steps`` and ``time_budget``).
    lr, weight_decay : float
        Adam's learning rate and weight decay.
    seed : int
        Seeds the weights, the batches and the augmentation.
    device : str, optional
        Default :func:`default_device`.
    validate_every, log_every : int
        Steps between validations and between history entries.
    """

    loss: str = "batch_hard"
    margin: float = 0.2
    squared: bool = False
    p: int = 32
    k: int = 4
    image_size: int = 28
    augment: bool = True
    rotations: bool = True
    within_alphabet: bool = False
    width: int = 64
    blocks: int = 4
    embedding_dim: int | None = 128
    normalize: bool = True
    steps: int | None = None
    time_budget: float | None = None
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    device: str | None = None
    validate_every: int = 500
    log_every: int = 10

    def __post_init__(self) -> None:
        _check_objective(self.loss, self.margin, self.squared)
        if self.p < 2 or self.k < 2:
            raise ValueError(
                f"p and k must be >= 2 (a batch needs two classes for negatives and two images of a "
                f"class for positives); got p={self.p}, k={self.k}"
            )
        if self.steps is not None or self.time_budget is not None:
            _check_stopping(self.steps, self.time_budget)
        if not self.lr > 0 or self.weight_decay < 0:
            raise ValueError(f"lr must be > 0 and weight_decay >= 0; got lr={self.lr}, weight_decay={self.weight_decay}")
        if self.validate_every < 1 or self.log_every < 1:
            raise ValueError(
                f"validate_every and log_every must be >= 1; got {self.validate_every} and {self.log_every}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The knobs as a plain dict; ``TrainConfig(**d)`` rebuilds the config.

        Returns
        -------
        dict
            One entry per attribute.
        """
        return asdict(self)


_SAMPLER_PASS = 1000  # batches per pass of the P x K sampler; passes repeat until training stops


def _pk_batches(data: Omniglot, sampler: PKSampler) -> Iterator[tuple[Tensor, Tensor]]:
    """Endless ``(images, labels)`` batches; each pass over the sampler continues its seeded stream."""
    while True:
        for indices in sampler:
            yield data.images[indices], data.labels[indices]


def train_encoder(
    config: TrainConfig,
    train_set: Omniglot,
    validate: Callable[[nn.Module], float] | None = None,
    checkpoint_path: str | Path | None = None,
    progress: bool = True,
) -> tuple[ConvEncoder, History]:
    """Train a :class:`~siamese_tutorial.models.ConvEncoder` on Omniglot with the recipe ``config``.

    P x K batches (Hermans et al., 2017) over ``train_set`` (plus its rotations as new classes if
    ``config.rotations``; from as few alphabets as possible if ``config.within_alphabet``), random affine distortions if ``config.augment``, Adam, and a cosine
    learning-rate schedule from ``config.lr`` down to 0 over ``config.steps`` (constant when only
    a time budget is given), then :func:`fit` with best-model selection on ``validate``.

    Parameters
    ----------
    config : TrainConfig
        The recipe.
    train_set : Omniglot
        Training images ``(N, C, S, S)`` with ``S == config.image_size``.
    validate : callable, optional
        ``encoder -> score`` (higher is better), e.g. one-shot accuracy on validation alphabets.
    checkpoint_path : str or Path, optional
        Where to save the selected weights (with ``config.to_dict()`` and the history).
    progress : bool
        Show a progress bar.

    Returns
    -------
    encoder : ConvEncoder
        The trained encoder (the best validated one when ``validate`` is given).
    history : History
        Training curves.
    """
    _check_stopping(config.steps, config.time_budget)
    if train_set.images.dim() != 4 or train_set.images.shape[-1] != config.image_size:
        raise ValueError(
            f"config.image_size is {config.image_size} but the training images have shape "
            f"{tuple(train_set.images.shape)}; load them with load_omniglot(image_size={config.image_size})"
        )
    seed_everything(config.seed)
    data = with_rotations(train_set) if config.rotations else train_set
    sampler = PKSampler(data.labels, config.p, config.k, num_batches=config.steps or _SAMPLER_PASS, seed=config.seed,
                        class_groups=data.character_alphabet if config.within_alphabet else None)
    encoder = ConvEncoder(
        in_channels=data.images.shape[1],
        width=config.width,
        blocks=config.blocks,
        embedding_dim=config.embedding_dim,
        normalize=config.normalize,
        image_size=config.image_size,
    )
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps) if config.steps else None
    history = fit(
        encoder,
        _pk_batches(data, sampler),
        make_objective(config.loss, config.margin, config.squared),
        optimizer,
        steps=config.steps,
        time_budget=config.time_budget,
        scheduler=scheduler,
        augment=random_affine if config.augment else None,
        validate=validate,
        validate_every=config.validate_every,
        checkpoint_path=checkpoint_path,
        config=config.to_dict(),
        device=config.device,
        progress=progress,
        log_every=config.log_every,
    )
    return encoder, history
