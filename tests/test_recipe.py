"""Tests of siamese_tutorial.recipe: the settings, train_encoder, resuming, validation and cards."""

import itertools
import math
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from siamese_tutorial.data import LabelledImages, PKBatches
from siamese_tutorial.files import sha256_file
from siamese_tutorial.models import ConvEncoder
from siamese_tutorial.recipe import (
    TrainConfig,
    Validation,
    card_path,
    make_card,
    train_encoder,
)
from siamese_tutorial.training import (
    Callback,
    load_checkpoint,
)

ROOT = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_images(classes=6, per_class=4, size=16, seed=0, groups=1):
    generator = torch.Generator().manual_seed(seed)
    images = (
        torch.rand(classes * per_class, 1, size, size, generator=generator)
        > 0.8
    ).float()
    return LabelledImages(
        images=images,
        labels=torch.arange(classes).repeat_interleave(per_class),
        class_names=[f"Alpha/character{c + 1:02d}" for c in range(classes)],
        group_names=[f"Alpha{g}" for g in range(groups)],
        class_group=torch.arange(classes) % groups,
        drawers=torch.arange(per_class).repeat(classes),
    )


def tiny_config(**kwargs):
    options = dict(
        p=3,
        k=2,
        image_size=16,
        width=4,
        blocks=2,
        embedding_dim=8,
        steps=4,
        device="cpu",
        log_every=1,
        validate_every=2,
        validation_episodes=3,
    )
    options.update(kwargs)
    return TrainConfig(**options)


def weights(path):
    return load_checkpoint(path)[0].state_dict()


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- settings


def test_train_config_round_trips_and_refuses_unknown_settings():
    config = tiny_config(loss="batch_all", margin=0.3)
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert "device" not in config.recipe() and config.recipe()["margin"] == 0.3
    with pytest.raises(
        ValueError, match=r"unknown training settings \['minutes'\]"
    ):
        TrainConfig.from_dict({**config.to_dict(), "minutes": 30})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"p": 1}, "p and k must be >= 2"),
        ({"k": 1}, "p and k must be >= 2"),
        ({"margin": -0.1}, "margin must be a finite number > 0"),
        ({"margin": math.inf}, "margin must be a finite number > 0; got inf"),
        ({"loss": "hinge"}, "unknown loss 'hinge'"),
        (
            {"loss": "contrastive", "squared": True},
            "squared=True applies to triplet losses only",
        ),
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"lr": 0.0}, "lr must be a finite number > 0"),
        ({"lr": math.inf}, "lr must be a finite number > 0; got inf"),
        ({"lr": math.nan}, "lr must be a finite number > 0; got nan"),
        ({"weight_decay": -1.0}, "weight_decay must be a finite number >= 0"),
        ({"ema": 1.0}, "ema must be a finite number >= 0 and < 1; got 1.0"),
        ({"ema": -0.1}, "ema must be a finite number >= 0 and < 1"),
        (
            {"distortion": -0.5},
            "distortion must be a finite number >= 0 and < 10",
        ),
        (
            {"distortion": 10.0},
            "distortion must be a finite number >= 0 and < 10; got 10.0",
        ),
        ({"validate_every": 0}, "validate_every must be an integer >= 1"),
        (
            {"validation_episodes": 0},
            "validation_episodes must be an integer >= 1",
        ),
        ({"image_size": 8, "blocks": 4}, "image_size must be >= 16"),
        ({"embedding_dim": 0}, "embedding_dim must be an integer >= 1"),
    ],
)
def test_train_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny_config(**kwargs)


# ----------------------------------------------------------------------------- training


def test_train_encoder_on_tiny_images(tmp_path):
    config = tiny_config(steps=4, lr=1e-2)
    scores = iter([0.2, 0.1])
    encoder, history = train_encoder(
        config,
        tiny_images(),
        validation=lambda model: next(scores),
        checkpoint_path=tmp_path / "enc.pt",
        progress=False,
    )
    assert isinstance(encoder, ConvEncoder) and encoder.embedding_dim == 8
    assert history.step == [1, 2, 3, 4] and history.validation == [
        (2, 0.2),
        (4, 0.1),
    ]
    assert all(math.isfinite(v) for v in history.loss)
    # cosine schedule: the lr used at step t is lr * (1 + cos(pi (t - 1) / T)) / 2
    assert history.lr == pytest.approx(
        [1e-2 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(4)]
    )
    loaded, checkpoint = load_checkpoint(tmp_path / "enc.pt")
    assert (
        checkpoint["config"] == config.to_dict()
        and checkpoint["selected"]["step"] == 2
    )
    assert checkpoint["complete"] and checkpoint["steps_trained"] == 4
    encoder.eval()
    x = torch.rand(3, 1, 16, 16)
    torch.testing.assert_close(loaded(x), encoder(x))


