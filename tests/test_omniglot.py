"""siamese_tutorial.omniglot: the real Omniglot files, and small zips made here for the download and error paths."""

import dataclasses
import hashlib
import io
import socket
import threading
import warnings
import zipfile
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from siamese_tutorial import omniglot
from siamese_tutorial.omniglot import (
    OmniglotDataError,
    load_omniglot,
    load_one_shot_runs,
)

# ----------------------------------------------------------------------------- the real data


def test_background_counts(omniglot_background):
    ds = omniglot_background
    assert ds.num_classes == 964
    assert len(ds.group_names) == 30
    assert ds.images.shape == (964 * 20, 1, 28, 28)
    assert ds.images.dtype == torch.float32
    assert Counter(ds.labels.tolist()) == {c: 20 for c in range(964)}


def test_evaluation_counts(omniglot_evaluation):
    ds = omniglot_evaluation
    assert ds.num_classes == 659
    assert len(ds.group_names) == 20
    assert Counter(ds.labels.tolist()) == {c: 20 for c in range(659)}


@pytest.mark.parametrize(
    "split, characters",
    [("background_small1", 136), ("background_small2", 156)],
)
def test_small_background_counts(split, characters):
    ds = load_omniglot(split, image_size=28, download=False)
    assert ds.num_classes == characters
    assert len(ds.group_names) == 5
    assert len(ds) == 20 * characters


def test_ink_is_one_and_paper_is_zero(omniglot_background):
    full = load_omniglot("background_small1", image_size=105, download=False)
    assert set(torch.unique(full.images).tolist()) == {0.0, 1.0}
    # Strokes cover a small part of the page: if the colours were flipped, the mean would be near 1.
    assert 0.01 < full.images.mean() < 0.2
    assert 0.01 < omniglot_background.images.mean() < 0.3
    assert (
        omniglot_background.images.min() >= 0
        and omniglot_background.images.max() <= 1
    )


def test_resizing_is_area_averaging():
    full = load_omniglot("background_small1", image_size=105, download=False)
    small = load_omniglot("background_small1", image_size=35, download=False)
    # 105 = 3 x 35: each small pixel is the mean of a 3 x 3 block.
    expected = full.images[:5].reshape(5, 1, 35, 3, 35, 3).mean(dim=(3, 5))
    torch.testing.assert_close(small.images[:5], expected)


def test_alphabet_bookkeeping(omniglot_evaluation):
    ds = omniglot_evaluation
    for label in (0, 100, 658):
        name = ds.class_names[label]
        assert name.split("/")[0] == ds.group_names[ds.class_group[label]]
    assert ds.group_labels.shape == ds.labels.shape
    sub = ds.select_groups(["Angelic", "Keble"])
    assert sub.group_names == ["Angelic", "Keble"]
    assert sub.labels.max() + 1 == sub.num_classes == len(sub.class_names)
    assert all(
        n.split("/")[0] in ("Angelic", "Keble") for n in sub.class_names
    )
    assert len(sub) == 20 * sub.num_classes
    first = sub.class_names[0]
    original = ds.images[ds.labels == ds.class_names.index(first)]
    torch.testing.assert_close(sub.images[sub.labels == 0], original)
    with pytest.raises(ValueError, match="Unknown groups"):
        ds.select_groups(["Klingon"])


def test_one_shot_runs(one_shot_runs):
    runs = one_shot_runs
    assert [r.name for r in runs] == [f"run{i:02d}" for i in range(1, 21)]
    for run in runs:
        assert (
            run.train_images.shape
            == run.test_images.shape
            == (20, 1, 105, 105)
        )
        # Each of the 20 classes is asked once.
        assert sorted(run.test_labels.tolist()) == list(range(20))
        assert run.train_files == [
            f"training/class{i:02d}.png" for i in range(1, 21)
        ]
        assert run.test_files == [
            f"test/item{i:02d}.png" for i in range(1, 21)
        ]
    # run01's first line: test/item01.png is of training/class08.png (index 7).
    assert runs[0].test_labels[0] == 7
    assert not torch.equal(runs[0].train_images[7], runs[0].test_images[0])


def test_one_shot_runs_resized():
    runs = load_one_shot_runs(image_size=28, download=False)
    assert runs[3].test_images.shape == (20, 1, 28, 28)


