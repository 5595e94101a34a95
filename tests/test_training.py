"""Tests of siamese_tutorial.training: objectives, the training loop and its callbacks, checkpoints."""

import itertools
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from siamese_tutorial import data, mining
from siamese_tutorial.models import (
    ConvEncoder,
    MLPEncoder,
    SiameseNetwork,
    SoftmaxClassifier,
)
from siamese_tutorial.training import (
    OBJECTIVES,
    History,
    ModelSelection,
    OnSteps,
    Trainer,
    WeightAverage,
    default_device,
    fit,
    load_checkpoint,
    make_objective,
    resolve_device,
    save_checkpoint,
    seed_everything,
)

MARGIN = 0.5


pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- helpers


def labelled_batch(seed=0, classes=3, per_class=3, dim=2):
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(
        classes * per_class, dim, generator=generator, dtype=torch.float64
    )
    labels = torch.arange(classes).repeat_interleave(per_class)
    return embeddings, labels


def distance(e, i, j, squared=False):
    d = math.dist(e[i].tolist(), e[j].tolist())
    return d * d if squared else d


def contrastive_term(d, same):
    return 0.5 * d**2 if same else 0.5 * max(0.0, MARGIN - d) ** 2


def brute_force_loss(name, e, labels, squared, triplets=None):
    """Each objective's loss with plain Python loops over the batch."""
    n = len(labels)
    y = labels.tolist()
    d = [[distance(e, i, j, squared) for j in range(n)] for i in range(n)]
    if name in ("contrastive", "contrastive_hard"):
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
        if name == "contrastive_hard":
            pairs = [
                (i, j) for i, j in pairs if y[i] == y[j] or d[i][j] < MARGIN
            ]
        return sum(
            contrastive_term(d[i][j], y[i] == y[j]) for i, j in pairs
        ) / len(pairs)
    valid = [
        (a, p, q)
        for a in range(n)
        for p in range(n)
        for q in range(n)
        if a != p and y[a] == y[p] and y[q] != y[a]
    ]
    if name == "batch_all":
        active = [max(0.0, d[a][p] - d[a][q] + MARGIN) for a, p, q in valid]
        active = [v for v in active if v > 0]
        return sum(active) / len(active)
    if name in ("batch_hard", "batch_hard_soft"):
        losses = []
        for a in range(n):
            hardest_positive = max(
                d[a][p] for p in range(n) if p != a and y[p] == y[a]
            )
            hardest_negative = min(d[a][q] for q in range(n) if y[q] != y[a])
            gap = hardest_positive - hardest_negative
            losses.append(
                math.log1p(math.exp(gap))
                if name == "batch_hard_soft"
                else max(0.0, gap + MARGIN)
            )
        return sum(losses) / len(losses)
    if name == "semi_hard":
        losses = []
        for a, p in {(a, p) for a, p, _ in valid}:
            semi = [
                d[a][q]
                for q in range(n)
                if y[q] != y[a] and d[a][p] < d[a][q] < d[a][p] + MARGIN
            ]
            if semi:
                losses.append(d[a][p] - min(semi) + MARGIN)
        return sum(losses) / max(len(losses), 1)
    assert name == "random_triplets"
    return sum(
        max(0.0, d[a][p] - d[a][q] + MARGIN) for a, p, q in zip(*triplets)
    ) / len(triplets[0])


def blobs(num_per_class, seed):
    """4 classes separated along 2 of 10 dimensions; the other 8 are wide noise that hides them."""
    generator = torch.Generator().manual_seed(seed)
    means = torch.tensor([[4.0, 0], [-4, 0], [0, 4], [0, -4]])
    labels = torch.arange(4).repeat_interleave(num_per_class)
    x = torch.randn(len(labels), 10, generator=generator) * torch.tensor(
        [0.5] * 2 + [4.0] * 8
    )
    x[:, :2] += means[labels]
    return x, labels


