"""Your own pictures: folders read as labelled images, training on them, and galleries on the command line."""

import errno
import json
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from siamese_tutorial import cli, files, recipe
from siamese_tutorial.data import load_image_folder, load_images, split_classes
from siamese_tutorial.gallery import Gallery
from siamese_tutorial.recipe import TrainConfig, load_training_data
from siamese_tutorial.training import load_checkpoint

TINY = [
    "--image-size",
    "16",
    "--blocks",
    "2",
    "--width",
    "4",
    "--embedding-dim",
    "8",
    "--no-rotations",
    "--p",
    "3",
    "--k",
    "2",
    "--steps",
    "4",
    "--validate-every",
    "2",
    "--validation-episodes",
    "3",
    "--quiet",
]


def picture(path, seed, size=(20, 20), mode="L"):
    """A random picture: dark strokes on light paper."""
    rng = np.random.default_rng(seed)
    values = np.where(rng.random((size[1], size[0])) < 0.2, 0, 255).astype(
        np.uint8
    )
    image = Image.fromarray(values, mode="L")
    (image.convert("RGB") if mode == "RGB" else image).save(path)


def make_folder(root, classes=8, per_class=3, groups=None, size=(20, 20)):
    for c in range(classes):
        folder = root / (
            f"group{c % groups}/class{c:02d}" if groups else f"class{c:02d}"
        )
        folder.mkdir(parents=True)
        for i in range(per_class):
            picture(folder / f"{i}.png", 100 * c + i, size)
    return root


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------- reading folders


def test_a_folder_of_class_folders_is_a_labelled_image_set(tmp_path):
    data = load_image_folder(
        make_folder(tmp_path / "pics", classes=4, per_class=3), image_size=8
    )
    assert data.images.shape == (12, 1, 8, 8) and data.num_classes == 4
    assert data.class_names == [
        "class00",
        "class01",
        "class02",
        "class03",
    ] and data.group_names == ["all"]
    assert torch.equal(data.labels, torch.arange(4).repeat_interleave(3))
    assert 0 <= data.images.min() and data.images.max() <= 1
    inverted = load_image_folder(tmp_path / "pics", image_size=8, invert=True)
    torch.testing.assert_close(inverted.images, 1 - data.images)
    colour = load_image_folder(
        tmp_path / "pics", image_size=8, grayscale=False
    )
    assert colour.images.shape == (12, 3, 8, 8)


def test_groups_are_the_first_level_of_a_two_level_folder(tmp_path):
    data = load_image_folder(
        make_folder(tmp_path / "pics", classes=6, groups=2),
        image_size=8,
        groups=True,
    )
    assert (
        data.group_names == ["group0", "group1"]
        and data.class_names[0] == "group0/class00"
    )
    assert data.class_group.tolist() == [0, 0, 0, 1, 1, 1]


def test_hidden_folders_and_files_are_not_classes(tmp_path):
    root = make_folder(tmp_path / "pics", classes=3)
    (root / ".ipynb_checkpoints").mkdir()
    (root / "class00" / ".DS_Store").write_bytes(b"")
    assert load_image_folder(root, image_size=8).num_classes == 3


@pytest.mark.parametrize(
    "damage, message",
    [
        ("empty", "has no class folders; the layout is"),
        ("missing", "is not a folder"),
        (
            "single image",
            r"class01 has 1 image\(s\); every class needs at least 2",
        ),
        ("text file", "notes.txt is not an image"),
        ("unreadable", "broken.png could not be read as an image"),
        ("one class", "has a single class"),
    ],
)
def test_bad_folders_get_a_message_that_names_the_file_or_folder(
    tmp_path, damage, message
):
    root = tmp_path / "pics"
    if damage == "empty":
        root.mkdir()
    elif damage != "missing":
        make_folder(root, classes=1 if damage == "one class" else 3)
    if damage == "single image":
        for extra in sorted((root / "class01").iterdir())[1:]:
            extra.unlink()
    if damage == "text file":
        (root / "class00" / "notes.txt").write_text("hello")
    if damage == "unreadable":
        (root / "class00" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match=message):
        load_image_folder(root, image_size=8)