def test_train_encoder_is_reproducible_on_cpu():
    def losses(seed):
        _, history = train_encoder(
            tiny_config(seed=seed), tiny_images(), progress=False
        )
        return history.loss, history.active_fraction

    assert losses(0) == losses(0)
    assert losses(0) != losses(1)


def test_train_encoder_trains_a_softmax_classifier_and_returns_its_encoder():
    encoder, history = train_encoder(
        tiny_config(loss="softmax", normalize=False, rotations=False),
        tiny_images(),
        progress=False,
    )
    assert (
        isinstance(encoder, ConvEncoder) and "batch_accuracy" in history.values
    )


def test_train_encoder_draws_from_the_mirror_images_and_distortions_it_is_told(
    monkeypatch,
):
    from siamese_tutorial import recipe

    drawn = {}

    def spy(data, *args, **kwargs):
        drawn.update(classes=data.class_names, distortion=kwargs["distortion"])
        return PKBatches(data, *args, **kwargs)

    monkeypatch.setattr(recipe, "PKBatches", spy)
    train_encoder(
        tiny_config(reflections=True, distortion=1.5, steps=1),
        tiny_images(classes=6),
        progress=False,
    )
    assert len(drawn["classes"]) == 6 * 8 and drawn["distortion"] == 1.5
    assert {
        "Alpha/character01@mirror",
        "Alpha/character01@mirror@rot270",
        "Alpha/character01@rot90",
    } <= set(drawn["classes"])
    train_encoder(tiny_config(steps=1), tiny_images(classes=6), progress=False)
    assert (
        len(drawn["classes"]) == 6 * 4 and drawn["distortion"] == 1.0
    )  # the recipe: rotations, no mirrors


def test_train_encoder_rejects_mismatched_image_size():
    with pytest.raises(
        ValueError, match=r"config.image_size is 28 .* image_size=28"
    ):
        train_encoder(
            tiny_config(image_size=28), tiny_images(size=16), progress=False
        )