def blob_batches(seed, k=4):
    """Endless P x K batches (all 4 classes, K points each) of fresh blob samples."""
    for step in itertools.count():
        yield blobs(k, seed * 100_000 + step)


def nearest_mean_accuracy(model):
    """Classify held-out blobs by the nearest class mean of the embedded training blobs."""
    support, support_labels = blobs(20, seed=-1)
    query, query_labels = blobs(20, seed=-2)
    with torch.no_grad():
        s, q = model(support), model(query)
    means = torch.stack([s[support_labels == c].mean(0) for c in range(4)])
    return (
        (torch.cdist(q, means).argmin(1) == query_labels).float().mean().item()
    )


def mlp(seed=0):
    torch.manual_seed(seed)
    return MLPEncoder(10, hidden=(32,), embedding_dim=2)


def tiny_fit(model, **kwargs):
    options = {"steps": 6, "device": "cpu", "progress": False, "log_every": 1}
    options.update(kwargs)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    return fit(
        model,
        blob_batches(0),
        make_objective("batch_hard", MARGIN),
        optimizer,
        **options,
    )


# ----------------------------------------------------------------------------- objectives


@pytest.mark.parametrize(
    ("name", "squared"),
    # the contrastive loss is defined on the plain distance only
    [
        (name, squared)
        for name in OBJECTIVES
        if name != "softmax"
        for squared in (False, True)
        if not (squared and "contrastive" in name)
    ],
)
def test_objective_matches_brute_force(name, squared):
    embeddings, labels = labelled_batch()
    embeddings.requires_grad_(True)
    torch.manual_seed(1)
    loss, stats = make_objective(name, margin=MARGIN, squared=squared)(
        embeddings, labels
    )
    triplets = None
    if (
        name == "random_triplets"
    ):  # the objective draws from the global generator: draw again
        torch.manual_seed(1)
        triplets = [
            t.tolist() for t in data.random_triplets(labels, len(labels))
        ]
    expected = brute_force_loss(
        name, embeddings.detach(), labels, squared, triplets
    )
    assert loss.dim() == 0 and math.isfinite(loss.item())
    assert loss.item() == pytest.approx(expected, rel=1e-9)
    loss.backward()
    assert torch.isfinite(embeddings.grad).all()
    assert set(stats) == {
        "active_fraction",
        "mean_positive_distance",
        "mean_negative_distance",
    }
    assert all(v.dim() == 0 and math.isfinite(v) for v in stats.values())


def test_softmax_objective_is_cross_entropy_with_the_batch_accuracy():
    logits = torch.tensor(
        [[2.0, 0.0, 0.0], [0.0, 1.0, 3.0]], requires_grad=True
    )
    labels = torch.tensor([0, 1])
    loss, stats = make_objective("softmax")(logits, labels)
    expected = (
        -(
            math.log(math.exp(2) / (math.exp(2) + 2))
            + math.log(math.exp(1) / (1 + math.exp(1) + math.exp(3)))
        )
        / 2
    )
    assert loss.item() == pytest.approx(expected)
    assert float(stats["batch_accuracy"]) == 0.5
    with pytest.raises(
        ValueError, match="squared=True applies to triplet losses only"
    ):
        make_objective("softmax", squared=True)


@pytest.mark.parametrize("name", [n for n in OBJECTIVES if n != "softmax"])
def test_objective_statistics_come_from_the_miners(name):
    embeddings, labels = labelled_batch(seed=3)
    _, stats = make_objective(name, margin=MARGIN)(embeddings, labels)
    if name.startswith("contrastive"):
        expected = mining.pair_statistics(embeddings, labels, MARGIN)
    else:
        expected = mining.triplet_statistics(embeddings, labels, MARGIN)
    assert stats == expected


def test_semi_hard_objective_without_semi_hard_negative_is_zero_with_a_gradient():
    # two tight, far apart clusters: every negative is beyond d(a, p) + margin
    embeddings = torch.tensor(
        [[0.0, 0], [0, 0.01], [10, 0], [10, 0.01]], requires_grad=True
    )
    loss, _ = make_objective("semi_hard", margin=MARGIN)(
        embeddings, torch.tensor([0, 0, 1, 1])
    )
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(embeddings.grad, torch.zeros_like(embeddings))