def test_pictures_of_mixed_sizes_are_resized_and_non_square_ones_said(
    tmp_path,
):
    make_folder(tmp_path / "pics", classes=2, size=(20, 20))
    picture(tmp_path / "pics" / "class00" / "wide.png", 7, size=(40, 10))
    picture(tmp_path / "pics" / "class01" / "big.png", 8, size=(200, 200))
    with pytest.warns(
        UserWarning, match=r"1 picture\(s\) are not square, e.g. .*wide.png"
    ):
        data = load_image_folder(tmp_path / "pics", image_size=8)
    assert data.images.shape == (8, 1, 8, 8)
    with pytest.raises(ValueError, match="nothing.png is not a file"):
        load_images([tmp_path / "nothing.png"], 8)


def test_held_out_classes_are_never_trained_on(tmp_path):
    data = load_image_folder(
        make_folder(tmp_path / "pics", classes=10), image_size=8
    )
    train, held_out = split_classes(data, fraction=0.2, seed=3)
    assert held_out.num_classes == 2 and train.num_classes == 8
    assert not set(train.class_names) & set(held_out.class_names)
    assert (
        split_classes(data, 0.2, seed=3)[1].class_names == held_out.class_names
    )  # seeded
    with pytest.raises(ValueError, match="too few to hold 2 out"):
        split_classes(
            load_image_folder(make_folder(tmp_path / "few", classes=3), 8),
            0.2,
            seed=0,
        )


def test_too_few_classes_for_the_batch_names_the_folder(tmp_path):
    config = TrainConfig(
        data=str(make_folder(tmp_path / "pics", classes=6)),
        image_size=16,
        blocks=2,
        p=8,
        k=2,
    )
    with pytest.raises(
        ValueError,
        match=r"pics: 4 training classes have 2 or more pictures .* p=8",
    ):
        load_training_data(config)


# ----------------------------------------------------------------------------- the three commands


@pytest.fixture(scope="module")
def folder_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    make_folder(root / "pics", classes=10, per_class=4)
    out = root / "mine.pt"
    assert (
        cli.main(
            ["train", "--data", str(root / "pics"), *TINY, "--out", str(out)]
        )
        == 0
    )
    return root, out


def test_train_on_a_folder_records_the_held_out_classes(folder_model):
    root, out = folder_model
    card = json.loads(out.with_suffix(".json").read_text())
    assert (
        card["config"]["data"] == str(root / "pics")
        and card["data"]["classes"] == 10
    )
    assert len(card["data"]["validation_classes"]) == 2
    assert card["command"].split("--data ")[1].startswith(str(root / "pics"))
    model, checkpoint = load_checkpoint(out)
    assert model.image_size == 16 and checkpoint["complete"]


def test_enrol_identify_verify_from_the_command_line(
    folder_model, tmp_path, capsys
):
    root, out = folder_model
    gallery, pics = tmp_path / "gallery.pt", root / "pics"
    code, text, _ = run(
        capsys,
        "enrol",
        gallery,
        "zero",
        pics / "class00" / "0.png",
        "--model",
        out,
        "--expected-size",
        "2",
    )
    assert (
        code == 0
        and "new gallery; threshold" in text
        and "held-out classes" in text
    )
    assert (
        run(
            capsys,
            "enrol",
            gallery,
            "one",
            pics / "class01" / "0.png",
            pics / "class01" / "1.png",
        )[0]
        == 0
    )
    code, text, _ = run(
        capsys,
        "identify",
        gallery,
        pics / "class00" / "2.png",
        pics / "class05" / "1.png",
    )
    assert code == 0 and text.count("\n") == 2 and "class00/2.png: " in text
    code, text, _ = run(
        capsys, "verify", gallery, "one", pics / "class01" / "3.png"
    )
    assert code == 0 and (
        "yes, is 'one'" in text or "no, is not 'one'" in text
    )
    saved = Gallery.read_meta(gallery)
    assert (
        saved["model"] == str(out)
        and saved["calibration"]["gallery_size"] == 1
    )  # 2 held out: 1 enrolled, 1 stranger
    assert Gallery.load(gallery, load_checkpoint(out)[0]).names == [
        "zero",
        "one",
    ]


