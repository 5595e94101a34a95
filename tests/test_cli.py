"""The command line: python -m siamese_tutorial download | train | evaluate | export.

Every mistake a user can make must end with exit status 2 and one line on stderr that says what
was wrong, never a traceback; nothing may be lost or half-written.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from siamese_tutorial import __version__, cli, pretrained
from siamese_tutorial.files import sha256_file
from siamese_tutorial.models import MLPEncoder
from siamese_tutorial.training import load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parent.parent
TINY = [
    "--loss",
    "semi_hard",
    "--steps",
    "4",
    "--p",
    "4",
    "--k",
    "2",
    "--width",
    "8",
    "--embedding-dim",
    "16",
    "--image-size",
    "28",
    "--no-rotations",
    "--validate-every",
    "2",
    "--validation-episodes",
    "3",
    "--quiet",
]


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys, *argv, match):
    code, _, err = run(capsys, *argv)
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert match in err, err
    return err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny checkpoint and its card, trained once by the command line."""
    out = tmp_path_factory.mktemp("trained") / "tiny.pt"
    assert (
        cli.main(
            [
                "train",
                *TINY,
                "--group-batches",
                "--seed",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return out


def test_version_and_help(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"siamese_tutorial {__version__}"
    code, out, _ = run(capsys, "train", "--help")
    assert (
        code == 0
        and "--margin" in out
        and "(default: 0.2)" in out
        and "--resume" in out
    )


def test_download_is_a_no_op_when_the_files_are_there(capsys):
    code, out, _ = run(capsys, "download", "all_runs")
    assert code == 0 and "all_runs.zip" in out


def test_train_writes_checkpoint_and_card(trained):
    card = json.loads(trained.with_suffix(".json").read_text())
    assert card["command"].startswith("python -m siamese_tutorial train ")
    assert (
        "--group-batches" in card["command"] and "--seed 1" in card["command"]
    )
    assert card["config"]["loss"] == "semi_hard" and card["steps_trained"] == 4
    assert card["config"]["group_batches"] and not card["config"]["rotations"]
    assert (
        card["validation"]["step_kept"] in (2, 4)
        and 0 <= card["validation"]["accuracy"] <= 1
    )
    assert "runs-style" in card["validation"]["task"]
    assert card["checkpoint_sha256"] == sha256_file(trained)


def test_the_recorded_command_trains_the_same_weights(
    trained, tmp_path, capsys
):
    card = json.loads(trained.with_suffix(".json").read_text())
    argv = card["command"].split()[3:]
    argv[argv.index("--out") + 1] = str(tmp_path / "again.pt")
    assert run(capsys, *argv, "--quiet")[0] == 0
    again, first = (
        load_checkpoint(tmp_path / "again.pt")[0],
        load_checkpoint(trained)[0],
    )
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            again.state_dict().values(), first.state_dict().values()
        )
    )


def test_evaluate_reports_both_kinds_of_validation_episodes(
    trained, tmp_path, capsys
):
    report = tmp_path / "report.json"
    code, out, _ = run(
        capsys,
        "evaluate",
        trained,
        "--validation",
        "--episodes",
        "3",
        "--shifts",
        "1",
        "--json",
        report,
    )
    assert code == 0 and "runs-style" in out and "random-style" in out
    content = json.loads(report.read_text())
    assert (
        set(content["validation"]) == {"runs", "random"}
        and content["shifts"] == 1
    )


def test_export_scores_the_runs_once_and_ships_without_training_state(
    trained, tmp_path, capsys
):
    folder = tmp_path / "shipped"
    code, out, _ = run(
        capsys,
        "export",
        trained,
        "--name",
        "tiny",
        "--shifts",
        "1",
        "--to",
        folder,
    )
    assert code == 0 and "shipped as tiny" in out
    card = pretrained.available_pretrained(folder)["tiny"]
    assert (
        card["runs"]["total"] == 400
        and card["runs"]["shifts"] == card["validation"]["shifts"] == 1
    )
    assert set(card["validation"]["with_shifts"]) == {"runs", "random"}
    assert card["checkpoint_sha256"] == sha256_file(folder / "tiny.pt")
    assert pretrained.load_pretrained("tiny", folder).embedding_dim == 16
    assert load_checkpoint(folder / "tiny.pt")[1]["resume"] is None
    assert sorted(p.name for p in folder.iterdir()) == ["tiny.json", "tiny.pt"]


# ----------------------------------------------------------------------------- nothing lost


def test_export_to_a_full_disk_leaves_the_folder_as_it_was(
    trained, tmp_path, capsys, monkeypatch
):
    # Before: the weights were written, the card was not: weights without their card.
    folder = tmp_path / "shipped"
    folder.mkdir()
    (folder / "old.pt").write_bytes(b"an older export")

    def full(path, content):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cli, "write_json", full)
    one_line_error(
        capsys,
        "export",
        trained,
        "--name",
        "tiny",
        "--to",
        folder,
        match=f"could not write {folder / 'tiny.json'}: No space left on device",
    )
    assert sorted(p.name for p in folder.iterdir()) == ["old.pt"]


def test_a_card_can_never_overwrite_its_checkpoint(tmp_path, capsys):
    # Before: --out m.json wrote the card (m.json) over the weights and exited 0.
    one_line_error(
        capsys,
        "train",
        *TINY,
        "--out",
        tmp_path / "m.json",
        match="must end in .pt",
    )
    assert not list(tmp_path.iterdir())


def test_an_existing_checkpoint_is_not_silently_replaced(
    trained, tmp_path, capsys
):
    out = tmp_path / "m.pt"
    out.write_bytes(trained.read_bytes())
    before = out.read_bytes()
    one_line_error(
        capsys,
        "train",
        *TINY,
        "--out",
        out,
        match="exists: continue it with --resume, replace it with --overwrite",
    )
    assert out.read_bytes() == before


def test_overwrite_removes_the_old_card_once_new_weights_are_there(
    trained, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "m.pt"
    out.write_bytes(trained.read_bytes())
    out.with_suffix(".json").write_text(
        trained.with_suffix(".json").read_text()
    )

    def killed(
        config, *args, **kwargs
    ):  # killed right after the first checkpoint of the new run
        save_checkpoint(out, MLPEncoder(4), config.to_dict(), complete=False)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "train_encoder", killed)
    assert (
        run(
            capsys,
            "train",
            *TINY,
            "--margin",
            "0.3",
            "--overwrite",
            "--out",
            out,
        )[0]
        == 130
    )
    assert not out.with_suffix(
        ".json"
    ).exists()  # no old card beside new weights


def test_overwrite_with_a_full_disk_keeps_the_old_checkpoint_and_its_card(
    trained, tmp_path, capsys, monkeypatch
):
    # Issue 36, 2: the card was deleted before training; the new checkpoint could not be written: old weights, no card.
    out = tmp_path / "m.pt"
    out.write_bytes(trained.read_bytes())
    out.with_suffix(".json").write_text(
        trained.with_suffix(".json").read_text()
    )
    before = out.read_bytes(), out.with_suffix(".json").read_text()
    real_save = torch.save

    def full(content, file, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    one_line_error(
        capsys,
        "train",
        *TINY,
        "--margin",
        "0.3",
        "--overwrite",
        "--out",
        out,
        match=f"could not write {out}: No space left on device",
    )
    monkeypatch.setattr(torch, "save", real_save)
    assert (out.read_bytes(), out.with_suffix(".json").read_text()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.pt"]


def test_a_card_that_does_not_match_its_checkpoint_is_refused(
    trained, tmp_path, capsys
):
    # Before: re-training into the same --out and being killed left new weights beside the old card,
    # and export shipped them together.
    out = tmp_path / "m.pt"
    out.with_suffix(".json").write_text(
        trained.with_suffix(".json").read_text()
    )
    save_checkpoint(out, MLPEncoder(4), {})  # other weights
    one_line_error(
        capsys,
        "export",
        out,
        "--name",
        "x",
        "--to",
        tmp_path / "x",
        match="does not belong to",
    )
    folder = tmp_path / "shipped"
    folder.mkdir()
    (folder / "tiny.pt").write_bytes(out.read_bytes())
    (folder / "tiny.json").write_text(trained.with_suffix(".json").read_text())
    with pytest.raises(
        ValueError, match="is not the checkpoint its card tiny.json describes"
    ):
        pretrained.load_pretrained("tiny", folder)


@pytest.mark.parametrize(
    "name", ["../../x", "/tmp/abs", "", "a/b", "-rf", "ok name"]
)
def test_export_names_are_plain_names_never_paths(
    trained, tmp_path, capsys, name
):
    one_line_error(
        capsys,
        "export",
        trained,
        f"--name={name}",
        "--to",
        tmp_path / "shipped",
        match="plain name",
    )
    assert not (tmp_path / "shipped").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        ("{oops", "is not valid JSON"),
        ('{"command": "x"}', "not a complete card"),
        (
            '{"command": "x", "config": {}, "checkpoint_sha256": "0"}',
            "records no validation",
        ),
    ],
)
def test_export_of_a_damaged_training_card_is_one_clear_line(
    trained, tmp_path, capsys, content, message
):
    out = tmp_path / "m.pt"
    out.write_bytes(trained.read_bytes())
    out.with_suffix(".json").write_text(content)
    one_line_error(
        capsys,
        "export",
        out,
        "--name",
        "x",
        "--to",
        tmp_path / "x",
        match=message,
    )


def test_export_needs_a_finished_training(tmp_path, capsys):
    save_checkpoint(tmp_path / "m.pt", MLPEncoder(4), {})
    one_line_error(
        capsys,
        "export",
        tmp_path / "m.pt",
        "--name",
        "x",
        "--to",
        tmp_path,
        match="m.json is missing",
    )


def test_export_outside_a_checkout_needs_a_folder(
    trained, capsys, monkeypatch
):
    monkeypatch.setattr(cli, "_in_source_checkout", lambda: False)
    one_line_error(
        capsys, "export", trained, "--name", "x", match="give --to FOLDER"
    )


# ----------------------------------------------------------------------------- checked before the first step


def test_an_out_that_is_a_folder_fails_before_training(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(
        cli, "train_encoder", lambda *a, **k: pytest.fail("training started")
    )
    folder = tmp_path / "m.pt"
    folder.mkdir()
    one_line_error(
        capsys,
        "train",
        *TINY,
        "--overwrite",
        "--out",
        folder,
        match="is a folder",
    )


def test_a_read_only_out_fails_before_training(
    tmp_path, capsys, monkeypatch, read_only
):
    monkeypatch.setattr(
        cli, "train_encoder", lambda *a, **k: pytest.fail("training started")
    )
    folder = tmp_path / "locked"
    folder.mkdir()
    read_only(folder)
    one_line_error(
        capsys,
        "train",
        *TINY,
        "--out",
        folder / "m.pt",
        match="cannot be written",
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["download", "images"], "unknown split(s) ['images']"),
        (
            ["evaluate", "no-such-model", "--runs"],
            "neither a checkpoint file nor a shipped pretrained encoder",
        ),
        (
            ["evaluate", "triplet"],
            "--runs (the 20 official runs), --validation, or both",
        ),
        (
            ["evaluate", "triplet", "--runs", "--shifts", "40"],
            "--shifts 40 is not smaller than the 40-pixel images",
        ),
        (
            ["evaluate", "triplet", "--runs", "--shifts", "-1"],
            "argument --shifts: must be >= 0, got -1",
        ),
        (
            ["evaluate", "triplet", "--validation", "--episodes", "0"],
            "argument --episodes: must be >= 1, got 0",
        ),
        (["train", "--out", "x.pt", "--p", "1"], "p and k must be >= 2"),
        (
            ["train", "--out", "x.pt", "--loss", "hinge"],
            "invalid choice: 'hinge'",
        ),
        (
            ["train", "--out", "x.pt", "--margin", "inf"],
            "margin must be a finite number > 0; got inf",
        ),
        (
            ["train", "--out", "x.pt", "--lr", "inf"],
            "lr must be a finite number > 0; got inf",
        ),
        (
            ["train", "--out", "x.pt", "--lr", "nan"],
            "lr must be a finite number > 0; got nan",
        ),
        (
            ["train", "--out", "x.pt", "--steps", "ten"],
            "argument --steps: invalid int value: 'ten'",
        ),
        (
            ["train", "--out", "x.pt", "--validation-episodes", "0"],
            "validation_episodes must be an integer >= 1",
        ),
        (
            ["train", "--out", "x.pt", "--device", "foo"],
            "'foo' is not a device",
        ),
        (
            ["train", "--out", "x.pt", "--device", "mps"],
            "device 'mps' is not available on this machine",
        ),
        (
            ["train", "--out", "x.pt", "--resume"],
            "there is no checkpoint at x.pt to continue",
        ),
        (
            ["train", "--out", "x.pt", "--resume", "--overwrite"],
            "not allowed with argument",
        ),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_get_one_clear_line(
    argv, message, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    one_line_error(capsys, *argv, match=message)
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_one_clear_line(tmp_path, capsys):
    one_line_error(
        capsys,
        "train",
        "--device",
        "cuda",
        "--out",
        tmp_path / "m.pt",
        match="device 'cuda' is not available on this machine; use 'cpu'",
    )


def test_a_diverging_training_is_one_clear_line_and_saves_nothing(
    tmp_path, capsys
):
    one_line_error(
        capsys,
        "train",
        *TINY,
        "--lr",
        "1e30",
        "--out",
        tmp_path / "m.pt",
        match="training diverged",
    )
    assert not (tmp_path / "m.json").exists()


# ----------------------------------------------------------------------------- damaged files


def damage(path: Path, how: str) -> None:
    checkpoint = torch.load(path, weights_only=True)
    if how == "missing key":
        del checkpoint["architecture"]
    elif how == "wrong weights":
        checkpoint["state_dict"] = {"nothing": torch.zeros(1)}
    elif how == "wrong kwargs":
        checkpoint["architecture"]["encoder"]["kwargs"] = {"colour": 3}
    elif how == "nan weights":
        first = next(
            k
            for k, v in checkpoint["state_dict"].items()
            if v.is_floating_point()
        )
        checkpoint["state_dict"][first] = torch.full_like(
            checkpoint["state_dict"][first], float("nan")
        )
    torch.save(checkpoint, path)


@pytest.mark.parametrize(
    "how, message",
    [
        ("missing key", "damaged siamese_tutorial checkpoint (KeyError"),
        ("wrong weights", "damaged siamese_tutorial checkpoint (RuntimeError"),
        ("wrong kwargs", "damaged siamese_tutorial checkpoint (TypeError"),
        ("nan weights", "NaN or infinite"),
        ("truncated", "could not be read as a checkpoint"),
    ],
)
def test_damaged_checkpoints_are_one_clear_line(
    trained, tmp_path, capsys, how, message
):
    path = tmp_path / "m.pt"
    path.write_bytes(trained.read_bytes())
    if how == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    else:
        damage(path, how)
    one_line_error(capsys, "evaluate", path, "--runs", match=message)


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "not a complete card"),
        ('{"command": "x"}', "config, checkpoint_sha256 missing"),
    ],
)
def test_damaged_cards_are_one_clear_line(
    trained, tmp_path, capsys, monkeypatch, content, message
):
    folder = tmp_path / "shipped"
    folder.mkdir()
    (folder / "bad.json").write_text(content)
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", folder)
    one_line_error(capsys, "evaluate", "bad", "--runs", match=message)