def test_make_objective_unknown_name_lists_the_known_ones():
    with pytest.raises(
        ValueError, match=r"unknown loss 'triplet'.*'batch_hard'.*'semi_hard'"
    ):
        make_objective("triplet")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"loss": "batch_hard", "margin": 0.0},
            "margin must be a finite number > 0",
        ),
        (
            {"loss": "contrastive", "squared": True},
            "squared=True applies to triplet losses only",
        ),
    ],
)
def test_make_objective_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_objective(**kwargs)


def test_objective_rejects_a_batch_without_positive_pair():
    with pytest.raises(ValueError, match="no positive pair"):
        make_objective("batch_hard")(torch.randn(4, 2), torch.arange(4))


# ----------------------------------------------------------------------------- fit


def test_fit_learns_separable_blobs():
    model = mlp()
    before = nearest_mean_accuracy(model)
    history = tiny_fit(
        model,
        steps=60,
        log_every=10,
        validate=nearest_mean_accuracy,
        validate_every=20,
    )
    assert history.step == [10, 20, 30, 40, 50, 60]
    assert np.mean(history.loss[-3:]) < 0.5 * np.mean(history.loss[:3])
    assert before < 0.7
    assert history.best_validation[1] > 0.9 > before + 0.2
    assert (
        nearest_mean_accuracy(model) == history.best_validation[1]
    )  # the selected weights


def test_fit_logs_window_means():
    recorded = []
    objective = make_objective("batch_hard", MARGIN)

    def recording(embeddings, labels):
        loss, stats = objective(embeddings, labels)
        recorded.append((loss.item(), float(stats["active_fraction"])))
        return loss, stats

    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = fit(
        model,
        blob_batches(0),
        recording,
        optimizer,
        steps=12,
        log_every=5,
        device="cpu",
        progress=False,
    )
    assert history.step == [5, 10, 12]
    windows = [recorded[0:5], recorded[5:10], recorded[10:12]]
    assert history.loss == pytest.approx(
        [np.mean([r[0] for r in w]) for w in windows]
    )
    assert history.active_fraction == pytest.approx(
        [np.mean([r[1] for r in w]) for w in windows]
    )
    assert history.lr == [0.1] * 3
    assert all(
        later >= earlier
        for earlier, later in itertools.pairwise(history.seconds)
    )


def test_fit_logs_what_a_custom_objective_reports():
    objective = make_objective("batch_hard", MARGIN)

    def loss_only(embeddings, labels):
        return objective(embeddings, labels)[0], {}

    model = mlp()
    history = fit(
        model,
        blob_batches(0),
        loss_only,
        torch.optim.SGD(model.parameters(), lr=0.1),
        steps=2,
        device="cpu",
        progress=False,
        log_every=1,
    )
    assert sorted(history.values) == ["loss", "lr"] and all(
        math.isfinite(v) for v in history.loss
    )


def test_fit_steps_the_scheduler_and_logs_the_lr_of_each_step():
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=1, gamma=0.5
    )
    history = fit(
        model,
        blob_batches(0),
        make_objective("batch_all", MARGIN),
        optimizer,
        steps=4,
        scheduler=scheduler,
        device="cpu",
        progress=False,
        log_every=1,
    )
    assert history.lr == [1.0, 0.5, 0.25, 0.125]


