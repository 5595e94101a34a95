"""Files given in the wrong place, edited, newer or odd, and output read by another program: each gets one line
that says what it is and what to do, and no file is lost (issue 36, the second adversarial pass)."""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from test_folders import (  # noqa: F401 (a fixture)
    TINY,
    folder_model,
    make_folder,
    one_line_error,
    picture,
    run,
)

from siamese_tutorial import cli
from siamese_tutorial.recipe import TrainConfig, train_encoder
from siamese_tutorial.training import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def gallery(folder_model, tmp_path, capsys):
    root, model = folder_model
    path = tmp_path / "g.pt"
    assert (
        run(
            capsys,
            "enrol",
            path,
            "zero",
            root / "pics" / "class00" / "0.png",
            "--model",
            model,
        )[0]
        == 0
    )
    return path


def test_a_gallery_or_a_picture_given_as_the_model_is_said_for_what_it_is(
    folder_model, gallery, tmp_path, capsys
):
    # Before: "g.pt is not a siamese_tutorial checkpoint (...); write checkpoints with save_checkpoint", and for a
    # picture torch's paragraph about weights_only and "Delete it and train again".
    root, _ = folder_model
    picture_file = root / "pics" / "class00" / "0.png"
    one_line_error(
        capsys,
        "evaluate",
        gallery,
        "--runs",
        match=f"{gallery} is a gallery, not a checkpoint (a model)",
    )
    one_line_error(
        capsys,
        "enrol",
        tmp_path / "h.pt",
        "x",
        picture_file,
        "--model",
        gallery,
        match="is a gallery, not",
    )
    code, _, err = run(capsys, "evaluate", picture_file, "--runs")
    assert (
        code == 2
        and err.count("\n") == 1
        and "could not be read as a checkpoint (UnpicklingError): it is "
        "another kind of file, or a checkpoint that is damaged"
        in err
    ), err
    assert "Delete it" not in err and "weights_only" not in err


def test_a_model_given_as_the_gallery_is_never_to_be_deleted(
    folder_model, capsys
):
    # Before: "m.pt is not a gallery written by siamese_tutorial (ValueError); delete it and enrol again": the model.
    root, model = folder_model
    for argv in (["identify", model], ["enrol", model, "x"]):
        code, _, err = run(capsys, *argv, root / "pics" / "class00" / "0.png")
        assert (
            code == 2
            and f"{model} is a checkpoint (a model), not a gallery; give the gallery's file"
            in err
        ), err
        assert "delete" not in err
    assert load_checkpoint(model)[1]["complete"]


def test_train_never_replaces_a_file_that_is_not_its_own(
    folder_model, gallery, tmp_path, capsys
):
    # Before: `train --out g.pt --overwrite` replaced a gallery with a checkpoint; `train --out results.pt` replaced
    # the user's results.json with its card at the end.
    root, _ = folder_model
    before = gallery.read_bytes()
    for again in ([], ["--overwrite"]):
        one_line_error(
            capsys,
            "train",
            "--data",
            root / "pics",
            *TINY,
            *again,
            "--out",
            gallery,
            match="exists and is not a checkpoint (a gallery? another file?): --overwrite replaces "
            "checkpoints only",
        )
    assert gallery.read_bytes() == before
    mine = tmp_path / "results.json"
    mine.write_text('{"mine": 1}')
    one_line_error(
        capsys,
        "train",
        "--data",
        root / "pics",
        *TINY,
        "--out",
        tmp_path / "results.pt",
        match=f"{mine} exists, where the card of {tmp_path / 'results.pt'} goes: move it",
    )
    assert (
        mine.read_text() == '{"mine": 1}'
        and not (tmp_path / "results.pt").exists()
    )


