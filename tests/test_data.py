"""siamese_tutorial.data: the real Omniglot files, and small zips made here for the download and error paths."""

import dataclasses
import hashlib
import io
import os
import zipfile
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from siamese_tutorial import data
from siamese_tutorial.data import (
    OmniglotDataError,
    PKSampler,
    atomic_write,
    load_omniglot,
    load_one_shot_runs,
    random_affine,
    random_pairs,
    random_triplets,
    with_rotations,
)

# ----------------------------------------------------------------------------- the real data


def test_background_counts(omniglot_background):
    ds = omniglot_background
    assert ds.num_classes == 964
    assert len(ds.alphabet_names) == 30
    assert ds.images.shape == (964 * 20, 1, 28, 28)
    assert ds.images.dtype == torch.float32
    assert Counter(ds.labels.tolist()) == {c: 20 for c in range(964)}


def test_evaluation_counts(omniglot_evaluation):
    ds = omniglot_evaluation
    assert ds.num_classes == 659
    assert len(ds.alphabet_names) == 20
    assert Counter(ds.labels.tolist()) == {c: 20 for c in range(659)}


@pytest.mark.parametrize("split, characters", [("background_small1", 136), ("background_small2", 156)])
def test_small_background_counts(split, characters):
    ds = load_omniglot(split, image_size=28, download=False)
    assert ds.num_classes == characters
    assert len(ds.alphabet_names) == 5
    assert len(ds) == 20 * characters


def test_ink_is_one_and_paper_is_zero(omniglot_background):
    full = load_omniglot("background_small1", image_size=105, download=False)
    assert set(torch.unique(full.images).tolist()) == {0.0, 1.0}
    # Strokes cover a small part of the page: if the colours were flipped, the mean would be near 1.
    assert 0.01 < full.images.mean() < 0.2
    assert 0.01 < omniglot_background.images.mean() < 0.3
    assert omniglot_background.images.min() >= 0 and omniglot_background.images.max() <= 1


def test_resizing_is_area_averaging():
    full = load_omniglot("background_small1", image_size=105, download=False)
    small = load_omniglot("background_small1", image_size=35, download=False)
    # 105 = 3 x 35: each small pixel is the mean of a 3 x 3 block.
    expected = full.images[:5].reshape(5, 1, 35, 3, 35, 3).mean(dim=(3, 5))
    torch.testing.assert_close(small.images[:5], expected)


def test_alphabet_bookkeeping(omniglot_evaluation):
    ds = omniglot_evaluation
    for label in (0, 100, 658):
        name = ds.character_names[label]
        assert name.split("/")[0] == ds.alphabet_names[ds.character_alphabet[label]]
    assert ds.alphabet_labels.shape == ds.labels.shape
    sub = ds.select_alphabets(["Angelic", "Keble"])
    assert sub.alphabet_names == ["Angelic", "Keble"]
    assert sub.labels.max() + 1 == sub.num_classes == len(sub.character_names)
    assert all(n.split("/")[0] in ("Angelic", "Keble") for n in sub.character_names)
    assert len(sub) == 20 * sub.num_classes
    first = sub.character_names[0]
    original = ds.images[ds.labels == ds.character_names.index(first)]
    torch.testing.assert_close(sub.images[sub.labels == 0], original)
    with pytest.raises(ValueError, match="Unknown alphabets"):
        ds.select_alphabets(["Klingon"])


def test_one_shot_runs(one_shot_runs):
    runs = one_shot_runs
    assert [r.name for r in runs] == [f"run{i:02d}" for i in range(1, 21)]
    for run in runs:
        assert run.train_images.shape == run.test_images.shape == (20, 1, 105, 105)
        # Each of the 20 classes is asked once.
        assert sorted(run.test_labels.tolist()) == list(range(20))
        assert run.train_files == [f"training/class{i:02d}.png" for i in range(1, 21)]
        assert run.test_files == [f"test/item{i:02d}.png" for i in range(1, 21)]
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
    with pytest.raises(ValueError, match="image_size must be an int between 4 and 105"):
        load_omniglot("background_small1", image_size=200, download=False)