def test_fit_iterates_a_list_again_and_ends_with_a_generator():
    batches = [blobs(3, seed) for seed in range(2)]
    assert tiny_fit(mlp(), steps=5).step == [1, 2, 3, 4, 5]
    model = mlp()
    history = fit(
        model,
        iter(batches),
        make_objective("batch_hard", MARGIN),
        torch.optim.SGD(model.parameters(), lr=0.1),
        steps=5,
        device="cpu",
        progress=False,
        log_every=1,
    )
    assert history.step == [1, 2]
    history = fit(
        model,
        batches,
        make_objective("batch_hard", MARGIN),
        torch.optim.SGD(model.parameters(), lr=0.1),
        steps=5,
        device="cpu",
        progress=False,
        log_every=1,
    )
    assert history.step == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": 0}, "steps must be an integer >= 1"),
        (
            {"validate_every": 0, "validate": lambda m: 0.0},
            "every must be an integer >= 1",
        ),
        ({"log_every": 0}, "log_every must be an integer >= 1"),
        (
            {"device": "gpu"},
            "'gpu' is not a device; use 'cpu', 'cuda' or 'cuda:N'",
        ),
    ],
)
def test_fit_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny_fit(mlp(), **kwargs)


def test_fit_rejects_empty_batches():
    model = mlp()
    with pytest.raises(ValueError, match="batches yielded no batch"):
        fit(
            model,
            [],
            make_objective("batch_hard"),
            torch.optim.SGD(model.parameters(), lr=0.1),
            steps=3,
            device="cpu",
            progress=False,
        )


def test_fit_stops_on_a_non_finite_loss():
    model = mlp()

    def diverged(embeddings, labels):
        return embeddings.sum() * float("inf"), {}

    with pytest.raises(
        FloatingPointError,
        match="NaN or infinite between steps 1 and 2; lower the learning rate",
    ):
        fit(
            model,
            blob_batches(0),
            diverged,
            torch.optim.SGD(model.parameters(), lr=0.1),
            steps=3,
            device="cpu",
            progress=False,
            log_every=2,
        )


def test_one_nan_pixel_stops_training_instead_of_logging_the_margin(tmp_path):
    # Before: NaN distances became 0, batch-hard logged exactly the margin, every weight became NaN,
    # and nothing was raised. Now the NaN reaches the loss and the loop stops at the next log step,
    # before anything is checkpointed.
    batch = blobs(4, 0)
    batch[0][5, 3] = math.nan
    model, path = mlp(), tmp_path / "m.pt"
    with pytest.raises(
        FloatingPointError, match="check the training images for NaN"
    ):
        fit(
            model,
            [batch],
            make_objective("batch_hard", 0.2),
            torch.optim.Adam(model.parameters()),
            steps=20,
            device="cpu",
            progress=False,
            log_every=10,
            checkpoint_path=path,
            validate_every=10,
        )
    assert not path.exists()


def test_an_infinite_learning_rate_is_caught_in_the_weights():
    model = mlp()
    with pytest.raises(FloatingPointError, match="NaN or infinite"):
        fit(
            model,
            blob_batches(0),
            make_objective("semi_hard", 0.2),
            torch.optim.SGD(model.parameters(), lr=math.inf),
            steps=20,
            device="cpu",
            progress=False,
            log_every=5,
        )


def scripted_validation(scores):
    """A validate callable returning the given scores in turn and remembering the weights it saw."""
    seen = []

    def validate(model):
        assert not model.training and not torch.is_grad_enabled()
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        return scores[len(seen) - 1]

    return validate, seen


def test_fit_keeps_the_best_validated_weights(tmp_path):
    validate, seen = scripted_validation([0.1, 0.5, 0.3, 0.5])
    model, path = mlp(), tmp_path / "best.pt"
    history = tiny_fit(
        model,
        steps=7,
        validate=validate,
        validate_every=2,
        checkpoint_path=path,
        config={"lr": 1e-2},
    )
    assert history.validation == [
        (2, 0.1),
        (4, 0.5),
        (6, 0.3),
        (7, 0.5),
    ]  # and after the last step
    assert history.best_validation == (4, 0.5)  # ties keep the earlier step
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, seen[1][key])
    loaded, checkpoint = load_checkpoint(path)
    for key, value in loaded.state_dict().items():
        torch.testing.assert_close(value, seen[1][key])
    assert checkpoint["selected"] == {"step": 4, "score": 0.5}
    assert checkpoint["config"] == {"lr": 1e-2}
    assert checkpoint["history"] == history
    assert model.training  # fit leaves the model in training mode


