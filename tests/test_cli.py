"""The command line: python -m siamese_tutorial download | train | evaluate | export."""

import json

import pytest

from siamese_tutorial import __main__ as cli
from siamese_tutorial import pretrained


def test_download_is_a_no_op_when_the_files_are_there(capsys):
    assert cli.main(["download", "all_runs"]) == 0
    assert "all_runs.zip" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["download", "images"], "unknown split(s) ['images']"),
    (["evaluate", "no-such-model", "--runs"], "neither a checkpoint file nor a shipped pretrained encoder"),
    (["train", "--out", "x.pt"], "give --steps or --minutes"),
    (["train", "--steps", "5", "--p", "1", "--out", "x.pt"], "p and k must be >= 2"),
])
def test_bad_arguments_get_clear_messages(argv, message, capsys):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_negative_shifts_are_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        cli.main(["evaluate", "triplet", "--runs", "--shifts", "-1"])
    assert "must be >= 0, got -1" in capsys.readouterr().err


def test_unknown_loss_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--loss", "hinge", "--steps", "1", "--out", "x.pt"])
    assert "invalid choice: 'hinge'" in capsys.readouterr().err


def test_train_evaluate_export(tmp_path, monkeypatch, capsys):
    out = tmp_path / "tiny.pt"
    argv = ["train", "--loss", "semi_hard", "--steps", "4", "--p", "4", "--k", "2", "--width", "8",
            "--embedding-dim", "16", "--no-rotations", "--within-alphabet", "--validate-every", "2", "--validation-episodes", "3",
            "--seed", "1", "--out", str(out), "--quiet"]
    assert cli.main(argv) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["command"] == "python -m siamese_tutorial " + " ".join(argv).replace(str(out), str(out))
    assert card["config"]["loss"] == "semi_hard" and card["steps_trained"] == 4
    assert card["config"]["within_alphabet"] and not card["config"]["rotations"]
    assert card["validation"]["step_kept"] in (2, 4) and 0 <= card["validation"]["accuracy"] <= 1

    report = tmp_path / "report.json"
    assert cli.main(["evaluate", str(out), "--validation", "--episodes", "3", "--json", str(report)]) == 0
    assert json.loads(report.read_text())["validation"]["episodes"] == 3
    assert cli.main(["evaluate", str(out), "--validation", "--episodes", "3", "--shifts", "1", "--json", str(report)]) == 0
    assert json.loads(report.read_text())["validation"]["shifts"] == 1
    assert cli.main(["evaluate", str(out)]) == 2
    assert "--runs (the 20 official runs), --validation, or both" in capsys.readouterr().err

    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path / "shipped")
    assert cli.main(["export", str(out), "--name", "tiny", "--shifts", "1"]) == 0
    shipped = pretrained.available_pretrained()["tiny"]
    assert shipped["runs"]["total"] == 400 and 0 <= shipped["runs"]["correct"] <= 400
    assert shipped["runs"]["shifts"] == shipped["validation"]["shifts"] == 1
    assert 0 <= shipped["validation"]["accuracy_with_shifts"] <= 1
    assert shipped["command"] == card["command"]
    assert pretrained.load_pretrained("tiny").embedding_dim == 16
    assert not list((tmp_path / "shipped").glob("*.part"))