# ----------------------------------------------------------------------------- made-up zips


def _png(ink_pixels) -> bytes:
    image = np.ones((105, 105), dtype=bool)  # paper is white (True) in the official files
    for r, c in ink_pixels:
        image[r, c] = False
    buffer = io.BytesIO()
    Image.fromarray(image).convert("1").save(buffer, format="PNG")
    return buffer.getvalue()


def _tiny_zip(path, top="images_background_small1", alphabets=2, characters=2, drawers=3):
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
        data.SPLITS["background_small1"], url=served.as_uri(), md5=md5, alphabets=2, characters=4, images=12
    )
    monkeypatch.setitem(data.SPLITS, "background_small1", info)
    data_dir = tmp_path / "data"
    return data_dir, served, info


def test_download_checks_md5_and_renames(tiny_split):
    data_dir, served, _ = tiny_split
    ds = load_omniglot("background_small1", image_size=105, data_dir=data_dir)
    assert (data_dir / "images_background_small1.zip").read_bytes() == served.read_bytes()
    assert ds.num_classes == 4 and len(ds) == 12
    assert ds.alphabet_names == ["Alpha0", "Alpha1"]
    assert ds.character_names[3] == "Alpha1/character02"
    # Ink (the two black pixels) is 1.
    assert ds.images[0].sum() == 2 and ds.images[0, 0, 50, 50] == 1
    assert not list(data_dir.glob("*.part")) and not list((data_dir / "cache").glob("*.part"))


def test_download_with_wrong_md5_leaves_nothing(tiny_split, monkeypatch):
    data_dir, _, info = tiny_split
    monkeypatch.setitem(data.SPLITS, "background_small1", dataclasses.replace(info, md5="0" * 32))
    with pytest.raises(OmniglotDataError, match="md5"):
        load_omniglot("background_small1", data_dir=data_dir)
    assert list(data_dir.iterdir()) == []


def test_offline_error_says_what_to_put_where(tiny_split, monkeypatch):
    data_dir, served, info = tiny_split
    served.unlink()
    with pytest.raises(OmniglotDataError, match=r"Put images_background_small1.zip .* into .*data"):
        load_omniglot("background_small1", data_dir=data_dir)
    with pytest.raises(OmniglotDataError, match="does not exist"):
        load_omniglot("background_small1", data_dir=data_dir, download=False)
    assert not data_dir.exists() or list(data_dir.iterdir()) == []


def test_truncated_zip_is_reported_and_nothing_is_left(tiny_split):
    data_dir, served, _ = tiny_split
    data_dir.mkdir()
    (data_dir / "images_background_small1.zip").write_bytes(served.read_bytes()[:-300])
    with pytest.raises(OmniglotDataError, match="corrupted or truncated"):
        load_omniglot("background_small1", data_dir=data_dir)
    assert sorted(p.name for p in data_dir.iterdir()) == ["images_background_small1.zip"]


def test_damaged_zip_content_is_reported(tiny_split):
    data_dir, served, _ = tiny_split
    data_dir.mkdir()
    raw = bytearray(served.read_bytes())
    first_png = raw.find(b"\x89PNG")
    raw[first_png + 40: first_png + 44] = b"XXXX"  # inside the first image: its CRC no longer matches
    (data_dir / "images_background_small1.zip").write_bytes(bytes(raw))
    with pytest.raises(OmniglotDataError, match="corrupted or truncated"):
        load_omniglot("background_small1", data_dir=data_dir)


def test_incomplete_split_is_reported(tiny_split, tmp_path):
    data_dir, _, _ = tiny_split
    data_dir.mkdir()
    _tiny_zip(data_dir / "images_background_small1.zip", characters=1)
    with pytest.raises(OmniglotDataError, match="incomplete: found 2 alphabets, 2 characters and 6 images"):
        load_omniglot("background_small1", data_dir=data_dir)