def test_fit_writes_the_best_checkpoint_as_soon_as_the_score_improves(
    tmp_path,
):
    path = tmp_path / "best.pt"
    saved_steps = []

    def validate(model):
        if path.exists():
            saved_steps.append(load_checkpoint(path)[1]["selected"]["step"])
        return {2: 0.2, 4: 0.1, 6: 0.3}[len(saved_steps) * 2 + 2]

    tiny_fit(
        mlp(),
        steps=6,
        validate=validate,
        validate_every=2,
        checkpoint_path=path,
    )
    assert saved_steps == [2, 2]  # written at step 2, not at step 4 (worse)
    assert load_checkpoint(path)[1]["selected"] == {"step": 6, "score": 0.3}


def test_fit_without_validation_checkpoints_the_final_weights(tmp_path):
    model, path = SiameseNetwork(mlp()), tmp_path / "sub" / "final.pt"
    history = tiny_fit(model, steps=3, checkpoint_path=path)
    loaded, checkpoint = load_checkpoint(path)
    assert isinstance(loaded, SiameseNetwork) and not loaded.training
    x1, x2 = blobs(2, 5)[0], blobs(2, 6)[0]
    torch.testing.assert_close(loaded(x1, x2), model(x1, x2))
    assert checkpoint["selected"] == {"step": 3, "score": None}
    assert checkpoint["history"] == history


def test_fit_refuses_to_train_a_model_it_cannot_checkpoint(tmp_path):
    model = torch.nn.Linear(10, 2)
    with pytest.raises(ValueError, match="cannot checkpoint a Linear"):
        tiny_fit(model, checkpoint_path=tmp_path / "x.pt")
    assert list(tmp_path.iterdir()) == []


def test_weight_average_is_the_exponential_moving_average_of_the_weights_and_the_norm_statistics():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(10, 8),
        torch.nn.BatchNorm1d(8),
        torch.nn.ReLU(),
        torch.nn.Linear(8, 2),
    )
    snapshots, average = [], WeightAverage(0.9)
    keep = OnSteps(
        lambda trainer: snapshots.append(
            {k: v.clone() for k, v in model.state_dict().items()}
        ),
        range(1, 7),
    )
    tiny_fit(model, steps=6, callbacks=[average, keep])
    expected = {
        k: v.double() for k, v in snapshots[0].items()
    }  # the average starts at the first step's weights
    for snapshot in snapshots[1:]:
        expected = {
            k: 0.9 * expected[k] + 0.1 * v.double()
            for k, v in snapshot.items()
        }
    averaged = average.model.state_dict()
    for name in ("0.weight", "3.bias", "1.running_mean", "1.running_var"):
        torch.testing.assert_close(
            averaged[name].double(), expected[name], rtol=1e-5, atol=1e-6
        )
    assert not torch.equal(
        averaged["0.weight"], snapshots[-1]["0.weight"]
    )  # not the last raw weights


def test_with_a_weight_average_the_averaged_weights_are_validated_and_kept():
    model = mlp()
    average = WeightAverage(0.5)
    scored = []

    def validate(m):
        scored.append(
            "average"
            if m is average.model
            else "raw"
            if m is model
            else "other"
        )
        return {2: 0.2, 4: 0.6, 6: 0.4}[trainer.step] + (
            0.05 if m is model else 0.0
        )

    selection = ModelSelection(validate, every=2)
    trainer = Trainer(
        model,
        make_objective("batch_hard", MARGIN),
        torch.optim.Adam(model.parameters(), lr=1e-2),
        device="cpu",
        log_every=1,
        callbacks=[average, selection],
    )
    kept = OnSteps(
        lambda t: kept_state.update(
            {k: v.clone() for k, v in average.model.state_dict().items()}
        ),
        [4],
    )
    kept_state = {}
    trainer.callbacks.insert(1, kept)
    history = trainer.fit(blob_batches(0), 6)
    assert scored == ["raw", "average"] * 3
    assert history.validation == [(2, 0.2), (4, 0.6), (6, 0.4)]
    assert [s for _, s in history.validation_raw] == pytest.approx(
        [0.25, 0.65, 0.45]
    )
    for (
        key,
        value,
    ) in (
        model.state_dict().items()
    ):  # the averaged weights of step 4, not the raw ones
        torch.testing.assert_close(value, kept_state[key])