def test_pk_batches_on_the_device_read_nothing_from_it(monkeypatch):
    # Sampling and distortions happen on the batches' device with their own generators: no value
    # is read back inside a step.
    reads = []
    for name in (
        "item",
        "tolist",
        "__bool__",
        "__float__",
        "__int__",
        "__index__",
    ):
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _original=original, **kwargs):
            if "siamese_tutorial" in sys._getframe(1).f_code.co_filename:
                reads.append(name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    batches = PKBatches(
        tiny_images(), p=3, k=2, seed=0, augment=True, group_batches=True
    )
    reads.clear()
    drawn = list(itertools.islice(batches, 5))
    assert reads == [] and all(
        images.shape == (6, 1, 16, 16) for images, _ in drawn
    )


# ----------------------------------------------------------------------------- resuming


class StopAt(Callback):
    """Ctrl-C after a given step."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, trainer):
        if trainer.step == self.step:
            raise KeyboardInterrupt


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_an_interrupted_training_resumes_to_the_same_weights(tmp_path, ema):
    config = tiny_config(steps=12, validate_every=4, log_every=2, ema=ema)
    validation = Validation(tiny_images(seed=5), episodes=2, n_way=3)
    full, history = train_encoder(
        config, tiny_images(), validation, tmp_path / "full.pt", progress=False
    )
    with pytest.raises(
        KeyboardInterrupt
    ):  # between two checkpoints: the interrupt writes one
        train_encoder(
            config,
            tiny_images(),
            validation,
            tmp_path / "part.pt",
            progress=False,
            callbacks=[StopAt(7)],
        )
    stopped = load_checkpoint(tmp_path / "part.pt")[1]
    assert stopped["steps_trained"] == 7 and not stopped["complete"]
    resumed, resumed_history = train_encoder(
        config,
        tiny_images(),
        validation,
        tmp_path / "part.pt",
        resume=True,
        progress=False,
    )
    assert same_weights(
        weights(tmp_path / "full.pt"), weights(tmp_path / "part.pt")
    )
    assert (
        resumed_history.loss == history.loss
        and resumed_history.validation == history.validation
    )
    assert resumed_history.validation_raw == history.validation_raw and bool(
        history.validation_raw
    ) == bool(ema)


def test_a_killed_training_resumes_from_its_last_checkpoint(tmp_path):
    # A real SIGKILL, after the checkpoint of step 8 and during the writing of the next one: the
    # half-written file is left as a .part, the checkpoint of step 8 is intact, and resuming from
    # it ends with the weights of an uninterrupted run; the next writer removes the dead .part.
    script = textwrap.dedent(f"""
        import os, signal, sys, torch
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from test_recipe import tiny_config, tiny_images
        from siamese_tutorial.recipe import train_encoder
        torch.set_num_threads(1)
        original = torch.save
        def save(obj, file, *args, **kwargs):
            if obj["steps_trained"] == 12:
                file.write(b"half a checkpoint")
                file.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            original(obj, file, *args, **kwargs)
        torch.save = save
        train_encoder(tiny_config(steps=16, validate_every=4, log_every=2), tiny_images(), None, {str(tmp_path / "part.pt")!r}, progress=False)
    """)
    child = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    parts = list(tmp_path.glob(".part.pt.*.part"))
    assert (
        len(parts) == 1
        and load_checkpoint(tmp_path / "part.pt")[1]["steps_trained"] == 8
    )
    config = tiny_config(steps=16, validate_every=4, log_every=2)
    train_encoder(
        config, tiny_images(), None, tmp_path / "full.pt", progress=False
    )
    train_encoder(
        config,
        tiny_images(),
        None,
        tmp_path / "part.pt",
        resume=True,
        progress=False,
    )
    assert same_weights(
        weights(tmp_path / "full.pt"), weights(tmp_path / "part.pt")
    )
    assert not list(tmp_path.glob("*.part"))


def test_averaged_weights_without_a_validation_are_kept_not_dropped(tmp_path):
    averaged, _ = train_encoder(
        tiny_config(ema=0.9),
        tiny_images(),
        None,
        tmp_path / "m.pt",
        progress=False,
    )
    raw, _ = train_encoder(
        tiny_config(), tiny_images(), None, progress=False
    )  # the same steps, not averaged
    assert not same_weights(averaged.state_dict(), raw.state_dict())
    assert same_weights(averaged.state_dict(), weights(tmp_path / "m.pt"))


def test_resume_refuses_another_recipe_or_a_file_without_state(tmp_path):
    path = tmp_path / "m.pt"
    train_encoder(
        tiny_config(steps=2), tiny_images(), None, path, progress=False
    )
    with pytest.raises(
        ValueError, match=r"another recipe \(margin 0.2 there, 0.5 now\)"
    ):
        train_encoder(
            tiny_config(steps=2, margin=0.5),
            tiny_images(),
            None,
            path,
            resume=True,
            progress=False,
        )
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["resume"] = None
    torch.save(checkpoint, path)
    with pytest.raises(
        ValueError, match="holds no training state to resume from"
    ):
        train_encoder(
            tiny_config(steps=2),
            tiny_images(),
            None,
            path,
            resume=True,
            progress=False,
        )
    with pytest.raises(
        ValueError, match="resume=True needs the checkpoint_path"
    ):
        train_encoder(
            tiny_config(steps=2), tiny_images(), resume=True, progress=False
        )


# ----------------------------------------------------------------------------- validation and cards


def test_validation_is_runs_style_where_the_drawers_are_known():
    with_drawers = tiny_images(classes=8, groups=2)
    assert Validation(with_drawers, episodes=2, n_way=3).style == "runs"
    without = LabelledImages(
        with_drawers.images,
        with_drawers.labels,
        with_drawers.class_names,
        with_drawers.group_names,
        with_drawers.class_group,
    )
    validation = Validation(without, episodes=2, n_way=3)
    assert (
        validation.style == "random"
        and "random-style" in validation.describe()
    )
    score = validation(ConvEncoder(width=4, blocks=2, image_size=16))
    assert 0 <= score <= 1
    with pytest.raises(ValueError, match="unknown episode style"):
        Validation(without, style="drawers")


def test_card_records_the_checkpoint_it_belongs_to(tmp_path):
    config = tiny_config(steps=2)
    validation = Validation(tiny_images(seed=3), episodes=2, n_way=3)
    _, history = train_encoder(
        config, tiny_images(), validation, tmp_path / "m.pt", progress=False
    )
    card = make_card(
        "python -m siamese_tutorial train ...",
        config,
        tmp_path / "m.pt",
        history,
        validation,
        {},
    )
    assert card["checkpoint_sha256"] == sha256_file(tmp_path / "m.pt")
    assert (
        card["validation"]["step_kept"] in (1, 2)
        and card["steps_trained"] == 2
    )
    assert card_path(tmp_path / "m.pt") == tmp_path / "m.json"
    with pytest.raises(ValueError, match="must end in .pt"):
        card_path(tmp_path / "m.json")
