"""Stopping a training and resuming it: SIGTERM and Ctrl-C wait for the end of a step, so that a resumed
run is bit-identical on the CPU to an uninterrupted one; a resume refuses data that changed."""

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

from siamese_tutorial import cli
from siamese_tutorial.data import LabelledImages
from siamese_tutorial.recipe import TrainConfig, train_encoder
from siamese_tutorial.training import Callback, load_checkpoint

TINY = [
    "--image-size",
    "8",
    "--blocks",
    "1",
    "--width",
    "2",
    "--embedding-dim",
    "4",
    "--no-rotations",
    "--p",
    "2",
    "--k",
    "2",
    "--validation-episodes",
    "2",
    "--log-every",
    "1",
    "--quiet",
]

pytestmark = pytest.mark.usefixtures("one_thread")


def make_folder(root, classes=5, per_class=3):
    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            rng = np.random.default_rng(100 * c + i)
            values = np.where(rng.random((8, 8)) < 0.3, 0, 255).astype(
                np.uint8
            )
            Image.fromarray(values).save(root / f"c{c}" / f"{i}.png")
    return root


def tiny_images(classes=5, per_class=4):
    generator = torch.Generator().manual_seed(0)
    return LabelledImages(
        images=(
            torch.rand(classes * per_class, 1, 8, 8, generator=generator) > 0.7
        ).float(),
        labels=torch.arange(classes).repeat_interleave(per_class),
        class_names=[f"c{c}" for c in range(classes)],
        group_names=["all"],
        class_group=torch.zeros(classes, dtype=torch.int64),
    )


def tiny_config(**kwargs):
    return TrainConfig(
        **{
            **dict(
                p=2,
                k=2,
                image_size=8,
                width=2,
                blocks=1,
                embedding_dim=4,
                steps=8,
                validate_every=4,
                log_every=1,
                device="cpu",
                rotations=False,
            ),
            **kwargs,
        }
    )


def checkpoint_state(path):
    model, checkpoint = load_checkpoint(path)
    resume = checkpoint["resume"]
    return (
        model.state_dict(),
        resume["model"],
        checkpoint["history"].values,
        resume["optimizer"]["state"],
    )


def assert_same_training(a, b):
    (
        (selected_a, latest_a, history_a, adam_a),
        (selected_b, latest_b, history_b, adam_b),
    ) = a, b
    for x, y in ((selected_a, selected_b), (latest_a, latest_b)):
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
    assert history_a == history_b
    assert all(
        torch.equal(adam_a[p][k], adam_b[p][k])
        for p in adam_a
        for k in adam_a[p]
    )


class TermInTheMiddleOfAStep(Callback):
    """Sends SIGTERM to this process from inside the forward pass of a given step (mid-step)."""

    def __init__(self, step):
        self.step = step

    def on_train_start(self, trainer):
        def hook(module, inputs, output):
            if trainer.model.training and trainer.step == self.step:
                os.kill(os.getpid(), signal.SIGTERM)

        trainer.model.register_forward_hook(hook)


@pytest.fixture
def sigterm_stops():
    """SIGTERM raises KeyboardInterrupt, as the command line's `train` makes it."""

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_sigterm_in_the_middle_of_a_step_stops_at_its_end_and_resumes_bit_identically(
    tmp_path, sigterm_stops
):
    config = tiny_config()
    train_encoder(
        config, tiny_images(), None, tmp_path / "full.pt", progress=False
    )
    with pytest.raises(KeyboardInterrupt):
        train_encoder(
            config,
            tiny_images(),
            None,
            tmp_path / "part.pt",
            progress=False,
            callbacks=[TermInTheMiddleOfAStep(5)],
        )
    stopped = load_checkpoint(tmp_path / "part.pt")[1]
    assert (
        stopped["steps_trained"] == 6 and not stopped["complete"]
    )  # step 6 was under way: it was finished
    train_encoder(
        config,
        tiny_images(),
        None,
        tmp_path / "part.pt",
        resume=True,
        progress=False,
    )
    assert_same_training(
        checkpoint_state(tmp_path / "full.pt"),
        checkpoint_state(tmp_path / "part.pt"),
    )