def test_a_weight_average_updates_before_the_selection_wherever_it_is_listed():
    def kept_weights(order):
        model, average = mlp(), WeightAverage(0.5)
        selection = ModelSelection(
            lambda m: {2: 0.2, 4: 0.6, 6: 0.4}[trainer.step], every=2
        )
        trainer = Trainer(
            model,
            make_objective("batch_hard", MARGIN),
            torch.optim.Adam(model.parameters(), lr=1e-2),
            device="cpu",
            log_every=1,
            callbacks=order(average, selection),
        )
        assert trainer.callbacks[0] is average
        trainer.fit(blob_batches(0), 6)
        return model.state_dict()

    first, last = (
        kept_weights(lambda a, s: [a, s]),
        kept_weights(lambda a, s: [s, a]),
    )
    assert all(torch.equal(first[k], last[k]) for k in first)


def test_without_a_selection_the_model_and_its_checkpoints_end_with_the_average(
    tmp_path,
):
    model, average = mlp(), WeightAverage(0.8)
    tiny_fit(model, checkpoint_path=tmp_path / "m.pt", callbacks=[average])
    saved = load_checkpoint(tmp_path / "m.pt")[0].state_dict()
    for key, value in average.model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)
        torch.testing.assert_close(saved[key], value)
    raw = mlp()
    tiny_fit(
        raw
    )  # the same training without the average: the raw weights it ended with
    assert not torch.equal(
        raw.state_dict()["net.0.weight"], model.state_dict()["net.0.weight"]
    )


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, math.nan])
def test_weight_average_refuses_a_decay_outside_0_1(decay):
    with pytest.raises(
        ValueError, match="decay must be a finite number > 0 and < 1"
    ):
        WeightAverage(decay)


# ----------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip_gives_equal_outputs(tmp_path):
    torch.manual_seed(0)
    model = ConvEncoder(
        width=4, blocks=2, embedding_dim=3, normalize=True, image_size=8
    )
    model(torch.rand(4, 1, 8, 8))  # update the batch-norm running statistics
    model.eval()
    history = History(
        step=[1], seconds=[0.1], values={"loss": [0.5]}, validation=[(1, 0.25)]
    )
    save_checkpoint(
        tmp_path / "c.pt",
        model,
        {"loss": "batch_hard"},
        history,
        {"step": 1, "score": 0.25},
    )
    loaded, checkpoint = load_checkpoint(tmp_path / "c.pt")
    assert (
        isinstance(loaded, ConvEncoder) and loaded.config() == model.config()
    )
    x = torch.rand(5, 1, 8, 8)
    torch.testing.assert_close(loaded(x), model(x))
    assert checkpoint["config"] == {"loss": "batch_hard"}
    assert checkpoint["history"] == history and checkpoint["selected"] == {
        "step": 1,
        "score": 0.25,
    }
    assert [p.name for p in tmp_path.iterdir()] == [
        "c.pt"
    ]  # no temporary file left behind


def test_failed_save_leaves_the_previous_checkpoint_intact(
    tmp_path, monkeypatch
):
    path = tmp_path / "c.pt"
    old = mlp(seed=1)
    save_checkpoint(path, old, {"version": "old"})

    def failing_save(obj, file, *args, **kwargs):
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, mlp(seed=2), {"version": "new"})
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
    loaded, checkpoint = load_checkpoint(path)
    assert checkpoint["config"] == {"version": "old"}
    x = blobs(2, 0)[0]
    torch.testing.assert_close(loaded(x), old(x))