def test_extracted_folder_comes_first_and_cache_follows_the_source(tiny_split):
    data_dir, served, _ = tiny_split
    from_zip = load_omniglot("background_small1", image_size=105, data_dir=data_dir)
    assert (data_dir / "cache" / "background_small1.npz").exists()
    with zipfile.ZipFile(served) as zf:
        zf.extractall(data_dir)
    (data_dir / "images_background_small1.zip").unlink()
    from_folder = load_omniglot("background_small1", image_size=105, data_dir=data_dir, download=False)
    torch.testing.assert_close(from_folder.images, from_zip.images)
    assert torch.equal(from_folder.labels, from_zip.labels)
    # A different source is not served from the old cache.
    one_image = next((data_dir / "images_background_small1").rglob("*.png"))
    one_image.write_bytes(_png([(1, 1)]))
    changed = load_omniglot("background_small1", image_size=105, data_dir=data_dir, download=False)
    assert (changed.images != from_zip.images).any()


def test_one_shot_runs_missing_offline(tmp_path):
    with pytest.raises(OmniglotDataError, match="Put all_runs.zip"):
        load_one_shot_runs(data_dir=tmp_path, download=False)


# ----------------------------------------------------------------------------- sampling


def test_pk_sampler_batches():
    labels = torch.arange(10).repeat_interleave(torch.tensor([5, 5, 5, 5, 5, 5, 5, 5, 2, 3]))
    sampler = PKSampler(labels, p=4, k=3, num_batches=50, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 50
    for batch in batches:
        assert len(batch) == 12 and len(set(batch)) == 12
        counts = Counter(labels[batch].tolist())
        assert len(counts) == 4 and set(counts.values()) == {3}
        assert 8 not in counts  # class 8 has only 2 images
    # Every eligible class gets drawn, and the same seed gives the same batches.
    assert {c for b in batches for c in labels[b].tolist()} == set(range(10)) - {8}
    assert list(PKSampler(labels, p=4, k=3, num_batches=50, seed=1)) == batches
    assert list(PKSampler(labels, p=4, k=3, num_batches=50, seed=2)) != batches


@pytest.mark.parametrize("p, groups_per_batch", [(4, 1), (6, 2), (8, 2)])
def test_pk_sampler_with_groups_draws_from_as_few_groups_as_possible(p, groups_per_batch):
    labels = torch.arange(12).repeat_interleave(3)  # 12 classes of 3 images
    groups = torch.tensor([7, 7, 7, 7, 2, 2, 2, 2, 5, 5, 5, 5])  # 3 groups of 4 classes
    batches = list(PKSampler(labels, p=p, k=2, num_batches=60, seed=0, class_groups=groups))
    seen_groups = set()
    for batch in batches:
        classes = set(labels[batch].tolist())
        batch_groups = Counter(groups[c].item() for c in classes)
        assert len(classes) == p and len(batch_groups) == groups_per_batch
        assert sorted(batch_groups.values())[1:] == [4] * (groups_per_batch - 1)  # all but one group whole
        seen_groups.update(batch_groups)
    assert seen_groups == {2, 5, 7}
    with pytest.raises(ValueError, match="an entry for every label 0 .. 11"):
        PKSampler(labels, p=4, k=2, num_batches=1, class_groups=groups[:5])


def test_pk_sampler_errors():
    labels = torch.tensor([0, 0, 1, 1, 2])
    with pytest.raises(ValueError, match="needs 3 classes with at least 2 images each, but only 2"):
        PKSampler(labels, p=3, k=2, num_batches=1)
    with pytest.raises(ValueError, match="must be >= 1"):
        PKSampler(labels, p=0, k=2, num_batches=1)


def test_random_pairs_are_balanced_and_labelled_like_hadsell():
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3])
    g = torch.Generator().manual_seed(0)
    i, j, y = random_pairs(labels, 1001, generator=g)
    assert (y == 0).sum() == 501 and (y == 1).sum() == 500
    assert torch.equal(y, (labels[i] != labels[j]).long())  # 0 = similar, 1 = dissimilar
    assert (i != j).all()
    assert 5 not in i[y == 0].tolist()  # class 2 has one image: never in a similar pair