def test_evaluate_json_replaces_an_earlier_report_only(
    folder_model, tmp_path, capsys
):
    # Before: `evaluate m.pt --validation --json m.json` wrote the report over the model's card.
    root, model = folder_model
    mine, card = tmp_path / "m.pt", tmp_path / "m.json"
    mine.write_bytes(model.read_bytes())
    card.write_text(model.with_suffix(".json").read_text())
    one_line_error(
        capsys,
        "evaluate",
        mine,
        "--validation",
        "--episodes",
        "2",
        "--json",
        card,
        match=f"--json {card} exists and is not a report of evaluate (a card? another file?)",
    )
    assert card.read_text() == model.with_suffix(".json").read_text()
    report = tmp_path / "report.json"
    for _ in range(2):  # written, then replaced
        assert (
            run(
                capsys,
                "evaluate",
                mine,
                "--validation",
                "--episodes",
                "2",
                "--json",
                report,
            )[0]
            == 0
        )
    assert json.loads(report.read_text())["validation"]["random"][
        "task"
    ].startswith("2 episodes")


def test_output_read_by_a_program_that_stops_reading_is_no_error(
    gallery, tmp_path
):
    # Before: `identify g.pt pictures/ | head -2` ended in "error: [Errno 32] Broken pipe" and exit status 2.
    pictures = tmp_path / "many"
    for c in range(2):
        (pictures / f"p{c}").mkdir(parents=True)
        for i in range(700):
            picture(pictures / f"p{c}" / f"{i}.png", i)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    identify = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "siamese_tutorial",
            "identify",
            str(gallery),
            str(pictures),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    first = identify.stdout.readline()
    identify.stdout.close()  # as `head -1` does
    err = identify.stderr.read().decode()
    assert (
        identify.wait(timeout=120) == 141
        and err == ""
        and first.startswith(str(pictures).encode())
    ), err