def test_bad_arguments():
    with pytest.raises(ValueError, match="Unknown Omniglot split 'training'"):
        load_omniglot("training")
    with pytest.raises(ValueError, match="load_one_shot_runs"):
        load_omniglot("all_runs")
    with pytest.raises(
        ValueError, match="image_size must be an int between 4 and 105"
    ):
        load_omniglot("background_small1", image_size=200, download=False)


# ----------------------------------------------------------------------------- made-up zips


def _png(ink_pixels) -> bytes:
    image = np.ones(
        (105, 105), dtype=bool
    )  # paper is white (True) in the official files
    for r, c in ink_pixels:
        image[r, c] = False
    buffer = io.BytesIO()
    Image.fromarray(image).convert("1").save(buffer, format="PNG")
    return buffer.getvalue()


def _tiny_zip(
    path, top="images_background_small1", alphabets=2, characters=2, drawers=3
):
    """A zip laid out like the official ones: top/alphabet/characterNN/DDDD_NN.png."""
    with zipfile.ZipFile(path, "w") as zf:
        for a in range(alphabets):
            for c in range(characters):
                for d in range(drawers):
                    zf.writestr(
                        f"{top}/Alpha{a}/character{c + 1:02d}/{a}{c}_{d + 1:02d}.png",
                        _png([(10 * a + c, 5 + d), (50, 50)]),
                    )
    return path


@pytest.fixture
def tiny_split(tmp_path, monkeypatch):
    """A fake 'background_small1' served by a file:// URL, with its md5, in place of the official one."""
    (tmp_path / "served").mkdir()
    served = _tiny_zip(tmp_path / "served" / "images_background_small1.zip")
    md5 = hashlib.md5(served.read_bytes()).hexdigest()
    info = dataclasses.replace(
        omniglot.SPLITS["background_small1"],
        url=served.as_uri(),
        md5=md5,
        alphabets=2,
        characters=4,
        images=12,
    )
    monkeypatch.setitem(omniglot.SPLITS, "background_small1", info)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    data_dir = tmp_path / "data"
    return data_dir, served, info


def test_download_checks_md5_and_renames(tiny_split):
    data_dir, served, _ = tiny_split
    ds = load_omniglot("background_small1", image_size=105, data_dir=data_dir)
    assert (
        data_dir / "images_background_small1.zip"
    ).read_bytes() == served.read_bytes()
    assert ds.num_classes == 4 and len(ds) == 12
    assert ds.group_names == ["Alpha0", "Alpha1"]
    assert ds.class_names[3] == "Alpha1/character02"
    # Ink (the two black pixels) is 1.
    assert ds.images[0].sum() == 2 and ds.images[0, 0, 50, 50] == 1
    assert not list(data_dir.glob("*.part")) and not list(
        (data_dir / "cache").glob("*.part")
    )


def test_download_with_wrong_md5_leaves_nothing(tiny_split, monkeypatch):
    data_dir, _, info = tiny_split
    monkeypatch.setitem(
        omniglot.SPLITS,
        "background_small1",
        dataclasses.replace(info, md5="0" * 32),
    )
    with pytest.raises(OmniglotDataError, match="md5"):
        load_omniglot("background_small1", data_dir=data_dir)
    assert list(data_dir.iterdir()) == []


def test_offline_error_says_what_to_put_where(tiny_split, monkeypatch):
    data_dir, served, info = tiny_split
    served.unlink()
    with pytest.raises(
        OmniglotDataError,
        match=r"Put images_background_small1.zip .* into .*data",
    ):
        load_omniglot("background_small1", data_dir=data_dir)
    with pytest.raises(OmniglotDataError, match="does not exist"):
        load_omniglot("background_small1", data_dir=data_dir, download=False)
    assert not data_dir.exists() or list(data_dir.iterdir()) == []


def test_truncated_zip_is_reported_and_nothing_is_left(tiny_split):
    data_dir, served, _ = tiny_split
    data_dir.mkdir()
    (data_dir / "images_background_small1.zip").write_bytes(
        served.read_bytes()[:-300]
    )
    with pytest.raises(OmniglotDataError, match="corrupted or truncated"):
        load_omniglot("background_small1", data_dir=data_dir)
    assert sorted(p.name for p in data_dir.iterdir()) == [
        "images_background_small1.zip"
    ]