def test_random_triplets_are_valid():
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    a, p, n = random_triplets(labels, 500, generator=torch.Generator().manual_seed(0))
    assert (labels[a] == labels[p]).all() and (a != p).all()
    assert (labels[a] != labels[n]).all()
    assert set(n.tolist()) == set(range(6))


def test_sampling_errors():
    with pytest.raises(ValueError, match="no positive"):
        random_pairs(torch.tensor([0, 1, 2]), 4)
    with pytest.raises(ValueError, match="no negative"):
        random_triplets(torch.tensor([3, 3, 3]), 4)
    with pytest.raises(ValueError, match="1-D"):
        random_pairs(torch.zeros(2, 2, dtype=torch.long), 4)


# ----------------------------------------------------------------------------- augmentation


def test_with_rotations():
    ds = load_omniglot("background_small1", image_size=28, download=False)
    rotated = with_rotations(ds)
    assert rotated.num_classes == 4 * ds.num_classes and len(rotated) == 4 * len(ds)
    n, c = len(ds), ds.num_classes
    torch.testing.assert_close(rotated.images[2 * n + 7], torch.rot90(ds.images[7], 2, dims=(1, 2)))
    assert rotated.labels[2 * n + 7] == ds.labels[7] + 2 * c
    assert rotated.character_names[c + 3] == ds.character_names[3] + "@rot90"
    a = len(ds.alphabet_names)
    assert torch.equal(rotated.alphabet_labels[3 * n:], ds.alphabet_labels + 3 * a)
    assert rotated.alphabet_names[a + 1] == ds.alphabet_names[1] + "@rot90"


def test_random_affine():
    images = torch.zeros(6, 1, 28, 28)
    images[:, :, 10:18, 12:16] = 1
    g = torch.Generator().manual_seed(0)
    out = random_affine(images, generator=g)
    assert out.shape == images.shape
    assert not torch.allclose(out, images)
    assert out.min() >= 0 and out.max() <= 1
    # The ink is moved, not created: its total changes only by the zoom (at most 10% per axis).
    ratio = out.sum(dim=(1, 2, 3)) / images.sum(dim=(1, 2, 3))
    assert ((ratio > 0.75) & (ratio < 1.3)).all()
    identity = random_affine(images, max_rotation=0, max_shear=0, scale=(1, 1), max_translation=0)
    torch.testing.assert_close(identity, images)
    assert random_affine(torch.zeros(2, 1, 8, 8)).abs().sum() == 0  # blank paper stays blank
    with pytest.raises(ValueError, match=r"\(B, C, S, S\)"):
        random_affine(torch.zeros(28, 28))


def test_validation_alphabets_are_the_evaluation_alphabets_no_run_uses(omniglot_evaluation, one_shot_runs):
    assert set(data.VALIDATION_ALPHABETS) | set(data.RUN_ALPHABETS) == set(omniglot_evaluation.alphabet_names)
    assert not set(data.VALIDATION_ALPHABETS) & set(data.RUN_ALPHABETS)
    # Every image of run01 (Atlantean) is an evaluation image of a run alphabet.
    full = load_omniglot("evaluation", image_size=105, download=False)
    flat = full.images.flatten(1)
    for image in torch.cat([one_shot_runs[0].train_images, one_shot_runs[0].test_images]):
        match = (flat == image.flatten()).all(dim=1).nonzero().flatten()
        assert len(match) == 1
        alphabet = full.alphabet_names[full.alphabet_labels[match[0]]]
        assert alphabet == "Atlantean" and alphabet in data.RUN_ALPHABETS
    validation = data.load_validation_set(image_size=28, download=False)
    assert sorted(validation.alphabet_names) == sorted(data.VALIDATION_ALPHABETS)


def test_atomic_write_replaces_only_when_complete(tmp_path):
    target = tmp_path / "sub" / "card.json"
    atomic_write(target, lambda file: file.write(b"first"))
    assert target.read_bytes() == b"first"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would make it, not mkstemp's 0600

    def fail(file):
        file.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, fail)
    assert target.read_bytes() == b"first" and [p.name for p in target.parent.iterdir()] == ["card.json"]