def test_load_checkpoint_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_load_checkpoint_corrupted_file(tmp_path, damage):
    path = tmp_path / "c.pt"
    save_checkpoint(path, mlp(), {})
    data = path.read_bytes()
    path.write_bytes(
        data[: len(data) // 2]
        if damage == "truncate"
        else b"not a checkpoint at all"
    )
    with pytest.raises(ValueError, match="could not be read as a checkpoint"):
        load_checkpoint(path)


def test_load_checkpoint_rejects_other_torch_files(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a siamese_tutorial checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_save_checkpoint_rejects_models_it_cannot_rebuild(tmp_path):
    with pytest.raises(ValueError, match="cannot checkpoint a Sequential"):
        save_checkpoint(tmp_path / "c.pt", torch.nn.Sequential(), {})


# ----------------------------------------------------------------------------- history, seeds


def test_history_round_trips_through_json():
    history = History(
        step=[10, 20],
        seconds=[0.1, 0.2],
        validation=[(20, 0.75)],
        values={
            "loss": [1.0, 0.5],
            "active_fraction": [0.9, 0.4],
            "lr": [1e-3, 5e-4],
        },
    )
    assert (
        History.from_dict(json.loads(json.dumps(history.to_dict()))) == history
    )
    frame = history.as_dataframe()
    assert list(frame.columns) == [
        "step",
        "seconds",
        "loss",
        "active_fraction",
        "lr",
    ]
    assert (
        frame["loss"].tolist() == [1.0, 0.5] == history["loss"] == history.loss
    )
    assert History().best_validation is None
    with pytest.raises(AttributeError, match="History has no 'accuracy'"):
        history.accuracy


def test_history_pads_values_that_start_or_stop_with_nan():
    history = History()
    history.append(1, 0.1, {"loss": 1.0})
    history.append(2, 0.2, {"loss": 0.5, "batch_accuracy": 0.25})
    assert (
        history.loss == [1.0, 0.5]
        and math.isnan(history.batch_accuracy[0])
        and history.batch_accuracy[1] == 0.25
    )


def test_seed_everything_repeats_all_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    seed_everything(7)
    first = draw()
    seed_everything(7)
    assert draw() == first


def test_default_device():
    assert default_device().type == (
        "cuda" if torch.cuda.is_available() else "cpu"
    )


# ----------------------------------------------------------------------------- callbacks, devices


def test_on_steps_takes_snapshots_in_one_run():
    model, snapshots = mlp(), {}
    probe = blobs(2, 9)[0]

    def snapshot(trainer):
        with torch.no_grad():
            snapshots[trainer.step] = trainer.model(probe).clone()

    history = tiny_fit(
        model, steps=5, callbacks=[OnSteps(snapshot, steps=(1, 3, 5))]
    )
    assert sorted(snapshots) == [1, 3, 5] and history.step == [1, 2, 3, 4, 5]
    with torch.no_grad():
        torch.testing.assert_close(snapshots[5], model(probe))
    assert not torch.allclose(snapshots[1], snapshots[5])


def test_a_training_step_reads_nothing_from_the_device(monkeypatch):
    # On a GPU each .item(), bool() or .tolist() waits for the device. Apart from the check of the
    # first batch, the loop reads values only at log steps: count the package's reads per step for
    # the recipe's objectives, with the objective set as on a GPU. (Adam reads its step count, a
    # CPU tensor even on a GPU, which costs no wait.)
    reads = []
    trainer = None
    for name in (
        "item",
        "tolist",
        "__bool__",
        "__float__",
        "__int__",
        "__index__",
        "numpy",
    ):
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _original=original, **kwargs):
            if "siamese_tutorial" in sys._getframe(1).f_code.co_filename:
                reads.append(trainer.step)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    for loss in ("semi_hard", "batch_hard", "batch_hard_soft", "contrastive"):
        model = mlp()
        batches = list(itertools.islice(blob_batches(1), 30))
        objective = make_objective(loss, 0.2)
        objective.check_every_batch = False
        trainer = Trainer(
            model,
            objective,
            torch.optim.Adam(model.parameters()),
            device="cpu",
            log_every=10,
        )
        reads.clear()
        trainer.fit(batches, 30)
        assert set(reads) <= {0, 10, 20, 30}, (loss, sorted(set(reads)))
        assert {10, 20, 30} <= set(
            reads
        )  # the counting works: log steps do read


def test_resolve_device_says_what_is_available():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device(None) == default_device()
    with pytest.raises(ValueError, match="'foo' is not a device"):
        resolve_device("foo")
    if not torch.cuda.is_available():
        with pytest.raises(
            ValueError,
            match="device 'cuda' is not available on this machine; use 'cpu'",
        ):
            resolve_device("cuda")
    if not torch.backends.mps.is_available():
        with pytest.raises(ValueError, match="device 'mps' is not available"):
            resolve_device("mps")


def test_a_softmax_classifier_trains_and_checkpoints(tmp_path):
    torch.manual_seed(0)
    model = SoftmaxClassifier(
        MLPEncoder(10, hidden=(16,), embedding_dim=4), num_classes=4
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = fit(
        model,
        blob_batches(2, k=8),
        make_objective("softmax"),
        optimizer,
        steps=40,
        device="cpu",
        progress=False,
        log_every=10,
        checkpoint_path=tmp_path / "c.pt",
    )
    assert (
        history.batch_accuracy[-1] > 0.9
        and "active_fraction" not in history.values
    )
    loaded, _ = load_checkpoint(tmp_path / "c.pt")
    assert isinstance(loaded, SoftmaxClassifier) and loaded.num_classes == 4
    x = blobs(2, 3)[0]
    torch.testing.assert_close(loaded.embed(x), model.eval().embed(x))


FAULTS = """
import resource, sys, torch
from siamese_tutorial.models import ConvEncoder
from siamese_tutorial.training import keep_freed_memory
torch.set_num_threads(1)
print(keep_freed_memory() if sys.argv[1] == "keep" else None)
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
encoder = ConvEncoder(width=64, image_size=40)  # the recipe's encoder and batch
images = torch.rand(128, 1, 40, 40)
def step():
    encoder.zero_grad()
    encoder(images).sum().backward()
step()  # the first step's memory is faulted in either way
before = faults()
for _ in range(3):
    step()
print((faults() - before) // 3)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc")
def test_keep_freed_memory_stops_most_page_faults_of_a_training_step():
    def run(mode):
        out = subprocess.run(
            [sys.executable, "-c", FAULTS, mode],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.split()

    took, kept = run("keep")
    _, plain = run("plain")
    assert took == "True"
    # measured: 69,000 faults a step (the activations mapped afresh), 8,500 when they are kept
    assert int(plain) > 30_000 and int(kept) < int(plain) / 4


def test_keep_freed_memory_leaves_the_results_unchanged(tmp_path):
    script = f"""
import sys, torch
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from test_recipe import tiny_config, tiny_images
from siamese_tutorial import training
from siamese_tutorial.recipe import train_encoder
torch.set_num_threads(1)
if sys.argv[1] == "plain":
    training.keep_freed_memory = lambda: False
    import siamese_tutorial.recipe as recipe
    recipe.keep_freed_memory = training.keep_freed_memory
encoder, _ = train_encoder(tiny_config(steps=6), tiny_images(), progress=False)
torch.save(encoder.state_dict(), sys.argv[2])
"""
    for mode in ("keep", "plain"):
        subprocess.run(
            [sys.executable, "-c", script, mode, str(tmp_path / f"{mode}.pt")],
            check=True,
        )
    kept, plain = (
        torch.load(tmp_path / f"{mode}.pt", weights_only=True)
        for mode in ("keep", "plain")
    )
    assert kept.keys() == plain.keys() and all(
        torch.equal(kept[k], plain[k]) for k in kept
    )