def test_damaged_zip_content_is_reported(tiny_split):
    data_dir, served, _ = tiny_split
    data_dir.mkdir()
    raw = bytearray(served.read_bytes())
    first_png = raw.find(b"\x89PNG")
    raw[first_png + 40 : first_png + 44] = (
        b"XXXX"  # inside the first image: its CRC no longer matches
    )
    (data_dir / "images_background_small1.zip").write_bytes(bytes(raw))
    with pytest.raises(OmniglotDataError, match="corrupted or truncated"):
        load_omniglot("background_small1", data_dir=data_dir)


def test_incomplete_split_is_reported(tiny_split, tmp_path):
    data_dir, _, _ = tiny_split
    data_dir.mkdir()
    _tiny_zip(data_dir / "images_background_small1.zip", characters=1)
    with pytest.raises(
        OmniglotDataError,
        match="incomplete: found 2 alphabets, 2 characters and 6 images",
    ):
        load_omniglot("background_small1", data_dir=data_dir)


def test_extracted_folder_comes_first_and_cache_follows_the_source(tiny_split):
    data_dir, served, _ = tiny_split
    from_zip = load_omniglot(
        "background_small1", image_size=105, data_dir=data_dir
    )
    assert (data_dir / "cache" / "background_small1.npz").exists()
    with zipfile.ZipFile(served) as zf:
        zf.extractall(data_dir)
    (data_dir / "images_background_small1.zip").unlink()
    from_folder = load_omniglot(
        "background_small1", image_size=105, data_dir=data_dir, download=False
    )
    torch.testing.assert_close(from_folder.images, from_zip.images)
    assert torch.equal(from_folder.labels, from_zip.labels)
    # A different source is not served from the old cache.
    one_image = next((data_dir / "images_background_small1").rglob("*.png"))
    one_image.write_bytes(_png([(1, 1)]))
    changed = load_omniglot(
        "background_small1", image_size=105, data_dir=data_dir, download=False
    )
    assert (changed.images != from_zip.images).any()


def test_one_shot_runs_missing_offline(tmp_path):
    with pytest.raises(OmniglotDataError, match="Put all_runs.zip"):
        load_one_shot_runs(data_dir=tmp_path, download=False)


def test_validation_alphabets_are_the_evaluation_alphabets_no_run_uses(
    omniglot_evaluation, one_shot_runs
):
    assert set(omniglot.VALIDATION_ALPHABETS) | set(
        omniglot.RUN_ALPHABETS
    ) == set(omniglot_evaluation.group_names)
    assert not set(omniglot.VALIDATION_ALPHABETS) & set(omniglot.RUN_ALPHABETS)
    # Every image of every run is an evaluation image of the alphabet the run names: two runs each.
    full = load_omniglot("evaluation", image_size=105, download=False)
    alphabet_of = {
        bytes(image.numpy().astype(bool)): full.group_names[g]
        for image, g in zip(full.images, full.group_labels.tolist())
    }
    for run in one_shot_runs:
        found = {
            alphabet_of[bytes(image.numpy().astype(bool))]
            for image in torch.cat([run.train_images, run.test_images])
        }
        assert (
            found == {run.alphabet} and run.alphabet in omniglot.RUN_ALPHABETS
        ), run.name
    assert [run.alphabet for run in one_shot_runs[:4]] == [
        "Atlantean",
        "Atlantean",
        "Ge_ez",
        "Ge_ez",
    ]
    validation = omniglot.load_validation_set(image_size=28, download=False)
    assert sorted(validation.group_names) == sorted(
        omniglot.VALIDATION_ALPHABETS
    )


# ----------------------------------------------------------------------------- faults the loader rides through


def test_a_read_only_data_folder_loads_with_the_cache_in_the_user_cache(
    tiny_split, tmp_path, read_only
):
    data_dir, served, _ = tiny_split
    data_dir.mkdir()
    (data_dir / "images_background_small1.zip").write_bytes(
        served.read_bytes()
    )
    read_only(data_dir)
    with warnings.catch_warnings():
        warnings.simplefilter(
            "error"
        )  # the user cache takes it: nothing to warn about
        first = load_omniglot(
            "background_small1",
            image_size=28,
            data_dir=data_dir,
            download=False,
        )
    caches = list(
        (tmp_path / "xdg" / "siamese_tutorial").rglob("background_small1.npz")
    )
    assert len(caches) == 1 and not (data_dir / "cache").exists()
    again = load_omniglot(
        "background_small1", image_size=28, data_dir=data_dir, download=False
    )
    assert torch.equal(first.images, again.images)


