"""The drawing page: the encoder exported to ONNX, and the page itself in a real (headless) Chromium.

The page's assets are built into a temporary folder from the package (with a given threshold, so as
not to spend a minute and a half calibrating one); set ``SIAMESE_BOOK_HTML`` to a built book
(``_build/html``) to test that instead. The browser tests need Debian's ``chromium`` and
``chromedriver`` and ``node_modules`` (``npm ci``): they are skipped without them, except in CI
(``CI`` set), where they fail.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from siamese_tutorial import available_pretrained, load_pretrained
from siamese_tutorial.browser import (
    RUNTIME_FILES,
    ShiftAveragedEncoder,
    main,
    run_gallery,
    write_draw_assets,
)
from siamese_tutorial.evaluation import embed
from siamese_tutorial.gallery import UNKNOWN, Gallery
from siamese_tutorial.omniglot import load_one_shot_runs

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "node_modules" / "onnxruntime-web" / "dist"
CHROMIUM, CHROMEDRIVER = (
    Path("/usr/bin/chromium"),
    Path("/usr/bin/chromedriver"),
)
THRESHOLD = 0.7  # any threshold: the page is compared with a Python gallery of the same one
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing(what: str) -> None:
    """Skip for what this machine lacks; in CI, where .ci/run installs it, that is a failure."""
    if os.environ.get("CI"):
        pytest.fail(
            f"{what} is missing in CI; .ci/run installs it (apt-get install chromium chromium-driver; npm ci)"
        )
    pytest.skip(
        f"{what} is missing (apt-get install chromium chromium-driver; npm ci)"
    )


def test_what_is_missing_skips_here_but_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="missing in CI"):
        missing("chromium")
    monkeypatch.delenv("CI")
    with pytest.raises(
        pytest.skip.Exception, match="apt-get install chromium"
    ):
        missing("chromium")


@pytest.fixture(scope="module")
def encoder():
    return load_pretrained("triplet")


@pytest.fixture(scope="module")
def shifts():
    return available_pretrained()["triplet"]["runs"]["shifts"]


@pytest.fixture(scope="module")
def runs(encoder):
    return load_one_shot_runs(image_size=encoder.image_size, download=False)


@pytest.fixture(scope="module")
def originals():
    """The runs at 105 x 105, as they are put on the page's canvas."""
    return load_one_shot_runs(image_size=105, download=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A folder laid out like the built book: book/draw.html (the widget of book/draw.md) and draw/."""
    built = os.environ.get("SIAMESE_BOOK_HTML")
    if built:
        return Path(built).resolve()
    if not all((RUNTIME / name).is_file() for name in RUNTIME_FILES):
        missing(f"onnxruntime-web in {RUNTIME}")
    folder = tmp_path_factory.mktemp("site")
    shutil.copytree(
        ROOT / "_extra" / "draw",
        folder / "draw",
        ignore=shutil.ignore_patterns("generated"),
    )
    # two runs, not 20: the page is the same, and the test a few seconds shorter
    write_draw_assets(
        folder / "draw" / "generated",
        RUNTIME,
        threshold=THRESHOLD,
        runs=["run01", "run02"],
    )
    page = (ROOT / "book" / "draw.md").read_text()
    widget = re.search(
        r"<!-- draw-widget -->\s*```\{raw\} html\n(.*?)```\s*<!-- /draw-widget -->",
        page,
        re.S,
    )
    assert widget, (
        "book/draw.md lost its widget block (between <!-- draw-widget --> and <!-- /draw-widget -->)"
    )
    (folder / "book").mkdir()
    (folder / "book" / "draw.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
        f"<title>draw</title></head><body>{widget.group(1)}</body></html>"
    )
    return folder


def page_data(site: Path) -> dict:
    text = (site / "draw" / "generated" / "runs.js").read_text()
    return json.loads(
        text.removeprefix("window.SIAMESE_DRAW_RUNS = ")
        .rstrip()
        .removesuffix(";")
    )


# ------------------------------------------------------------------------------------------ the export


def test_shift_averaged_encoder_is_embed_with_shifts(
    encoder, shifts, runs, one_thread
):
    images = runs[0].test_images[:4]
    with torch.no_grad():
        together = ShiftAveragedEncoder(encoder, shifts).eval()(images)
    assert torch.allclose(
        together, embed(encoder, images, shifts=shifts), atol=1e-6
    )


@pytest.mark.parametrize(
    "shifts, why",
    [
        (16, "is not smaller than the 16-pixel images"),
        (-1, "is not a whole number >= 0"),
        (1.5, "is not a whole number >= 0"),
    ],
)
def test_shifts_that_embed_refuses_are_never_exported(tmp_path, shifts, why):
    # Issue 36, 4: export_onnx took shifts=16 on 16-pixel images and shifts=-1, which embed() refuses, and wrote
    # an ONNX model whose embeddings were off by 0.41 and 0.07.
    from siamese_tutorial.browser import export_onnx
    from siamese_tutorial.models import ConvEncoder

    encoder = ConvEncoder(width=4, blocks=2, embedding_dim=8, image_size=16)
    with pytest.raises(
        ValueError,
        match=f"shifts {shifts} {why}: shifts must be a whole number of pixels from 0 to 15",
    ):
        export_onnx(encoder, shifts, tmp_path / "encoder.onnx")
    with pytest.raises(ValueError, match="from 0 to 15"):
        ShiftAveragedEncoder(encoder, shifts)
    assert not list(tmp_path.iterdir())


def test_onnx_encoder_gives_the_pytorch_embeddings(
    site, encoder, shifts, runs, one_thread
):
    import onnxruntime

    session = onnxruntime.InferenceSession(
        str(site / "draw" / "generated" / "encoder.onnx")
    )
    images = torch.cat([runs[0].train_images[:5], runs[0].test_images[:5]])
    exported = np.concatenate(
        [
            session.run(["embedding"], {"image": image[None].numpy()})[0]
            for image in images
        ]
    )
    assert (
        np.abs(exported - embed(encoder, images, shifts=shifts).numpy()).max()
        < 1e-4
    )


def test_page_data_holds_the_package_galleries(
    site, encoder, shifts, runs, one_thread
):
    data = page_data(site)
    assert (data["image_size"], data["drawing_size"], data["shifts"]) == (
        encoder.image_size,
        105,
        shifts,
    )
    by_name = {run.name: run for run in runs}
    assert [run["name"] for run in data["runs"]] == sorted(by_name)[
        : len(data["runs"])
    ]
    for shown in data["runs"][:2]:
        gallery = run_gallery(
            encoder, by_name[shown["name"]], shifts, data["threshold"]
        )
        prototypes = np.frombuffer(
            base64.b64decode(shown["prototypes"]), dtype="<f4"
        )
        assert (
            shown["names"]
            == gallery.names
            == [f"class{i:02d}" for i in range(1, 21)]
        )
        assert (
            shown["alphabet"]
            == by_name[shown["name"]].alphabet.replace("_", " ")
            == "Atlantean"
        )
        assert np.array_equal(
            prototypes.reshape(20, -1), gallery.prototypes.numpy()
        )
        assert len(shown["images"]) == 20 and shown["images"][0].startswith(
            "data:image/png;base64,"
        )


def test_assets_without_the_runtime_say_to_run_npm_ci(tmp_path, capsys):
    assert (
        main(
            [
                "--out",
                str(tmp_path / "out"),
                "--runtime",
                str(tmp_path / "nothing"),
                "--threshold",
                "0.5",
            ]
        )
        == 2
    )
    error = capsys.readouterr().err
    assert (
        error.count("\n") == 1
        and "npm ci" in error
        and "Traceback" not in error
    )
    assert not (tmp_path / "out").exists()


def test_a_non_finite_threshold_is_refused(tmp_path, capsys):
    assert (
        main(
            [
                "--out",
                str(tmp_path / "out"),
                "--runtime",
                str(RUNTIME),
                "--threshold",
                "nan",
            ]
        )
        == 2
    )
    assert "--threshold must be a finite distance" in capsys.readouterr().err


def test_an_unknown_run_is_refused_before_any_work(tmp_path):
    (tmp_path / "dist").mkdir()
    for name in RUNTIME_FILES:
        (tmp_path / "dist" / name).write_text("")
    with pytest.raises(ValueError, match="no official run named run21"):
        write_draw_assets(
            tmp_path / "out",
            tmp_path / "dist",
            threshold=0.5,
            runs=["run01", "run21"],
        )
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------ the page


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test's output is for failures
        pass


@pytest.fixture(scope="module")
def server(site):
    """A static server of the site on a free local port, as the book is served (GitHub Pages, a local server)."""
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        missing("chromium or chromedriver in /usr/bin")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in CHROMIUM_FLAGS + [
        f"--user-data-dir={profile}",
        "--window-size=1280,1000",
    ]:
        options.add_argument(flag)
    driver = webdriver.Chrome(
        service=Service(str(CHROMEDRIVER)), options=options
    )
    driver.set_script_timeout(
        120
    )  # the first start compiles 14 MB of WebAssembly, on a busy machine
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def settle(driver, script: str, *args):
    """Run ``script`` (it gets the page's ``api`` and ``args``; returns a Promise or a value) and wait for its value."""
    return driver.execute_async_script(
        "var done = arguments[arguments.length - 1], api = window.siameseDraw, args = arguments;"
        "Promise.resolve().then(function () { return (function (api, args) {"
        + script
        + "})(api, args); })"
        ".then(function (value) { done({value: value}); }, function (error) { done({error: String(error)}); });",
        *args,
    )


def answer(driver, script: str, *args):
    outcome = settle(driver, script, *args)
    assert "error" not in outcome, outcome["error"]
    return outcome["value"]


def stroke(driver, canvas, points):
    """Draw one stroke with the mouse through ``points`` (offsets from the canvas' centre, in CSS pixels)."""
    from selenium.webdriver import ActionChains

    # pointer actions do not scroll, and in the book the widget is below the page's text
    driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center'});", canvas
    )
    actions = (
        ActionChains(driver)
        .move_to_element_with_offset(canvas, *points[0])
        .click_and_hold()
    )
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        actions = actions.move_by_offset(x1 - x0, y1 - y0)
    actions.release().perform()


@pytest.mark.parametrize("served", [False, True], ids=["file", "http"])
def test_the_page_answers_as_the_package_gallery(
    served, site, server, browser, encoder, shifts, runs, originals, one_thread
):
    page = site / "book" / "draw.html"
    browser.get(f"{server}/book/draw.html" if served else page.as_uri())
    answer(browser, "return api.ready;")
    threshold = answer(browser, "return window.SIAMESE_DRAW_RUNS.threshold;")

    # A run's own test images, and the stranger (of other runs) farthest from the run's characters.
    gallery = run_gallery(encoder, runs[0], shifts, threshold)
    strangers = torch.cat([run.test_images for run in runs[1:4]])
    farthest = int(gallery.nearest(strangers)[1].argmax())
    cases = [
        (originals[0].test_images[i], runs[0].test_images[i]) for i in (0, 7)
    ]
    cases.append(
        (
            torch.cat([run.test_images for run in originals[1:4]])[farthest],
            strangers[farthest],
        )
    )
    expected_answers = []
    for shown, read in cases:
        bits = [int(v) for v in shown.flatten().round().tolist()]
        result = answer(browser, "return api.setBits(args[0]);", bits)
        distances = gallery.distances(read[None])[0]
        expected = gallery.identify(read[None])[0]
        assert result["run"] == "run01" and result["answer"] == expected
        assert (
            np.abs(np.array(result["distances"]) - distances.numpy()).max()
            < 1e-3
        )
        assert (
            browser.find_element("id", "sdraw-answer").get_attribute(
                "data-answer"
            )
            == expected
        )
        expected_answers.append(expected)
    assert (
        expected_answers[-1] == UNKNOWN
        and UNKNOWN not in expected_answers[:-1]
    )

    # Another run, chosen by the reader, answers from its own characters.
    result = answer(browser, "return api.selectRun('run02');")
    other = run_gallery(encoder, runs[1], shifts, threshold)
    assert result["run"] == "run02"
    assert (
        np.abs(
            np.array(result["distances"])
            - other.distances(cases[-1][1][None])[0].numpy()
        ).max()
        < 1e-3
    )

    # Strokes with the pointer give an answer; cleared, there is none; drawn again, one more.
    canvas = browser.find_element("id", "sdraw-canvas")
    answer(browser, "api.clear(); return null;")
    assert answer(browser, "return api.lastResult;") is None
    stroke(browser, canvas, [(-60, -60), (-20, -30), (20, 0), (60, 40)])
    stroke(browser, canvas, [(50, -60), (0, 0), (-50, 60)])
    first = answer(browser, "return api.idle();")
    assert first["run"] == "run02" and len(first["distances"]) == 20
    assert (
        browser.find_element("id", "sdraw-answer").get_attribute("data-answer")
        == first["answer"]
    )
    browser.find_element("id", "sdraw-clear").click()
    assert answer(browser, "return api.lastResult;") is None
    assert (
        browser.find_element("id", "sdraw-answer").get_attribute("data-answer")
        is None
    )
    stroke(browser, canvas, [(0, -70), (0, 70)])
    again = answer(browser, "return api.idle();")
    assert again["run"] == "run02" and again["embedding"] != first["embedding"]


# ------------------------------------------------------------------------------------------ your own gallery


def test_the_own_gallery_answers_as_the_package_gallery(
    site, server, browser, encoder, shifts, runs, originals, one_thread
):
    """Three of a run's characters enrolled on the page from their training images, then its test images
    and a stranger: the page's answers and distances are Gallery's, with the threshold for galleries of 3."""
    browser.get(f"{server}/book/draw.html")
    answer(browser, "return api.ready;")
    answer(browser, "return api.setMode('own');")
    test_of = {
        int(label): t for t, label in enumerate(runs[0].test_labels)
    }  # a class's test image
    whole = run_gallery(encoder, runs[0], shifts, None)
    own = [
        float(whole.distances(runs[0].test_images[test_of[c]][None])[0, c])
        for c in range(20)
    ]
    enrolled = sorted(range(20), key=own.__getitem__)[
        :3
    ]  # three whose test drawing is near its own
    for c in enrolled:
        bits = [
            int(v)
            for v in originals[0].train_images[c].flatten().round().tolist()
        ]
        state = answer(
            browser, "return api.enrol(args[0], args[1]);", f"char{c}", bits
        )
    assert state["names"] == [f"char{c}" for c in enrolled] and state[
        "counts"
    ] == [1, 1, 1]
    calibration = state["calibration"]
    assert calibration["size"] == 3  # the thresholds' size for a gallery of 3
    gallery = Gallery(encoder, calibration["threshold"], shifts)
    for c in enrolled:
        gallery.enrol(f"char{c}", runs[0].train_images[c][None])
    assert (
        np.abs(
            np.array(state["prototypes"]) - gallery.prototypes.numpy()
        ).max()
        < 1e-3
    )

    strangers = torch.cat([run.test_images for run in runs[1:4]])
    farthest = int(gallery.nearest(strangers)[1].argmax())
    cases = [
        (originals[0].test_images[test_of[c]], runs[0].test_images[test_of[c]])
        for c in enrolled
    ]
    cases.append(
        (
            torch.cat([run.test_images for run in originals[1:4]])[farthest],
            strangers[farthest],
        )
    )
    answers = []
    for shown, read in cases:
        result = answer(
            browser,
            "return api.setBits(args[0]);",
            [int(v) for v in shown.flatten().round().tolist()],
        )
        assert result["mode"] == "own" and result["names"] == gallery.names
        assert (
            np.abs(
                np.array(result["distances"])
                - gallery.distances(read[None])[0].numpy()
            ).max()
            < 1e-3
        )
        assert result["answer"] == gallery.identify(read[None])[0]
        assert (
            browser.find_element("id", "sdraw-answer").get_attribute(
                "data-answer"
            )
            == result["answer"]
        )
        answers.append(result["answer"])
    assert answers[-1] == UNKNOWN and UNKNOWN not in answers[:-1]

    # a second drawing under a name already enrolled: its prototype is the mean of the two, as Gallery's
    first, second, third = enrolled
    bits = [
        int(v)
        for v in originals[0]
        .test_images[test_of[first]]
        .flatten()
        .round()
        .tolist()
    ]
    state = answer(
        browser, "return api.enrol(args[0], args[1]);", f"char{first}", bits
    )
    assert state["counts"] == [2, 1, 1]
    twice = Gallery(encoder, calibration["threshold"], shifts)
    twice.enrol(
        "x",
        torch.stack(
            [runs[0].train_images[first], runs[0].test_images[test_of[first]]]
        ),
    )
    assert (
        np.abs(
            np.array(state["prototypes"][0]) - twice.prototypes[0].numpy()
        ).max()
        < 1e-3
    )
    answer(browser, "return api.remove(args[0]);", f"char{second}")
    assert answer(browser, "return api.gallery().names;") == [
        f"char{first}",
        f"char{third}",
    ]
    answer(browser, "return api.resetGallery();")
    assert answer(browser, "return api.gallery().names;") == []


def test_a_reader_draws_names_enrols_and_is_answered(
    site, server, browser, one_thread
):
    """With the pointer and the keyboard, as a reader: draw, name, Enrol, draw again, an answer."""
    browser.get(f"{server}/book/draw.html")
    answer(browser, "return api.ready;")
    browser.find_element("id", "sdraw-mode-own").click()
    canvas = browser.find_element("id", "sdraw-canvas")
    stroke(browser, canvas, [(-60, -60), (60, 60)])
    stroke(browser, canvas, [(60, -60), (-60, 60)])
    answer(browser, "return api.idle();")
    browser.find_element("id", "sdraw-name").send_keys("cross")
    browser.find_element("id", "sdraw-enrol").click()
    assert answer(
        browser,
        "return api.idle().then(function () { return api.gallery().names; });",
    ) == ["cross"]
    stroke(browser, canvas, [(-50, -55), (55, 60)])
    stroke(browser, canvas, [(55, -60), (-55, 55)])
    result = answer(browser, "return api.idle();")
    assert (
        result["mode"] == "own"
        and result["names"] == ["cross"]
        and len(result["distances"]) == 1
    )
    assert (
        browser.find_element("id", "sdraw-answer").get_attribute("data-answer")
        == result["answer"]
    )
    items = browser.find_elements("css selector", "#sdraw-own-list li")
    assert [item.get_attribute("data-name") for item in items] == ["cross"]