def test_a_folder_inside_a_class_folder_is_said_not_left_out(
    folder_model, tmp_path, capsys
):
    # Before: pics/class00/2019/*.png, or pics/loose.png, were left out of the training without a word, and a
    # <group>/<class> folder given to enrol --folder was "has no pictures".
    root, model = folder_model
    pics = make_folder(tmp_path / "pics", classes=6)
    (pics / "class00" / "2019").mkdir()
    picture(pics / "class00" / "2019" / "0.png", 1)
    one_line_error(
        capsys,
        "train",
        "--data",
        pics,
        *TINY,
        "--out",
        tmp_path / "m.pt",
        match=f"{pics / 'class00' / '2019'} is a folder inside the class folder {pics / 'class00'}: its "
        f"pictures would be left out",
    )
    (pics / "class00" / "2019" / "0.png").rename(pics / "loose.png")
    (pics / "class00" / "2019").rmdir()
    one_line_error(
        capsys,
        "train",
        "--data",
        pics,
        *TINY,
        "--out",
        tmp_path / "m.pt",
        match=f"{pics / 'loose.png'} is a picture outside any class folder: it would be left out",
    )
    groups = make_folder(tmp_path / "groups", classes=4, groups=2)
    one_line_error(
        capsys,
        "enrol",
        tmp_path / "g.pt",
        "--folder",
        groups,
        "--model",
        model,
        match="is a folder inside the class folder",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["groups", "pics"]
    (tmp_path / "empty").mkdir()
    one_line_error(
        capsys,
        "identify",
        tmp_path / "g.pt",
        tmp_path / "empty",
        match="no gallery at",
    )


def test_an_empty_folder_to_identify_is_said_not_answered_with_nothing(
    gallery, tmp_path, capsys
):
    # Before: `identify g.pt empty/` printed nothing and exited 0.
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    one_line_error(
        capsys,
        "identify",
        gallery,
        tmp_path / "empty",
        match=f"{tmp_path / 'empty'} holds no pictures",
    )


def test_an_edited_gallery_is_said_to_be_edited(folder_model, gallery, capsys):
    # Before: prototypes of another width: "x and y must have the same embedding dimension D"; a reading edited to an
    # unknown ink: "ink must be one of ... (or None: use invert)".
    root, _ = folder_model
    query = root / "pics" / "class00" / "1.png"
    content = torch.load(gallery, weights_only=True)
    content["prototypes"] = torch.zeros(1, 5)
    torch.save(content, gallery)
    one_line_error(
        capsys,
        "identify",
        gallery,
        query,
        match="the gallery's prototypes have 5 values each, the "
        "encoder's embeddings 8: the gallery was edited or damaged",
    )
    content["meta"]["reading"]["ink"] = "purple"
    torch.save(content, gallery)
    one_line_error(
        capsys,
        "identify",
        gallery,
        query,
        match="is damaged or was edited (how it reads pictures",
    )


def test_a_checkpoint_of_a_newer_version_says_to_upgrade(
    folder_model, tmp_path, capsys
):
    _, model = folder_model
    content = torch.load(model, weights_only=True)
    content["format"] = "siamese_tutorial.checkpoint/3"
    torch.save(content, tmp_path / "new.pt")
    one_line_error(
        capsys,
        "evaluate",
        tmp_path / "new.pt",
        "--validation",
        match="is a checkpoint of a newer format (siamese_tutorial.checkpoint/3) than siamese_tutorial",
    )


def test_a_card_of_other_weights_is_said_and_not_used(
    folder_model, tmp_path, capsys
):
    # Before: a card beside a checkpoint was believed whatever weights it described (its held-out classes, shifts).
    root, model = folder_model
    mine = tmp_path / "m.pt"
    mine.write_bytes(model.read_bytes())
    card = json.loads(model.with_suffix(".json").read_text())
    card["checkpoint_sha256"] = "0" * 64
    (tmp_path / "m.json").write_text(json.dumps(card))
    code, _, err = run(
        capsys,
        "enrol",
        tmp_path / "g.pt",
        "x",
        root / "pics" / "class00" / "0.png",
        "--model",
        mine,
    )
    assert code == 2 and err.splitlines() == [
        f"warning: {tmp_path / 'm.json'} does not belong to {mine} (it records other weights' SHA-256): not used; "
        f"finish the training (--resume) or train again to write its card",
        "error: the model's card does not say which classes it held out; give --calibrate FOLDER, a folder of "
        "classes the model was not trained on.",
    ], err


def test_settings_that_cannot_act_are_said_from_python_too(tmp_path):
    from siamese_tutorial.data import LabelledImages

    data = LabelledImages(
        torch.rand(12, 1, 8, 8),
        torch.arange(4).repeat_interleave(3),
        [f"c{c}" for c in range(4)],
        ["all"],
        torch.zeros(4, dtype=torch.int64),
    )
    config = TrainConfig(
        loss="batch_hard_soft",
        margin=0.7,
        p=2,
        k=2,
        image_size=8,
        width=2,
        blocks=1,
        embedding_dim=4,
        steps=2,
        rotations=False,
        device="cpu",
    )
    with pytest.warns(
        UserWarning,
        match=r"settings that cannot act: distortion 2.0 \(there are no distortions "
        r"\(--no-augment\)\); margin 0.7 \(--loss batch_hard_soft has no margin\)",
    ):
        train_encoder(
            TrainConfig(
                **{**config.to_dict(), "augment": False, "distortion": 2.0}
            ),
            data,
            progress=False,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_encoder(
            TrainConfig(**{**config.to_dict(), "margin": 0.2}),
            data,
            progress=False,
        )  # the default: quiet


def test_what_is_enrolled_is_checked_before_the_threshold_is_chosen(
    folder_model, tmp_path, capsys, monkeypatch
):
    # Before: a new gallery chose its threshold first (minutes, on Omniglot's alphabets), and then refused the name
    # 'unknown', a picture that could not be read, or a folder of classes named wrong.
    from siamese_tutorial import gallery_cli

    root, model = folder_model
    monkeypatch.setattr(
        gallery_cli,
        "calibrate_open_set",
        lambda *a, **k: pytest.fail("threshold chosen"),
    )
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    one_line_error(
        capsys,
        "enrol",
        tmp_path / "g.pt",
        "x",
        tmp_path / "broken.png",
        "--model",
        model,
        match="broken.png could not be read as an image",
    )
    one_line_error(
        capsys,
        "enrol",
        tmp_path / "g.pt",
        "Unknown",
        root / "pics" / "class00" / "0.png",
        "--model",
        model,
        match="reads like 'unknown'",
    )
    (tmp_path / "people" / "unknown").mkdir(parents=True)
    picture(tmp_path / "people" / "unknown" / "0.png", 0)
    one_line_error(
        capsys,
        "enrol",
        tmp_path / "g.pt",
        "--folder",
        tmp_path / "people",
        "--model",
        model,
        match="unknown cannot be a class's name",
    )
    assert not (tmp_path / "g.pt").exists()


def test_an_enrolment_stopped_by_sigterm_leaves_the_gallery_as_it_was_and_nothing_else(
    gallery, tmp_path
):
    # Before: `kill` (SIGTERM) stopped `enrol --folder` at once: the gallery was kept, but its lock file was left.
    folder = tmp_path / "many"
    for c in range(1500):
        (folder / f"c{c:04d}").mkdir(parents=True)
        picture(folder / f"c{c:04d}" / "0.png", c)
    before = gallery.read_bytes()
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "TQDM_DISABLE"
    }  # the bar says it has begun
    enrol = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "siamese_tutorial",
            "enrol",
            str(gallery),
            "--folder",
            str(folder),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**env, "OMP_NUM_THREADS": "1"},
    )
    said = b""
    while b"enrolling:" not in said and enrol.poll() is None:
        said += enrol.stderr.read1(100)
    enrol.terminate()
    _, err = enrol.communicate(timeout=120)
    assert enrol.returncode == 130 and (said + err).decode().endswith(
        "interrupted\n"
    ), (said + err).decode()
    assert gallery.read_bytes() == before and sorted(
        p.name for p in tmp_path.iterdir()
    ) == ["g.pt", "many"]


