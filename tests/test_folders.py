"""Your own pictures: folders read as labelled images, training on them, and galleries on the command line."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from siamese_tutorial import cli
from siamese_tutorial.data import load_image_folder, load_images, split_classes
from siamese_tutorial.gallery import Gallery
from siamese_tutorial.recipe import TrainConfig, load_training_data
from siamese_tutorial.training import load_checkpoint

TINY = ["--image-size", "16", "--blocks", "2", "--width", "4", "--embedding-dim", "8", "--no-rotations",
        "--p", "3", "--k", "2", "--steps", "4", "--validate-every", "2", "--validation-episodes", "3", "--quiet"]


def picture(path, seed, size=(20, 20), mode="L"):
    """A random picture: dark strokes on light paper."""
    rng = np.random.default_rng(seed)
    values = np.where(rng.random((size[1], size[0])) < 0.2, 0, 255).astype(np.uint8)
    image = Image.fromarray(values, mode="L")
    (image.convert("RGB") if mode == "RGB" else image).save(path)


def make_folder(root, classes=8, per_class=3, groups=None, size=(20, 20)):
    for c in range(classes):
        folder = root / (f"group{c % groups}/class{c:02d}" if groups else f"class{c:02d}")
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
    data = load_image_folder(make_folder(tmp_path / "pics", classes=4, per_class=3), image_size=8)
    assert data.images.shape == (12, 1, 8, 8) and data.num_classes == 4
    assert data.class_names == ["class00", "class01", "class02", "class03"] and data.group_names == ["all"]
    assert torch.equal(data.labels, torch.arange(4).repeat_interleave(3))
    assert 0 <= data.images.min() and data.images.max() <= 1
    inverted = load_image_folder(tmp_path / "pics", image_size=8, invert=True)
    torch.testing.assert_close(inverted.images, 1 - data.images)
    colour = load_image_folder(tmp_path / "pics", image_size=8, grayscale=False)
    assert colour.images.shape == (12, 3, 8, 8)


def test_groups_are_the_first_level_of_a_two_level_folder(tmp_path):
    data = load_image_folder(make_folder(tmp_path / "pics", classes=6, groups=2), image_size=8, groups=True)
    assert data.group_names == ["group0", "group1"] and data.class_names[0] == "group0/class00"
    assert data.class_group.tolist() == [0, 0, 0, 1, 1, 1]


def test_hidden_folders_and_files_are_not_classes(tmp_path):
    root = make_folder(tmp_path / "pics", classes=3)
    (root / ".ipynb_checkpoints").mkdir()
    (root / "class00" / ".DS_Store").write_bytes(b"")
    assert load_image_folder(root, image_size=8).num_classes == 3


@pytest.mark.parametrize("damage, message", [
    ("empty", "has no class folders; the layout is"),
    ("missing", "is not a folder"),
    ("single image", r"class01 has 1 image\(s\); every class needs at least 2"),
    ("text file", "notes.txt is not an image"),
    ("unreadable", "broken.png could not be read as an image"),
    ("one class", "has a single class"),
])
def test_bad_folders_get_a_message_that_names_the_file_or_folder(tmp_path, damage, message):
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


def test_pictures_of_mixed_sizes_are_resized_and_non_square_ones_said(tmp_path):
    make_folder(tmp_path / "pics", classes=2, size=(20, 20))
    picture(tmp_path / "pics" / "class00" / "wide.png", 7, size=(40, 10))
    picture(tmp_path / "pics" / "class01" / "big.png", 8, size=(200, 200))
    with pytest.warns(UserWarning, match=r"1 picture\(s\) are not square, e.g. .*wide.png"):
        data = load_image_folder(tmp_path / "pics", image_size=8)
    assert data.images.shape == (8, 1, 8, 8)
    with pytest.raises(ValueError, match="nothing.png is not a file"):
        load_images([tmp_path / "nothing.png"], 8)


def test_held_out_classes_are_never_trained_on(tmp_path):
    data = load_image_folder(make_folder(tmp_path / "pics", classes=10), image_size=8)
    train, held_out = split_classes(data, fraction=0.2, seed=3)
    assert held_out.num_classes == 2 and train.num_classes == 8
    assert not set(train.class_names) & set(held_out.class_names)
    assert split_classes(data, 0.2, seed=3)[1].class_names == held_out.class_names  # seeded
    with pytest.raises(ValueError, match="too few to hold 2 out"):
        split_classes(load_image_folder(make_folder(tmp_path / "few", classes=3), 8), 0.2, seed=0)


def test_too_few_classes_for_the_batch_names_the_folder(tmp_path):
    config = TrainConfig(data=str(make_folder(tmp_path / "pics", classes=6)), image_size=16, blocks=2, p=8, k=2)
    with pytest.raises(ValueError, match=r"pics: 4 training classes have 2 or more pictures .* p=8"):
        load_training_data(config)


# ----------------------------------------------------------------------------- the three commands


@pytest.fixture(scope="module")
def folder_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    make_folder(root / "pics", classes=10, per_class=4)
    out = root / "mine.pt"
    assert cli.main(["train", "--data", str(root / "pics"), *TINY, "--out", str(out)]) == 0
    return root, out


def test_train_on_a_folder_records_the_held_out_classes(folder_model):
    root, out = folder_model
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["config"]["data"] == str(root / "pics") and card["data"]["classes"] == 10
    assert len(card["data"]["validation_classes"]) == 2
    assert card["command"].split("--data ")[1].startswith(str(root / "pics"))
    model, checkpoint = load_checkpoint(out)
    assert model.image_size == 16 and checkpoint["complete"]


def test_enrol_identify_verify_from_the_command_line(folder_model, tmp_path, capsys):
    root, out = folder_model
    gallery, pics = tmp_path / "gallery.pt", root / "pics"
    code, text, _ = run(capsys, "enrol", gallery, "zero", pics / "class00" / "0.png", "--model", out, "--expected-size", "2")
    assert code == 0 and "new gallery; threshold" in text and "held-out classes" in text
    assert run(capsys, "enrol", gallery, "one", pics / "class01" / "0.png", pics / "class01" / "1.png")[0] == 0
    code, text, _ = run(capsys, "identify", gallery, pics / "class00" / "2.png", pics / "class05" / "1.png")
    assert code == 0 and text.count("\n") == 2 and "class00/2.png: " in text
    code, text, _ = run(capsys, "verify", gallery, "one", pics / "class01" / "3.png")
    assert code == 0 and ("yes, is 'one'" in text or "no, is not 'one'" in text)
    saved = Gallery.read_meta(gallery)
    assert saved["model"] == str(out) and saved["calibration"]["gallery_size"] == 1  # 2 held out: 1 enrolled, 1 stranger
    assert Gallery.load(gallery, load_checkpoint(out)[0]).names == ["zero", "one"]


def one_line_error(capsys, *argv, match):
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert match in err, err


def test_gallery_mistakes_are_one_clear_line(folder_model, tmp_path, capsys):
    root, out = folder_model
    gallery, pics = tmp_path / "gallery.pt", root / "pics"
    one_line_error(capsys, "identify", gallery, pics / "class00" / "0.png", match="no gallery at")
    one_line_error(capsys, "enrol", gallery, "x", pics / "class00" / "0.png", match="give --model")
    assert run(capsys, "enrol", gallery, "zero", pics / "class00" / "0.png", "--model", out)[0] == 0
    one_line_error(capsys, "enrol", gallery, "zero", pics / "class00" / "1.png", match="'zero' is already enrolled")
    one_line_error(capsys, "verify", gallery, "nobody", pics / "class00" / "1.png", match="'nobody' is not enrolled")
    one_line_error(capsys, "identify", gallery, tmp_path / "missing.png", match="missing.png is not a file")
    one_line_error(capsys, "enrol", gallery, "x", pics / "class00" / "0.png", "--model", "triplet",
                   match="belongs to the model")
    # the gallery's model was replaced by other weights: refused, never compared with the wrong encoder
    other = tmp_path / "other.pt"
    other.write_bytes(out.read_bytes())
    moved = tmp_path / "moved.pt"
    one_line_error(capsys, "enrol", moved, "zero", pics / "class00" / "0.png", "--model", other,
                   match="does not say which classes it held out; give --calibrate FOLDER")  # no card beside it
    assert run(capsys, "enrol", moved, "zero", pics / "class00" / "0.png", "--model", other, "--calibrate", pics)[0] == 0
    checkpoint = torch.load(other, weights_only=True)
    first = next(k for k, v in checkpoint["state_dict"].items() if v.is_floating_point())
    checkpoint["state_dict"][first] = checkpoint["state_dict"][first] + 1
    torch.save(checkpoint, other)
    one_line_error(capsys, "identify", moved, pics / "class00" / "1.png", match="was made with another encoder")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    one_line_error(capsys, "identify", tmp_path / "junk.pt", pics / "class00" / "1.png", match="is not a gallery")