def test_an_unwritable_json_report_fails_before_scoring(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(
        cli, "one_shot_accuracy", lambda *a, **k: pytest.fail("scored")
    )
    one_line_error(
        capsys,
        "evaluate",
        "triplet",
        "--runs",
        "--json",
        tmp_path,
        match="is a folder",
    )


def test_evaluate_a_checkpoint_that_fit_wrote_without_a_config(
    tmp_path, capsys
):
    # Before: KeyError: 'image_size'. The encoder knows its own image size.
    from siamese_tutorial.models import ConvEncoder

    save_checkpoint(
        tmp_path / "fit.pt",
        ConvEncoder(width=4, embedding_dim=8, image_size=28),
        {},
    )
    code, out, _ = run(capsys, "evaluate", tmp_path / "fit.pt", "--runs")
    assert code == 0 and "/400" in out
    save_checkpoint(tmp_path / "mlp.pt", MLPEncoder(4), {})
    one_line_error(
        capsys,
        "evaluate",
        tmp_path / "mlp.pt",
        "--runs",
        match="is not an image encoder",
    )


@pytest.mark.parametrize("where", ["before", "after"])
def test_data_dir_goes_before_or_after_the_command(tmp_path, capsys, where):
    argv = ["evaluate", "triplet", "--runs"]
    argv = (
        ["--data-dir", tmp_path, *argv]
        if where == "before"
        else [*argv, "--data-dir", tmp_path]
    )
    one_line_error(capsys, *argv, match=f"into {tmp_path}")


def test_the_module_runs_as_a_program_and_ctrl_c_is_not_a_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "siamese_tutorial", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0 and __version__ in done.stdout
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "siamese_tutorial",
            "train",
            "--out",
            str(tmp_path / "x.json"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert (
        bad.returncode == 2
        and bad.stderr.count("\n") == 1
        and "Traceback" not in bad.stderr
    )


def test_sigterm_saves_the_training_and_resume_finishes_it(tmp_path):
    # What a scheduler (or `kill`) does: the run stops between two steps, saves its state, says how to
    # continue, and exits 130; --resume then finishes it.
    out = tmp_path / "m.pt"
    argv = [
        sys.executable,
        "-m",
        "siamese_tutorial",
        "train",
        *TINY,
        "--out",
        str(out),
    ]
    argv[argv.index("--steps") + 1] = "300"
    argv[argv.index("--validate-every") + 1] = (
        "25"  # the first checkpoint after 25 steps
    )
    job = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for _ in range(600):
        if out.exists():
            break
        time.sleep(0.1)
    job.send_signal(signal.SIGTERM)
    _, err = job.communicate(timeout=120)
    assert (
        job.returncode == 130
        and "train --resume --out" in err
        and "Traceback" not in err
    )
    stopped = load_checkpoint(out)[1]
    assert (
        0 < stopped["steps_trained"] < 300
        and not stopped["complete"]
        and not out.with_suffix(".json").exists()
    )
    done = subprocess.run(
        [*argv, "--resume"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (
        load_checkpoint(out)[1]["complete"]
        and json.loads(out.with_suffix(".json").read_text())["steps_trained"]
        == 300
    )


def test_export_to_a_folder_that_refuses_files_fails_before_scoring(
    trained, tmp_path, capsys, monkeypatch, read_only
):
    # Before: scored the 20 runs, then "[Errno 1] Operation not permitted" (or a traceback) when writing.
    monkeypatch.setattr(
        cli, "one_shot_accuracy", lambda *a, **k: pytest.fail("scored")
    )
    folder = tmp_path / "shipped"
    folder.mkdir()
    read_only(folder)
    one_line_error(
        capsys,
        "export",
        trained,
        "--name",
        "tiny",
        "--to",
        folder,
        match="--to",
    )
    assert not list(folder.iterdir())


# ----------------------------------------------------------------------------- issue 36: nothing lost, nothing silently wrong


def test_export_never_replaces_an_encoder_unasked(
    trained, tmp_path, capsys, monkeypatch
):
    # Issue 36, 1: `export --name mine --to enc/` replaced another encoder enc/mine.pt without a word; without --to,
    # in a source checkout, a shipped encoder of that name.
    folder = tmp_path / "enc"
    folder.mkdir()
    (folder / "mine.pt").write_bytes(b"another encoder")
    (folder / "mine.json").write_text("{}")
    monkeypatch.setattr(
        cli, "one_shot_accuracy", lambda *a, **k: pytest.fail("scored")
    )  # refused before scoring
    one_line_error(
        capsys,
        "export",
        trained,
        "--name",
        "mine",
        "--to",
        folder,
        match=f"{folder / 'mine.pt'} exists (an encoder named mine): replace it with --overwrite",
    )
    shipped = tmp_path / "weights"
    shipped.mkdir()
    (shipped / "triplet.json").write_text("{}")  # a shipped encoder's card
    monkeypatch.setattr(cli, "PRETRAINED_DIR", shipped)
    monkeypatch.setattr(cli, "_in_source_checkout", lambda: True)
    one_line_error(
        capsys,
        "export",
        trained,
        "--name",
        "triplet",
        match="(a shipped encoder named triplet)",
    )
    assert (folder / "mine.pt").read_bytes() == b"another encoder" and (
        shipped / "triplet.json"
    ).read_text() == "{}"
    monkeypatch.undo()
    code, out, err = run(
        capsys,
        "export",
        trained,
        "--name",
        "mine",
        "--to",
        folder,
        "--overwrite",
    )
    assert code == 0 and "shipped as mine" in out, err
    assert pretrained.load_pretrained("mine", folder).embedding_dim == 16


@pytest.fixture(scope="module")
def trained_softmax(tmp_path_factory):
    out = tmp_path_factory.mktemp("softmax") / "softmax.pt"
    assert (
        cli.main(["train", *TINY, "--loss", "softmax", "--out", str(out)]) == 0
    )
    return out


def test_an_exported_classifier_loads_as_its_encoder(
    trained_softmax, tmp_path, capsys
):
    # Issue 36, 5: an exported `--loss softmax` model loaded as a SoftmaxClassifier that returned class scores.
    from siamese_tutorial.models import Encoder, SoftmaxClassifier

    assert isinstance(
        load_checkpoint(trained_softmax)[0], SoftmaxClassifier
    )  # what train writes
    assert (
        run(
            capsys,
            "export",
            trained_softmax,
            "--name",
            "soft",
            "--to",
            tmp_path,
        )[0]
        == 0
    )
    encoder = pretrained.load_pretrained("soft", tmp_path)
    assert isinstance(encoder, Encoder) and encoder(
        torch.rand(3, 1, 28, 28)
    ).shape == (3, 16)
    assert (
        load_checkpoint(tmp_path / "soft.pt")[1]["architecture"]["wrapper"]
        is None
    )  # the file holds no head


@pytest.mark.parametrize(
    "options, message",
    [
        (
            ["--no-augment", "--distortion", "3"],
            "--distortion 3.0 cannot act: there are no distortions (--no-augment)",
        ),
        (
            ["--loss", "batch_hard_soft", "--margin", "0.7"],
            "--margin 0.7 cannot act: --loss batch_hard_soft has no margin",
        ),
        (
            ["--loss", "softmax", "--margin", "0.5"],
            "--margin 0.5 cannot act: --loss softmax has no margin",
        ),
        (
            ["--ink", "dark"],
            "--ink dark cannot act: it is a setting of --data folders",
        ),
        (
            ["--validation-fraction", "0.3"],
            "--validation-fraction 0.3 cannot act: it is a setting of --data folders",
        ),
    ],
)
def test_options_that_cannot_act_are_refused_not_recorded(
    tmp_path, capsys, monkeypatch, options, message
):
    # Issue 36, 3: exit 0, no note, and the card said `distortion 3.0`, `margin 0.7`: options that did nothing.
    monkeypatch.setattr(
        cli, "train_encoder", lambda *a, **k: pytest.fail("training started")
    )
    one_line_error(
        capsys,
        "train",
        *TINY,
        *options,
        "--out",
        tmp_path / "m.pt",
        match=message,
    )
    assert not list(tmp_path.iterdir())


def test_the_card_says_which_settings_could_not_act(tmp_path, capsys):
    code, out, err = run(
        capsys,
        "train",
        *TINY,
        "--loss",
        "batch_hard_soft",
        "--out",
        tmp_path / "m.pt",
    )
    assert code == 0, err
    card = json.loads((tmp_path / "m.json").read_text())
    assert (
        card["unused"]["margin"] == "--loss batch_hard_soft has no margin"
    )  # the default 0.2 did nothing
    assert (
        "ink" in card["unused"]
        and "distortion" not in card["unused"]
        and "group_batches" not in card["unused"]
    )


def test_warnings_on_the_command_line_are_one_line(tmp_path, capsys):
    # Issue 36, 10: ".../data.py:322: UserWarning: 1 picture(s) are not square ..." and a line of the package's source.
    from PIL import Image

    classes = (
        tmp_path / "classes"
    )  # three classes to choose the threshold on, quickly
    for c in range(3):
        (classes / f"c{c}").mkdir(parents=True)
        for i in range(2):
            Image.new("L", (40, 40), 255 - 60 * c - 10 * i).save(
                classes / f"c{c}" / f"{i}.png"
            )
    gallery = tmp_path / "g.pt"
    assert (
        run(
            capsys,
            "enrol",
            gallery,
            "c0",
            classes / "c0" / "0.png",
            "--model",
            "triplet",
            "--calibrate",
            classes,
        )[0]
        == 0
    )
    Image.new("L", (60, 20), 255).save(tmp_path / "wide.png")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "siamese_tutorial",
            "identify",
            str(gallery),
            str(tmp_path / "wide.png"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0 and done.stdout.startswith(
        f"{tmp_path / 'wide.png'}: "
    ), done.stderr
    assert done.stderr == (
        f"warning: 1 picture(s) are not square, e.g. {tmp_path / 'wide.png'}: they are stretched to "
        f"40 x 40; crop them to squares first if their shape matters\n"
    )


def test_overwrite_on_a_real_full_disk_keeps_the_old_checkpoint_and_its_card(
    trained, tmp_path, capsys
):
    # Issue 36, 2, on a real full disk: a small tmpfs holding the old checkpoint and its card, filled up.
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)],
        capture_output=True,
    ).returncode:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        out = disk / "m.pt"
        out.write_bytes(trained.read_bytes())
        out.with_suffix(".json").write_text(
            trained.with_suffix(".json").read_text()
        )
        before = out.read_bytes(), out.with_suffix(".json").read_text()
        room = os.statvfs(disk)
        # all but 16 kB: room for the lock and the first pages of the new checkpoint, not for all of it
        (disk / "filler").write_bytes(
            bytes(room.f_bavail * room.f_frsize - 16_384)
        )
        code, _, err = run(
            capsys,
            "train",
            *TINY,
            "--margin",
            "0.3",
            "--overwrite",
            "--out",
            out,
        )
        assert (
            code == 2
            and err.count("\n") == 1
            and "No space left on device" in err
        ), err
        assert (
            out.read_bytes(),
            out.with_suffix(".json").read_text(),
        ) == before
        assert sorted(p.name for p in disk.iterdir()) == [
            "filler",
            "m.json",
            "m.pt",
        ]
    finally:
        subprocess.run(["umount", str(disk)], check=True)