def one_line_error(capsys, *argv, match):
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, (
        err
    )
    assert match in err, err


def test_gallery_mistakes_are_one_clear_line(folder_model, tmp_path, capsys):
    root, out = folder_model
    gallery, pics = tmp_path / "gallery.pt", root / "pics"
    one_line_error(
        capsys,
        "identify",
        gallery,
        pics / "class00" / "0.png",
        match="no gallery at",
    )
    one_line_error(
        capsys,
        "enrol",
        gallery,
        "x",
        pics / "class00" / "0.png",
        match="give --model",
    )
    assert (
        run(
            capsys,
            "enrol",
            gallery,
            "zero",
            pics / "class00" / "0.png",
            "--model",
            out,
        )[0]
        == 0
    )
    one_line_error(
        capsys,
        "enrol",
        gallery,
        "zero",
        pics / "class00" / "1.png",
        match="'zero' is already enrolled",
    )
    one_line_error(
        capsys,
        "verify",
        gallery,
        "nobody",
        pics / "class00" / "1.png",
        match="'nobody' is not enrolled",
    )
    one_line_error(
        capsys,
        "identify",
        gallery,
        tmp_path / "missing.png",
        match="missing.png is not a file",
    )
    one_line_error(
        capsys,
        "enrol",
        gallery,
        "x",
        pics / "class00" / "0.png",
        "--model",
        "triplet",
        match="belongs to the model",
    )
    # the gallery's model was replaced by other weights: refused, never compared with the wrong encoder
    other = tmp_path / "other.pt"
    other.write_bytes(out.read_bytes())
    moved = tmp_path / "moved.pt"
    one_line_error(
        capsys,
        "enrol",
        moved,
        "zero",
        pics / "class00" / "0.png",
        "--model",
        other,
        match="does not say which classes it held out; give --calibrate FOLDER",
    )  # no card beside it
    unseen = (
        tmp_path / "unseen"
    )  # classes the model never saw (its own folder is refused: issue 36, 7)
    for c in range(4):
        (unseen / f"new{c}").mkdir(parents=True)
        for i in range(3):
            picture(unseen / f"new{c}" / f"{i}.png", 10_000 + 100 * c + i)
    assert (
        run(
            capsys,
            "enrol",
            moved,
            "zero",
            pics / "class00" / "0.png",
            "--model",
            other,
            "--calibrate",
            unseen,
        )[0]
        == 0
    )
    checkpoint = torch.load(other, weights_only=True)
    first = next(
        k for k, v in checkpoint["state_dict"].items() if v.is_floating_point()
    )
    checkpoint["state_dict"][first] = checkpoint["state_dict"][first] + 1
    torch.save(checkpoint, other)
    one_line_error(
        capsys,
        "identify",
        moved,
        pics / "class00" / "1.png",
        match="was made with another encoder",
    )
    (tmp_path / "junk.pt").write_bytes(b"junk")
    one_line_error(
        capsys,
        "identify",
        tmp_path / "junk.pt",
        pics / "class00" / "1.png",
        match="is not a gallery",
    )


# ----------------------------------------------------------------------------- a gallery's file is kept as it was made


def test_a_private_gallery_and_checkpoint_stay_private(
    folder_model, tmp_path, capsys
):
    # Before: `chmod 600 gallery.pt` then `enrol` left it 0644; a 0600 checkpoint was 0644 after `train --resume`.
    root, out = folder_model
    gallery, pics = tmp_path / "gallery.pt", root / "pics"
    assert (
        run(
            capsys,
            "enrol",
            gallery,
            "zero",
            pics / "class00" / "0.png",
            "--model",
            out,
        )[0]
        == 0
    )
    gallery.chmod(0o600)
    assert (
        run(capsys, "enrol", gallery, "one", pics / "class01" / "0.png")[0]
        == 0
    )
    assert gallery.stat().st_mode & 0o777 == 0o600
    mine = tmp_path / "mine.pt"
    mine.write_bytes(out.read_bytes())
    mine.chmod(0o600)
    code, _, err = run(
        capsys,
        "train",
        "--data",
        root / "pics",
        *TINY,
        "--resume",
        "--out",
        mine,
    )
    assert code == 0, err
    assert (
        mine.stat().st_mode & 0o777 == 0o600
        and load_checkpoint(mine)[1]["complete"]
    )