def test_a_training_folder_that_moved_is_said_as_such(tmp_path, capsys):
    # Before: "pics is not a folder; give the folder that holds one sub-folder per class", for a folder not given.
    pics = make_folder(tmp_path / "pics", classes=6)
    model = tmp_path / "m.pt"
    assert run(capsys, "train", "--data", pics, *TINY, "--out", model)[0] == 0
    pics.rename(tmp_path / "moved")
    for argv in (
        ["evaluate", model, "--validation"],
        [
            "enrol",
            tmp_path / "g.pt",
            "x",
            tmp_path / "moved" / "class00" / "0.png",
            "--model",
            model,
        ],
    ):
        one_line_error(
            capsys,
            *argv,
            match=f"the classes the model held out for validation are in {pics}, which is "
            f"no folder now (moved, or deleted?): put it back",
        )


def test_a_folder_name_with_a_line_break_never_breaks_a_line_of_output(
    tmp_path, capsys
):
    pics = make_folder(tmp_path / "my\npictures: note: forged", classes=6)
    model = tmp_path / "m.pt"
    code, out, err = run(
        capsys, "train", "--data", pics, *TINY, "--out", model
    )
    assert code == 0, err
    assert all(
        line.startswith(("command: ", "note: ", "trained 4 steps"))
        for line in out.splitlines()
    ), out
    assert "my\\npictures: note: forged" in out
    code, out, err = run(
        capsys, "evaluate", model, "--validation", "--episodes", "2"
    )
    assert (
        code == 0
        and out.startswith("validation on 2 held-out classes of ")
        and "my\\npictures" in out
    ), out
    assert not any(line.startswith("pictures") for line in out.splitlines()), (
        out
    )


def test_a_colour_model_is_never_scored_on_the_black_and_white_runs(
    folder_model, tmp_path, capsys, monkeypatch
):
    # Before: "ConvEncoder expects images of shape (B, 3, 16, 16); got (20, 1, 16, 16). Resize the images to
    # 16x16 (e.g. load_omniglot(image_size=16))", after the validation episodes were scored.
    root, _ = folder_model
    model = tmp_path / "colour.pt"
    assert (
        run(
            capsys,
            "train",
            "--data",
            root / "pics",
            *TINY,
            "--no-grayscale",
            "--out",
            model,
        )[0]
        == 0
    )
    monkeypatch.setattr(
        cli, "_validation_report", lambda *a, **k: pytest.fail("scored")
    )
    one_line_error(
        capsys,
        "evaluate",
        model,
        "--runs",
        "--validation",
        match="reads colour pictures (3 channels: trained with --no-grayscale); the 20 official runs are "
        "Omniglot's black-and-white characters and cannot score it: leave out --runs",
    )
    one_line_error(
        capsys,
        "export",
        model,
        "--name",
        "colour",
        "--to",
        tmp_path / "out",
        match="cannot score it, and export records that score: use the checkpoint itself",
    )
    assert not (tmp_path / "out").exists()