def test_with_no_writable_cache_anywhere_loading_works_and_says_so(
    tiny_split, tmp_path, read_only, monkeypatch
):
    data_dir, served, _ = tiny_split
    data_dir.mkdir()
    (data_dir / "images_background_small1.zip").write_bytes(
        served.read_bytes()
    )
    (tmp_path / "xdg").mkdir()
    read_only(data_dir)
    read_only(tmp_path / "xdg")
    with pytest.warns(
        UserWarning,
        match="no cache of the decoded Omniglot images could be written",
    ):
        data = load_omniglot(
            "background_small1",
            image_size=28,
            data_dir=data_dir,
            download=False,
        )
    assert data.num_classes == 4


@pytest.mark.parametrize(
    "damage", ["truncated", "random bytes", "missing key", "pickled object"]
)
def test_an_unreadable_cache_is_rebuilt_from_the_zip(tiny_split, damage):
    data_dir, _, _ = tiny_split
    good = load_omniglot(
        "background_small1", image_size=105, data_dir=data_dir
    )
    cache = data_dir / "cache" / "background_small1.npz"
    raw = cache.read_bytes()
    if damage == "truncated":
        cache.write_bytes(raw[: len(raw) // 2])
    elif damage == "random bytes":
        cache.write_bytes(np.random.default_rng(0).bytes(len(raw)))
    elif damage == "missing key":
        with np.load(cache) as stored:
            np.savez(cache, paths=stored["paths"], bits=stored["bits"])
    else:  # a pickle inside must never be loaded
        np.savez(
            cache,
            paths=np.array([object()], dtype=object),
            bits=np.zeros(1),
            fingerprint=np.array("x"),
        )
    with pytest.warns(UserWarning, match="could not be read .* rebuilding it"):
        rebuilt = load_omniglot(
            "background_small1", image_size=105, data_dir=data_dir
        )
    assert torch.equal(rebuilt.images, good.images)
    with warnings.catch_warnings():
        warnings.simplefilter(
            "error"
        )  # rebuilt: the next load reads it quietly
        load_omniglot("background_small1", image_size=105, data_dir=data_dir)


def test_an_image_of_another_size_is_named(tiny_split):
    data_dir, _, _ = tiny_split
    data_dir.mkdir()
    path = _tiny_zip(data_dir / "images_background_small1.zip")
    with zipfile.ZipFile(path, "a") as zf:
        buffer = io.BytesIO()
        Image.new("1", (100, 100), 1).save(buffer, format="PNG")
        zf.writestr(
            "images_background_small1/Alpha0/character01/extra_04.png",
            buffer.getvalue(),
        )
    with pytest.raises(
        OmniglotDataError,
        match=r"Alpha0/character01/extra_04.png is 100x100 pixels, but every "
        r"Omniglot image is 105x105",
    ):
        load_omniglot("background_small1", data_dir=data_dir)


class _Server:
    """A loopback HTTP server that answers every request with the same raw bytes, then hangs up."""

    def __init__(self, reply: bytes):
        self.reply = reply
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/images_background_small1.zip"
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                connection.sendall(self.reply)

    def close(self):
        self.socket.close()


@pytest.mark.parametrize(
    "reply, error",
    [
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000,
            "IncompleteRead",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n"
            + b"x" * 100,
            "IncompleteRead",
        ),
        (b"garbage, not HTTP\r\n\r\n", "BadStatusLine"),
        (
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            "HTTP Error 404",
        ),
    ],
)
def test_a_cut_download_is_one_clear_error_and_leaves_nothing(
    tiny_split, monkeypatch, reply, error
):
    data_dir, _, info = tiny_split
    server = _Server(reply)
    try:
        monkeypatch.setitem(
            omniglot.SPLITS,
            "background_small1",
            dataclasses.replace(info, url=server.url),
        )
        with pytest.raises(
            OmniglotDataError,
            match=f"the download failed \\(.*{error}.*nothing was saved",
        ):
            load_omniglot("background_small1", data_dir=data_dir)
        with pytest.raises(OmniglotDataError) as raised:
            load_omniglot("background_small1", data_dir=data_dir)
        assert "\n" not in str(raised.value) and "\r" not in str(
            raised.value
        )  # one line
    finally:
        server.close()
    assert not data_dir.exists() or list(data_dir.iterdir()) == []