def test_options_of_a_new_gallery_are_never_silently_ignored(
    folder_model, tmp_path, capsys
):
    # Before: enrol into an existing gallery with --shifts, --expected-size or --calibrate ignored them without a word.
    root, out = folder_model
    gallery, pics = tmp_path / "gallery.pt", root / "pics"
    assert (
        run(
            capsys,
            "enrol",
            gallery,
            "zero",
            pics / "class00" / "0.png",
            "--model",
            out,
            "--shifts",
            "1",
            "--expected-size",
            "2",
        )[0]
        == 0
    )
    picture = pics / "class01" / "0.png"
    one_line_error(
        capsys,
        "enrol",
        gallery,
        "one",
        picture,
        "--shifts",
        "2",
        match="gallery.pt exists, made with --shifts 1; --shifts is applied when a gallery is created",
    )
    one_line_error(
        capsys,
        "enrol",
        gallery,
        "one",
        picture,
        "--expected-size",
        "5",
        match="made with --expected-size 2; --expected-size is applied when a gallery is created",
    )
    one_line_error(
        capsys,
        "enrol",
        gallery,
        "one",
        picture,
        "--calibrate",
        pics,
        match="made with --calibrate (none); --calibrate is applied",
    )
    assert Gallery.read_meta(gallery)["calibration"]["expected_size"] == 2
    # the same values as the gallery's (e.g. the same command run for every class) are fine
    code, text, err = run(
        capsys,
        "enrol",
        gallery,
        "one",
        picture,
        "--model",
        out,
        "--shifts",
        "1",
        "--expected-size",
        "2",
    )
    assert code == 0 and "holds 2: zero, one" in text, err


@pytest.mark.parametrize(
    "name", ["Unknown", " unknown", "UNKNOWN", "a\nb", "", "x" * 5000]
)
def test_names_that_would_print_like_another_answer_are_refused(
    folder_model, tmp_path, capsys, name
):
    root, out = folder_model
    gallery = tmp_path / "gallery.pt"
    code, _, err = run(
        capsys,
        "enrol",
        gallery,
        name,
        root / "pics" / "class00" / "0.png",
        "--model",
        out,
    )
    assert code == 2 and err.count("\n") == 1 and not gallery.exists(), err


def test_odd_gallery_files_are_one_clear_line(folder_model, tmp_path, capsys):
    root, out = folder_model
    picture = root / "pics" / "class00" / "0.png"
    folder = tmp_path / "g.pt"
    folder.mkdir()
    one_line_error(
        capsys,
        "identify",
        folder,
        picture,
        match="g.pt is a folder, not a gallery file",
    )
    one_line_error(
        capsys,
        "enrol",
        folder,
        "x",
        picture,
        "--model",
        out,
        match="g.pt is a folder",
    )
    plain = Gallery(
        load_checkpoint(out)[0], threshold=0.5
    )  # made in Python: no model recorded
    plain.enrol("x", load_images([picture], 16))
    plain.save(tmp_path / "plain.pt")
    one_line_error(
        capsys,
        "identify",
        tmp_path / "plain.pt",
        picture,
        match="does not say which model it belongs to",
    )
    one_line_error(
        capsys,
        "enrol",
        tmp_path / "plain.pt",
        "y",
        picture,
        match="does not say which model",
    )
    # a picture that cannot be read makes no gallery, and no "new gallery" line
    code, text, err = run(
        capsys,
        "enrol",
        tmp_path / "new.pt",
        "x",
        tmp_path / "missing.png",
        "--model",
        out,
    )
    assert (
        code == 2
        and "missing.png is not a file" in err
        and text == ""
        and not (tmp_path / "new.pt").exists()
    )


# ----------------------------------------------------------------------------- from another folder


