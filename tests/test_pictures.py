"""Pictures read the way Pillow users expect: every mode and bit depth, EXIF orientation, transparency,
decompression bombs, and ink polarity (ink = 1 on paper = 0 after reading)."""

import struct
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from siamese_tutorial import cli
from siamese_tutorial.data import (
    load_image_folder,
    load_images,
    paper_is_light,
)


def stroke(size=16, ink=0, paper=255, dtype=np.uint8):
    """A vertical bar of ``ink`` on ``paper``, in the middle of a square picture."""
    values = np.full((size, size), paper, dtype=dtype)
    values[2:-2, size // 2 - 1 : size // 2 + 1] = ink
    return values


def read(path, size=16, **options):
    return load_images([path], size, **options)[0, 0].numpy()


# ----------------------------------------------------------------------------- modes and bit depths


def test_a_16_bit_png_is_scaled_by_its_range_not_saturated(tmp_path):
    path = tmp_path / "deep.png"
    values = (
        np.array([[0, 16384], [32768, 65535]], dtype=np.uint16)
        .repeat(8, 0)
        .repeat(8, 1)
    )
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    np.testing.assert_allclose(
        read(path)[[0, 0, 15, 15], [0, 15, 0, 15]],
        [0, 0.25, 0.5, 1],
        atol=1e-4,
    )


def test_a_32_bit_integer_picture_outside_16_bits_is_refused(tmp_path):
    path = tmp_path / "wide.tif"
    Image.fromarray(np.full((8, 8), 10**6, dtype=np.int32), mode="I").save(
        path
    )
    with pytest.raises(ValueError, match="wide.tif.*integer"):
        read(path)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_float_tiffs_with_nan_or_infinity_are_refused_naming_the_file(
    tmp_path, value
):
    path = tmp_path / "float.tif"
    values = np.full((8, 8), 0.5, dtype=np.float32)
    values[3, 3] = value
    Image.fromarray(values, mode="F").save(path)
    with pytest.raises(ValueError, match=r"float.tif.*NaN or infinite"):
        read(path, 8)


def test_a_float_tiff_in_0_1_is_read_as_it_is(tmp_path):
    path = tmp_path / "float.tif"
    values = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    Image.fromarray(values, mode="F").save(path)
    np.testing.assert_allclose(read(path, 8), values, atol=1e-6)
    Image.fromarray(values * 3, mode="F").save(path)
    with pytest.raises(ValueError, match="float.tif.*0 .. 1"):
        read(path, 8)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_a_drawing_on_a_transparent_background_is_composited_on_paper(
    tmp_path, mode
):
    """Black strokes on a transparent (black, alpha 0) background: dark ink on light paper."""
    alpha = np.where(stroke() == 0, 255, 0).astype(np.uint8)
    black = np.zeros((16, 16), np.uint8)
    rgba = Image.fromarray(
        np.dstack([black, black, black, alpha]), mode="RGBA"
    )
    path = tmp_path / "drawing.png"
    (
        rgba.convert("LA")
        if mode == "LA"
        else rgba.convert("P")
        if mode == "P"
        else rgba
    ).save(path)
    if mode == "P":  # a palette picture with one transparent entry
        image = Image.fromarray(
            np.where(alpha == 255, 1, 0).astype(np.uint8), mode="P"
        )
        image.putpalette([0, 0, 0, 0, 0, 0] + [0] * 762)
        image.save(path, transparency=0)
    values = read(path)
    assert values.min() == 0 and values.max() == 1, (
        "the paper must be white, not all zeros"
    )
    assert values[0, 0] == 1 and values[8, 8] == 0
    np.testing.assert_array_equal(read(path, ink="dark"), 1 - values)


def test_light_strokes_on_transparency_go_on_dark_paper(tmp_path):
    alpha = np.where(stroke() == 0, 255, 0).astype(np.uint8)
    white = np.full((16, 16), 255, np.uint8)
    path = tmp_path / "chalk.png"
    Image.fromarray(np.dstack([white, white, white, alpha]), mode="RGBA").save(
        path
    )
    values = read(path)
    assert values[0, 0] == 0 and values[8, 8] == 1


def test_a_jpeg_with_an_exif_orientation_is_turned_upright(tmp_path):
    wide = np.full((16, 32), 255, np.uint8)
    wide[:, :8] = 0  # a dark band on the left of the stored image
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "phone.jpg"
    Image.fromarray(wide).save(path, exif=exif, quality=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not square: stretched, said
        values = load_images([path], 16)[0, 0].numpy()
    # Displayed upright the picture is 16 wide and 32 high, with the band on top.
    assert values[:4].mean() < 0.1 and values[-4:].mean() > 0.9


@pytest.mark.parametrize("mode", ["1", "CMYK", "I;16"])
def test_other_modes_read_as_the_same_picture(tmp_path, mode):
    base = Image.fromarray(stroke())
    path = tmp_path / (
        "x.jpg" if mode == "CMYK" else "x.tif" if mode == "CMYK" else "x.png"
    )
    if mode == "I;16":
        Image.fromarray(stroke().astype(np.uint16) * 257).save(path)
    else:
        base.convert(mode).save(
            path, **({"quality": 100} if mode == "CMYK" else {})
        )
    np.testing.assert_allclose(read(path), stroke() / 255, atol=0.05)


def test_an_animated_gif_reads_its_first_frame(tmp_path):
    frames = [Image.fromarray(stroke()), Image.fromarray(255 - stroke())]
    path = tmp_path / "moving.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    np.testing.assert_allclose(read(path), stroke() / 255, atol=0.01)


# ----------------------------------------------------------------------------- decompression bombs


def tiny_png_claiming(width, height):
    """A valid PNG header that claims a huge picture, with almost no data (a decompression bomb)."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_a_decompression_bomb_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(tiny_png_claiming(20000, 20000))
    assert path.stat().st_size < 120
    with pytest.raises(
        ValueError, match=r"bomb.png.*claims more than the 120,000,000 pixels"
    ):
        read(path)
    # Below Pillow's own error threshold but above ours (Pillow only warns there).
    path.write_bytes(tiny_png_claiming(11000, 11000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"bomb.png.*11000 x 11000"):
            read(path)


def test_the_command_line_refuses_a_bomb_in_one_line(tmp_path, capsys):
    root = tmp_path / "pics"
    for c in range(4):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(2):
            Image.fromarray(stroke()).save(root / f"c{c}" / f"{i}.png")
    (root / "c0" / "1.png").write_bytes(tiny_png_claiming(20000, 20000))
    code = cli.main(
        [
            "train",
            "--data",
            str(root),
            "--out",
            str(tmp_path / "m.pt"),
            "--image-size",
            "16",
            "--blocks",
            "2",
            "--p",
            "2",
            "--k",
            "2",
            "--steps",
            "1",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert (
        code == 2
        and "1.png" in err
        and "decompression bomb" in err
        and len(err.strip().splitlines()) == 1
    )


# ----------------------------------------------------------------------------- ink polarity


def test_paper_is_the_most_common_level_at_the_border():
    dark_on_light = torch.from_numpy(stroke() / 255.0).float()[None, None]
    assert paper_is_light(
        torch.cat([dark_on_light, 1 - dark_on_light])
    ).tolist() == [True, False]


def test_ink_auto_reads_both_polarities_as_ink_on_zero_paper(tmp_path):
    Image.fromarray(stroke(ink=0, paper=255)).save(tmp_path / "dark.png")
    Image.fromarray(stroke(ink=255, paper=0)).save(tmp_path / "light.png")
    images = load_images(
        [tmp_path / "dark.png", tmp_path / "light.png"], 16, ink="auto"
    )
    torch.testing.assert_close(images[0], images[1])
    assert images[0, 0, 0, 0] == 0 and images[0, 0, 8, 8] == 1


def test_an_explicit_ink_reads_as_told_and_warns_about_the_pictures_that_disagree(
    tmp_path,
):
    Image.fromarray(stroke(ink=0, paper=255)).save(tmp_path / "dark.png")
    Image.fromarray(stroke(ink=255, paper=0)).save(tmp_path / "light.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dark = load_images([tmp_path / "dark.png"], 16, ink="dark")
        light = load_images([tmp_path / "light.png"], 16, ink="light")
    torch.testing.assert_close(dark, light)
    with pytest.warns(
        UserWarning,
        match=r"1 of 2 picture\(s\).*light.png.*ink='light' or ink='auto'",
    ):
        load_images(
            [tmp_path / "dark.png", tmp_path / "light.png"], 16, ink="dark"
        )
    with pytest.raises(ValueError, match="ink must be one of"):
        load_images([tmp_path / "dark.png"], 16, ink="black")


def test_a_folder_is_read_with_the_ink_asked_for(tmp_path):
    for c, (ink, paper) in enumerate([(0, 255), (255, 0)]):
        (tmp_path / f"c{c}").mkdir()
        for i in range(2):
            Image.fromarray(stroke(ink=ink, paper=paper)).save(
                tmp_path / f"c{c}" / f"{i}.png"
            )
    data = load_image_folder(tmp_path, 16, ink="auto")
    assert (
        torch.equal(data.images[0], data.images[3])
        and data.images[:, 0, 0, 0].eq(0).all()
    )


def test_the_command_line_reads_the_ink_it_is_told_and_says_when_pictures_disagree(
    tmp_path, capsys
):
    root = tmp_path / "pics"
    for c in range(6):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(2):
            values = stroke()
            values[3 + c + i, 3:6] = 0  # each class its own mark
            Image.fromarray(values).save(root / f"c{c}" / f"{i}.png")
    model, gallery = tmp_path / "m.pt", tmp_path / "g.pt"
    assert (
        cli.main(
            [
                "train",
                "--data",
                str(root),
                "--ink",
                "dark",
                "--out",
                str(model),
                "--image-size",
                "16",
                "--blocks",
                "2",
                "--width",
                "4",
                "--embedding-dim",
                "4",
                "--no-rotations",
                "--p",
                "2",
                "--k",
                "2",
                "--steps",
                "2",
                "--validate-every",
                "2",
                "--validation-episodes",
                "2",
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        cli.main(
            [
                "enrol",
                str(gallery),
                "c0",
                str(root / "c0" / "0.png"),
                "--model",
                str(model),
            ]
        )
        == 0
    )
    light = tmp_path / "light.png"
    Image.fromarray(255 - np.asarray(Image.open(root / "c0" / "1.png"))).save(
        light
    )
    capsys.readouterr()
    assert cli.main(["identify", str(gallery), str(light)]) == 0
    said = (
        capsys.readouterr().err
    )  # a warning on the command line is one line, not Python's warning format
    assert (
        said.startswith("warning: 1 of 1 picture(s)")
        and said.count("\n") == 1
        and said.endswith("--ink light or --ink auto)\n")
    ), said
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (
            cli.main(["identify", str(gallery), str(light), "--ink", "auto"])
            == 0
        )
    told = capsys.readouterr()
    assert (
        cli.main(["identify", str(gallery), str(root / "c0" / "1.png")]) == 0
    )
    assert (
        capsys.readouterr().out.split(": ")[1] == told.out.split(": ")[1]
    )  # the same answer, the same distance
    assert (
        cli.main(["verify", str(gallery), "c0", str(light), "--ink", "black"])
        == 2
    )
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(tiny_png_claiming(20000, 20000))
    capsys.readouterr()
    for command in (
        ["identify", str(gallery)],
        ["verify", str(gallery), "c0"],
        ["enrol", str(gallery), "c9"],
    ):
        assert cli.main([*command, str(bomb)]) == 2
        err = capsys.readouterr().err
        assert (
            err.startswith("error: ")
            and "bomb.png" in err
            and err.count("\n") == 1
        ), err


def test_a_broken_link_in_a_class_folder_is_named_not_skipped(tmp_path):
    for c in range(2):
        (tmp_path / f"c{c}").mkdir()
        for i in range(2):
            Image.fromarray(stroke()).save(tmp_path / f"c{c}" / f"{i}.png")
    (tmp_path / "c1" / "2.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(
        ValueError, match=r"c1/2.png is a link to a file that does not exist"
    ):
        load_image_folder(tmp_path, 16)
    (tmp_path / "c0" / "loop").symlink_to(
        tmp_path
    )  # a link back up is no picture, and no trap
    (tmp_path / "c1" / "2.png").unlink()
    assert len(load_image_folder(tmp_path, 16)) == 4


HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(
    64
)  # how an iPhone's photo starts
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><circle r="3"/></svg>\n'


@pytest.mark.parametrize(
    "name, content, kind",
    [
        ("photo.heic", HEIC, "a HEIC photo"),
        ("IMG_0001.HEIC", HEIC, "a HEIC photo"),
        ("photo.png", HEIC, "a HEIC photo"),
        ("drawing.svg", SVG, "an SVG drawing"),
        ("drawing.png", SVG, "an SVG drawing"),
    ],
)
def test_heic_and_svg_pictures_are_named_with_what_to_do(
    tmp_path, name, content, kind
):
    # Issue 36, 11: "could not be read as an image" / "is not an image", naming neither the format nor what to do.
    (tmp_path / name).write_bytes(content)
    with pytest.raises(
        ValueError,
        match=f"{name} is {kind} .*, which cannot be read here; convert it to PNG or JPEG",
    ):
        load_images([tmp_path / name], 16)
    for c in range(2):
        (tmp_path / "pics" / f"c{c}").mkdir(parents=True)
        for i in range(2):
            Image.fromarray(stroke()).save(
                tmp_path / "pics" / f"c{c}" / f"{i}.png"
            )
    (tmp_path / "pics" / "c1" / name).write_bytes(content)
    with pytest.raises(
        ValueError,
        match=rf"c1/{name} is {kind} .*, which (is not read here \(the suffixes read are "
        rf".*\)|cannot be read here); convert it to PNG or JPEG",
    ):
        load_image_folder(tmp_path / "pics", 16)
