"""A folder of classes in one command: ``enrol GALLERY --folder DIR``, ``identify GALLERY DIR``, and the API's
``Gallery.enrol_folder``: every class enrolled as ``enrol`` would, all or nothing, one line per picture answered."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_folders import folder_model, one_line_error, picture, run  # noqa: F401 (folder_model: a fixture)

from siamese_tutorial import cli
from siamese_tutorial import gallery as gallery_module
from siamese_tutorial.data import load_images
from siamese_tutorial.gallery import Gallery
from siamese_tutorial.models import ConvEncoder
from siamese_tutorial.pictures import picture_files
from siamese_tutorial.training import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("one_thread")


def people(root, classes=5, per_class=(1, 3, 2), seed=0, prefix="person"):
    """A folder of classes (``person0``, ``person1``, ...) with 1, 3, 2, 1, 3, ... pictures each."""
    for c in range(classes):
        (root / f"{prefix}{c}").mkdir(parents=True)
        for i in range(per_class[c % len(per_class)]):
            picture(
                root / f"{prefix}{c}" / f"{i}.png", 7_000 + 100 * c + i + seed
            )
    return root


def encoder():
    torch.manual_seed(0)
    return ConvEncoder(
        width=4, blocks=2, embedding_dim=6, normalize=True, image_size=16
    )


# ----------------------------------------------------------------------------- the API


@pytest.mark.parametrize(
    "chunk", [512, 2]
)  # all at once, and a class or two at a time
def test_enrol_folder_enrols_every_class_as_enrol_does(
    tmp_path, monkeypatch, chunk
):
    monkeypatch.setattr(gallery_module, "FOLDER_CHUNK", chunk)
    folder = people(tmp_path / "people")
    (folder / ".ipynb_checkpoints").mkdir()  # hidden: no class
    one_by_one, at_once = (
        Gallery(encoder(), 0.5, shifts=1),
        Gallery(encoder(), 0.5, shifts=1),
    )
    for c in range(5):
        one_by_one.enrol(
            f"person{c}",
            load_images(
                sorted((folder / f"person{c}").iterdir()), 16, invert=True
            ),
        )
    assert at_once.enrol_folder(folder, invert=True) == [
        f"person{c}" for c in range(5)
    ]
    assert (
        at_once.names == one_by_one.names
        and at_once.counts == one_by_one.counts == [1, 3, 2, 1, 3]
    )
    torch.testing.assert_close(at_once.prototypes, one_by_one.prototypes)
    queries = load_images(
        [folder / "person1" / "2.png", folder / "person4" / "0.png"],
        16,
        invert=True,
    )
    assert at_once.identify(queries) == one_by_one.identify(queries)
    more = people(tmp_path / "more", classes=2, seed=50)
    with pytest.raises(
        ValueError, match=r"more/person0: 'person0' is already enrolled"
    ):
        at_once.enrol_folder(more)
    assert (
        at_once.names == one_by_one.names
    )  # refused whole: nothing of it enrolled
    assert at_once.enrol_folder(
        people(tmp_path / "others", classes=2, prefix="other")
    ) == ["other0", "other1"]
    assert (
        at_once.names[-3:] == ["person4", "other0", "other1"]
        and len(at_once.prototypes) == 7
    )


def test_enrol_folder_is_all_or_nothing(tmp_path):
    gallery = Gallery(encoder(), 0.5)
    gallery.enrol("first", torch.rand(1, 1, 16, 16))
    before = gallery.prototypes.clone()
    folder = people(tmp_path / "people")
    (folder / "person4" / "9.png").write_bytes(
        b"not a picture"
    )  # the last class: read after all the others
    with pytest.raises(
        ValueError, match=r"person4/9.png could not be read as an image"
    ):
        gallery.enrol_folder(folder)
    (folder / "person4" / "9.png").unlink()
    (folder / "unknown").mkdir()
    picture(folder / "unknown" / "0.png", 1)
    with pytest.raises(
        ValueError,
        match=r"the class folder .*unknown cannot be a class's name \(.*reads like "
        r"'unknown'.*\); rename the folder",
    ):
        gallery.enrol_folder(folder)
    (folder / "unknown" / "0.png").unlink()
    (folder / "unknown").rename(folder / "empty")
    with pytest.raises(
        ValueError, match=r"the class folder .*empty has no pictures"
    ):
        gallery.enrol_folder(folder)
    (folder / "empty").rmdir()
    (folder / "person2" / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"person2/notes.txt is not an image"):
        gallery.enrol_folder(folder)
    (folder / "person2" / "notes.txt").unlink()
    with pytest.raises(
        ValueError,
        match="person1 holds pictures, not class folders; the layout is",
    ):
        gallery.enrol_folder(
            folder / "person1"
        )  # a class's folder, not a folder of classes
    picture(folder / "loose.png", 5)
    with pytest.raises(
        ValueError,
        match="loose.png is a picture outside any class folder: it would be left out",
    ):
        gallery.enrol_folder(folder)
    (folder / "loose.png").unlink()
    assert gallery.names == ["first"] and torch.equal(
        gallery.prototypes, before
    )
    (folder / "README.txt").write_text(
        "my people"
    )  # beside the class folders, and no picture: no class either
    (folder / "person0" / "loop").symlink_to(folder)  # a link back up: no trap
    assert len(gallery.enrol_folder(folder)) == 5
    with pytest.raises(
        ValueError, match="README.txt is not an image"
    ):  # a folder to identify: every file is read
        picture_files([folder])
    (folder / "README.txt").unlink()
    assert picture_files([folder]) == sorted(
        folder.glob("person*/*.png"), key=lambda p: p.relative_to(folder).parts
    )


def test_the_pictures_read_in_chunks_are_said_once(tmp_path, monkeypatch):
    monkeypatch.setattr(gallery_module, "FOLDER_CHUNK", 2)
    folder = people(tmp_path / "people")
    for c in (0, 3):
        picture(folder / f"person{c}" / "wide.png", c, size=(30, 10))
    with pytest.warns(UserWarning) as said:
        Gallery(encoder(), 0.5).enrol_folder(folder)
    assert [str(w.message) for w in said] == [
        f"2 picture(s) are not square, e.g. {folder / 'person0' / 'wide.png'}: "
        f"they are stretched to 16 x 16; crop them to squares first if their "
        f"shape matters"
    ]


# ----------------------------------------------------------------------------- the command line


def test_enrol_a_folder_then_identify_and_verify_folders(
    folder_model, tmp_path, capsys
):
    root, model = folder_model
    folder, gallery = people(tmp_path / "people"), tmp_path / "g.pt"
    code, text, err = run(
        capsys, "enrol", gallery, "--folder", folder, "--model", model
    )
    assert code == 0, err
    assert (
        f"enrolled 5 classes of {folder} from 10 picture(s); {gallery} holds 5: person0, person1, person2, "
        f"person3, person4\n" in text
    )
    assert (
        Gallery.read_meta(gallery)["calibration"]["expected_size"] == 10
    )  # at least the classes enrolled
    loaded = Gallery.load(gallery, load_checkpoint(model)[0])
    assert loaded.names == [
        f"person{c}" for c in range(5)
    ] and loaded.counts == [1, 3, 2, 1, 3]
    # identify a folder: one line per picture, in its sorted order (sub-folders too), as identify gives each
    code, text, err = run(capsys, "identify", gallery, folder)
    assert code == 0, err
    pictures = sorted(
        folder.rglob("*.png"), key=lambda p: p.relative_to(folder).parts
    )
    assert [line.split(": ")[0] for line in text.splitlines()] == [
        str(p) for p in pictures
    ]
    code, one, _ = run(capsys, "identify", gallery, pictures[4])
    assert one in text.splitlines(keepends=True)
    code, text, err = run(
        capsys, "verify", gallery, "person1", folder / "person1", pictures[0]
    )
    assert (
        code == 0
        and len(text.splitlines()) == 4
        and text.splitlines()[-1].startswith(f"{pictures[0]}: ")
    ), err
    one_line_error(
        capsys,
        "verify",
        gallery,
        "nobody",
        folder,
        match="'nobody' is not enrolled",
    )


def test_enrol_folder_mistakes_are_one_clear_line_and_leave_nothing(
    folder_model, tmp_path, capsys
):
    root, model = folder_model
    folder, gallery = people(tmp_path / "people"), tmp_path / "new" / "g.pt"
    one_line_error(
        capsys,
        "enrol",
        gallery,
        "alice",
        "--folder",
        folder,
        "--model",
        model,
        match="give either a class's name and its pictures, or --folder",
    )
    (
        folder / "bob\nperson9: unknown"
    ).mkdir()  # a name that would forge a line
    picture(folder / "bob\nperson9: unknown" / "0.png", 3)
    one_line_error(
        capsys,
        "enrol",
        gallery,
        "--folder",
        folder,
        "--model",
        model,
        match=r"bob\nperson9: unknown cannot be a class's name",
    )
    assert not (
        tmp_path / "new"
    ).exists()  # no gallery, no lock file, no empty folder
    one_line_error(
        capsys,
        "enrol",
        gallery,
        "--folder",
        tmp_path / "nowhere",
        "--model",
        model,
        match="nowhere is not a folder; give the folder that holds one sub-folder per class",
    )
    assert not (tmp_path / "new").exists()


def test_a_gallery_grown_past_its_expected_size_says_so(
    folder_model, tmp_path, capsys
):
    # The threshold depends on the gallery's size: a gallery of 10 grown to 12 lets in more strangers than it said.
    root, model = folder_model
    gallery = tmp_path / "g.pt"
    assert (
        run(
            capsys,
            "enrol",
            gallery,
            "first",
            root / "pics" / "class00" / "0.png",
            "--model",
            model,
        )[0]
        == 0
    )
    code, text, err = run(
        capsys,
        "enrol",
        gallery,
        "--folder",
        people(tmp_path / "people", classes=12),
    )
    assert code == 0, err
    assert (
        f"note: {gallery} holds 13 classes, more than the 10 its threshold was chosen for (--expected-size)"
        in text
    )
    assert (
        "person0, person1, person10, person11, person2, person3, person4, person5, person6 and 3 more"
        in text
    )


def test_a_folder_enrols_in_one_start_with_a_progress_bar(
    folder_model, tmp_path
):
    root, model = folder_model
    folder, gallery = (
        people(tmp_path / "people", classes=30),
        tmp_path / "g.pt",
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "TQDM_DISABLE"
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "siamese_tutorial",
            "enrol",
            str(gallery),
            "--folder",
            str(folder),
            "--model",
            str(model),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**env, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0 and "enrolled 30 classes" in done.stdout, (
        done.stderr
    )
    assert "enrolling: 100%" in done.stderr and "30/30" in done.stderr
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "siamese_tutorial",
            "identify",
            str(gallery),
            str(folder),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**env, "TQDM_DISABLE": "1"},
    )
    assert (
        done.returncode == 0
        and len(done.stdout.splitlines()) == 60
        and done.stderr == ""
    ), done.stderr


def test_two_folders_enrolled_at_once_both_land(folder_model, tmp_path):
    # Two real processes enrolling folders into one gallery: each reads, enrols and writes back holding its lock.
    root, model = folder_model
    gallery = tmp_path / "g.pt"
    assert (
        cli.main(
            [
                "enrol",
                str(gallery),
                "first",
                str(root / "pics" / "class00" / "0.png"),
                "--model",
                str(model),
            ]
        )
        == 0
    )
    jobs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "siamese_tutorial",
                "enrol",
                str(gallery),
                "--folder",
                str(
                    people(tmp_path / prefix, classes=3, seed=i, prefix=prefix)
                ),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        for i, prefix in enumerate(["a", "b"])
    ]
    results = [job.communicate(timeout=300) for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0], results
    names = Gallery.load(gallery, load_checkpoint(model)[0]).names
    assert names[0] == "first" and sorted(names[1:]) == [
        "a0",
        "a1",
        "a2",
        "b0",
        "b1",
        "b2",
    ]
    one_line = subprocess.run(
        [
            sys.executable,
            "-m",
            "siamese_tutorial",
            "enrol",
            str(gallery),
            "--folder",
            str(tmp_path / "a"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert (
        one_line.returncode == 2
        and one_line.stderr.count("\n") == 1
        and "'a0' is already enrolled" in one_line.stderr
    ), one_line.stderr


def test_the_readmes_folder_commands_work_as_written(
    folder_model, tmp_path, capsys, monkeypatch
):
    root, model = folder_model
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("A folder of classes is one command") :]
    block = block[
        block.index("```bash\n") + 8 : block.index(
            "```\n", block.index("```bash\n") + 8
        )
    ]
    commands = [line.split("#")[0].split()[3:] for line in block.splitlines()]
    assert [argv[0] for argv in commands] == [
        "enrol",
        "identify",
    ] and "--folder" in commands[0]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    for suffix in (
        ".pt",
        ".json",
    ):  # a model trained on a folder, with its card (which names its held-out classes)
        (tmp_path / "runs" / f"mine{suffix}").write_bytes(
            model.with_suffix(suffix).read_bytes()
        )
    people(tmp_path / "my_people")
    people(tmp_path / "new_pictures", classes=2, seed=50)
    code, text, err = run(capsys, *commands[0])
    assert (
        code == 0
        and "enrolled 5 classes of my_people from 10 picture(s)" in text
    ), err
    code, text, err = run(capsys, *commands[1])
    assert (
        code == 0
        and len(text.splitlines()) == 4
        and text.startswith("new_pictures/person0/0.png: ")
    ), err