def test_a_second_signal_stops_at_once_and_keeps_the_last_whole_checkpoint(
    tmp_path, sigterm_stops
):
    class TwiceMidStep(TermInTheMiddleOfAStep):
        def on_train_start(self, trainer):
            def hook(module, inputs, output):
                if trainer.model.training and trainer.step == self.step:
                    os.kill(os.getpid(), signal.SIGTERM)
                    os.kill(os.getpid(), signal.SIGTERM)

            trainer.model.register_forward_hook(hook)

    with pytest.raises(KeyboardInterrupt):
        train_encoder(
            tiny_config(),
            tiny_images(),
            None,
            tmp_path / "part.pt",
            progress=False,
            callbacks=[TwiceMidStep(5)],
        )
    assert (
        load_checkpoint(tmp_path / "part.pt")[1]["steps_trained"] == 4
    )  # the periodic one, not a mid-step state
    assert (
        signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    )  # the handler is given back


def test_sigterm_to_a_real_training_at_any_moment_then_resume_equals_an_uninterrupted_run(
    tmp_path, capsys
):
    pics = make_folder(tmp_path / "pics")
    recipe = [
        "--data",
        str(pics),
        *TINY,
        "--steps",
        "120",
        "--validate-every",
        "5",
    ]
    part = tmp_path / "part.pt"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "siamese_tutorial",
            "train",
            *recipe,
            "--out",
            str(part),
        ],
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    while (
        not part.exists() and child.poll() is None
    ):  # the first checkpoint: training is under way
        time.sleep(0.01)
    time.sleep(
        random.uniform(0, 0.1)
    )  # then a random moment, most likely in the middle of a step
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130 and "continue with" in err.decode(), (
        err.decode()
    )
    assert load_checkpoint(part)[1]["steps_trained"] < 120
    assert cli.main(["train", "--resume", "--out", str(part), "--quiet"]) == 0
    assert (
        cli.main(["train", *recipe, "--out", str(tmp_path / "full.pt")]) == 0
    )
    assert_same_training(
        checkpoint_state(tmp_path / "full.pt"), checkpoint_state(part)
    )


def test_resume_refuses_a_data_folder_whose_classes_changed(tmp_path, capsys):
    pics = make_folder(tmp_path / "pics")
    out = tmp_path / "m.pt"
    assert (
        cli.main(
            [
                "train",
                "--data",
                str(pics),
                *TINY,
                "--steps",
                "2",
                "--validate-every",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    make_folder(pics, classes=7)  # two classes more
    before = out.read_bytes()
    capsys.readouterr()
    assert cli.main(["train", "--resume", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert (
        "the training data changed since the training stopped" in err
        and err.count("\n") == 1
    ), err
    assert out.read_bytes() == before


def test_a_stopped_classifier_resumed_on_a_folder_with_more_classes_is_one_clear_line(
    tmp_path,
):
    # Issue 36, 9: `--loss softmax` stopped, classes added, `--resume`: a torch "size mismatch for head.bias" traceback.
    pics = make_folder(tmp_path / "pics", classes=6)
    out = tmp_path / "m.pt"
    argv = [
        sys.executable,
        "-m",
        "siamese_tutorial",
        "train",
        "--data",
        str(pics),
        *TINY,
        "--loss",
        "softmax",
        "--steps",
        "5000",
        "--validate-every",
        "5",
        "--out",
        str(out),
    ]
    child = subprocess.Popen(
        argv,
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while (
        not out.exists() and child.poll() is None
    ):  # the first checkpoint: training is under way
        time.sleep(0.01)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    make_folder(pics, classes=9)  # three classes more
    before = out.read_bytes()
    done = subprocess.run(
        [*argv, "--resume"],
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
    )
    assert (
        done.returncode == 2
        and done.stderr.count("\n") == 1
        and "Traceback" not in done.stderr
    ), done.stderr
    assert done.stderr.startswith(
        "error: the training data changed since the training stopped"
    ), done.stderr
    assert out.read_bytes() == before