def test_galleries_and_cards_work_from_another_folder(
    tmp_path, capsys, monkeypatch
):
    # Before: the gallery kept 'runs/mine.pt' and the card 'pics' as typed, so from another folder
    # `identify ../gal.pt` and `enrol ... --model ../runs/mine.pt` failed.
    make_folder(tmp_path / "pics", classes=10, per_class=4)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    assert (
        run(capsys, "train", "--data", "pics", *TINY, "--out", "runs/mine.pt")[
            0
        ]
        == 0
    )
    assert (
        run(
            capsys,
            "enrol",
            "gal.pt",
            "zero",
            "pics/class00/0.png",
            "--model",
            "runs/mine.pt",
        )[0]
        == 0
    )
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, text, err = run(
        capsys, "identify", "../gal.pt", "../pics/class00/1.png"
    )
    assert code == 0 and "../pics/class00/1.png: " in text, err
    code, text, err = run(
        capsys,
        "enrol",
        "../g.pt",
        "x",
        "../pics/class01/0.png",
        "--model",
        "../runs/mine.pt",
    )
    assert code == 0 and "held-out classes of pics" in text, err
    assert Gallery.read_meta(tmp_path / "g.pt")["model"] == str(
        tmp_path / "runs" / "mine.pt"
    )
    code, text, err = run(
        capsys,
        "enrol",
        "../gal.pt",
        "one",
        "../pics/class01/0.png",
        "--model",
        "../runs/mine.pt",
    )
    assert code == 0, err  # the same model, named from here


# ----------------------------------------------------------------------------- a small folder, the README's commands


def shapes(root, classes=12, per_class=4, size=32):
    """A folder of simple drawn shapes: class c is a polygon with c + 3 corners, drawn a little differently each time."""
    from PIL import ImageDraw

    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"shape{c:02d}").mkdir(parents=True)
        for i in range(per_class):
            canvas = Image.new("L", (size, size), 255)
            corners = c + 3
            turn = rng.uniform(0, 2 * np.pi)
            radius = size * rng.uniform(0.3, 0.42)
            centre = size / 2 + rng.uniform(-2, 2, 2)
            points = [
                (
                    centre[0]
                    + radius * np.cos(turn + 2 * np.pi * j / corners),
                    centre[1]
                    + radius * np.sin(turn + 2 * np.pi * j / corners),
                )
                for j in range(corners)
            ]
            ImageDraw.Draw(canvas).polygon(points, outline=0, width=2)
            canvas.save(root / f"shape{c:02d}" / f"{i}.png")
    return root


SMALL = [
    "--blocks",
    "2",
    "--width",
    "4",
    "--embedding-dim",
    "8",
    "--k",
    "2",
    "--steps",
    "4",
    "--validate-every",
    "2",
    "--validation-episodes",
    "3",
    "--quiet",
]


def test_the_readmes_three_commands_on_a_folder_of_12_classes(
    tmp_path, capsys, monkeypatch
):
    # Before: train stopped and asked for --p (32 > the classes there); validation became 2-way and the
    # calibration galleries of 1 (--expected-size 10 clipped to 1) without a word.
    shapes(tmp_path / "my_pictures")
    monkeypatch.chdir(tmp_path)
    code, text, err = run(
        capsys,
        "train",
        "--data",
        "my_pictures/",
        "--image-size",
        "32",
        "--no-rotations",
        *SMALL,
        "--out",
        "runs/mine.pt",
    )
    assert code == 0, err
    assert (
        "note: my_pictures/: 10 training classes have 2 or more pictures (after holding out 2 for validation): "
        "each batch takes p=10 classes instead of 32" in text
    )
    assert (
        "note: validation episodes are 2-way, not 20-way: the 2 held-out classes allow no more"
        in text
    )
    card = json.loads((tmp_path / "runs" / "mine.json").read_text())
    assert (
        card["config"]["p"] == 10 and "--p 10" in card["command"]
    )  # the card's command trains the same recipe
    code, text, err = run(
        capsys,
        "enrol",
        "gallery.pt",
        "alice",
        "my_pictures/shape00/0.png",
        "--model",
        "runs/mine.pt",
    )
    assert code == 0, err
    assert (
        "note: the threshold is chosen for galleries of 1, not of 10 (--expected-size; by default 10, or "
        "the classes enrolled if more): there are only 2 "
        "classes to choose it on (2 held-out classes of my_pictures/)" in text
    )
    code, text, err = run(
        capsys, "identify", "gallery.pt", "my_pictures/shape00/1.png"
    )
    assert code == 0 and text.startswith("my_pictures/shape00/1.png: "), err
    # evaluate --validation scores a folder's model on the classes it held out there, and says so
    code, text, err = run(
        capsys, "evaluate", "runs/mine.pt", "--validation", "--episodes", "3"
    )
    assert (
        code == 0
        and "validation on 2 held-out classes of my_pictures/, 3 episodes of 2-way"
        in text
    ), err
    assert "Omniglot" not in text
    # an explicit --p that the folder cannot fill is still refused, with what to do
    one_line_error(
        capsys,
        "train",
        "--data",
        "my_pictures/",
        "--image-size",
        "32",
        "--no-rotations",
        *SMALL,
        "--p",
        "16",
        "--out",
        "runs/other.pt",
        match="but a batch takes p=16 classes of k=2: lower --p",
    )


def test_a_threshold_chosen_on_omniglot_says_it_is_for_omniglot(
    tmp_path, capsys, monkeypatch
):
    # Before: the false-accept rate measured on Omniglot's alphabets was reported for any pictures.
    from siamese_tutorial.pretrained import load_pretrained

    pictures = shapes(tmp_path / "mine", size=40)
    monkeypatch.setattr(
        recipe,
        "load_validation_set",
        lambda size, data_dir=None: load_image_folder(pictures, size),
    )
    code, text, err = run(
        capsys,
        "enrol",
        tmp_path / "g.pt",
        "tri",
        pictures / "shape00" / "0.png",
        "--model",
        "triplet",
    )
    assert code == 0, err
    assert "chosen on Omniglot's 10 validation alphabets" in text
    assert (
        "note: these rates are for Omniglot's characters; for pictures of another kind, choose the threshold "
        "on classes of that kind the model never saw: --calibrate FOLDER"
        in text
    )
    assert load_pretrained("triplet").image_size == 40
    code, text, err = run(
        capsys,
        "enrol",
        tmp_path / "h.pt",
        "tri",
        pictures / "shape00" / "0.png",
        "--model",
        "triplet",
        "--calibrate",
        pictures,
    )
    assert code == 0 and "note: these rates are for Omniglot" not in text, err


# ----------------------------------------------------------------------------- a full disk


class FullDisk:
    """A file that takes ``room`` bytes, then fails as a full disk does (ENOSPC)."""

    def __init__(self, file, room):
        self.file, self.room = file, room

    def write(self, data):
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


def test_train_on_a_full_disk_is_one_clear_line(
    folder_model, tmp_path, capsys, monkeypatch
):
    # Before: torch's "RuntimeError: [enforce fail at inline_container.cc] unexpected pos" traceback.
    root, _ = folder_model
    real_open = open
    monkeypatch.setattr(
        files,
        "open",
        lambda path, mode="r", *a, **k: (
            FullDisk(real_open(path, mode, *a, **k), 1000)
            if "x" in mode
            else real_open(path, mode, *a, **k)
        ),
        raising=False,
    )
    out = tmp_path / "m.pt"
    code, _, err = run(
        capsys, "train", "--data", root / "pics", *TINY, "--out", out
    )
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(
        f"error: could not write {out}: No space left on device; free some space or write elsewhere"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_train_on_a_real_full_disk(folder_model, tmp_path, capsys):
    root, _ = folder_model
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(small)],
        capture_output=True,
    ).returncode:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        code, _, err = run(
            capsys,
            "train",
            "--data",
            root / "pics",
            *TINY,
            "--out",
            small / "m.pt",
        )
        assert (
            code == 2
            and err.count("\n") == 1
            and "could not write" in err
            and "No space left" in err
        ), err
        assert not list(small.iterdir())
    finally:
        subprocess.run(["umount", str(small)], check=True)


# ----------------------------------------------------------------------------- issue 36: nothing silently wrong


def test_a_gallery_whose_names_were_edited_is_refused_and_no_path_forges_a_line(
    folder_model, tmp_path, capsys
):
    # Issue 36, 6: a name "bob: unknown (...)\nmallory" edited into the file printed as an answer line of its own.
    root, out = folder_model
    pics, gallery = root / "pics", tmp_path / "gallery.pt"
    assert (
        run(
            capsys,
            "enrol",
            gallery,
            "zero",
            pics / "class00" / "0.png",
            "--model",
            out,
        )[0]
        == 0
    )
    forged = (
        tmp_path
        / "x.png: unknown (nearest 'zero' at 0.000; threshold 1.000)\nreal.png"
    )
    forged.write_bytes((pics / "class00" / "1.png").read_bytes())
    code, text, err = run(capsys, "identify", gallery, forged)
    assert (
        code == 0
        and text.count("\n") == 1
        and "x.png: unknown (nearest 'zero' at 0.000; threshold 1.000)\\nreal.png: "
        in text
    ), err
    content = torch.load(gallery, weights_only=True)
    content["names"] = [
        "zero: unknown (nearest 'zero' at 0.100; threshold 0.500)\nbob"
    ]
    torch.save(content, gallery)
    one_line_error(
        capsys,
        "identify",
        gallery,
        pics / "class00" / "1.png",
        match="is damaged or was edited",
    )


def test_calibrating_on_the_folder_the_model_was_trained_on_is_refused(
    folder_model, tmp_path, capsys
):
    # Issue 36, 7: the threshold and "6.9% strangers accepted" were measured on classes the model trained on.
    root, out = folder_model
    one_line_error(
        capsys,
        "enrol",
        tmp_path / "g.pt",
        "zero",
        root / "pics" / "class00" / "0.png",
        "--model",
        out,
        "--calibrate",
        root / "pics",
        match=f"--calibrate {root / 'pics'} is the folder the model was "
        f"trained on",
    )
    one_line_error(
        capsys,
        "enrol",
        tmp_path / "g.pt",
        "zero",
        root / "pics" / "class00" / "0.png",
        "--model",
        out,
        "--calibrate",
        root / "pics" / ".." / "pics",
        match="leave --calibrate out to use the 2 classes",
    )
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["class00/0.png"],
            "is a picture, not a class's name: give the name first",
        ),
        (
            ["class00/0.png", "class00/1.png"],
            "is a picture, not a class's name",
        ),
        (
            ["class00"],
            "is a folder, not a class's name: to enrol each of its sub-folders as a class, give --folder",
        ),
        (["alice"], "give one or more pictures of 'alice' after its name"),
        (
            [],
            "give the class's name and its pictures (enrol GALLERY NAME PICTURE...), or --folder DIR",
        ),
    ],
)
def test_a_forgotten_name_is_said_not_taken_from_a_picture(
    folder_model, tmp_path, capsys, monkeypatch, argv, message
):
    # Issue 36, 8: `enrol gallery.pt pic.png` enrolled a class named after the picture's path.
    root, out = folder_model
    monkeypatch.chdir(root / "pics")
    one_line_error(
        capsys,
        "enrol",
        tmp_path / "g.pt",
        *argv,
        "--model",
        out,
        match=message,
    )
    assert not list(tmp_path.iterdir())


def test_group_batches_on_a_folder_without_groups_is_refused(
    folder_model, tmp_path, capsys
):
    # Issue 36, 3: --group-batches on a folder without groups: exit 0, and the card said group_batches True.
    root, _ = folder_model
    one_line_error(
        capsys,
        "train",
        "--data",
        root / "pics",
        *TINY,
        "--group-batches",
        "--out",
        tmp_path / "m.pt",
        match="--group-batches cannot act: the training data have a single group",
    )
    one_line_error(
        capsys,
        "train",
        "--data",
        root / "pics",
        *TINY,
        "--ink",
        "dark",
        "--invert",
        "--out",
        tmp_path / "m.pt",
        match="--invert cannot act: --ink dark replaces it",
    )
    assert not list(tmp_path.iterdir())
    code, _, err = run(
        capsys,
        "train",
        "--data",
        root / "pics",
        *TINY,
        "--rotations",
        "--group-batches",
        "--out",
        tmp_path / "m.pt",
    )  # rotations make each group four: then it acts
    assert code == 0, err
    assert json.loads((tmp_path / "m.json").read_text())["config"][
        "group_batches"
    ]
