"""The built book's pages carry only what they use, and load without a console error.

Jupyter Book 1 adds every ``.js`` and ``.css`` file under ``_static/`` to every page: the drawing
page's code and runtime (``_extra/draw/``, copied to ``draw/``) and MathJax (``_extra/mathjax/``) live
outside it, so that no other page downloads them. How fast the pages load on a slow connection is
measured, not tested (``benchmarks/pages.py``). These tests need a built book (``make test`` sets
``SIAMESE_BOOK_HTML``) and, for the console, Debian's chromium and chromedriver.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import tempfile
import threading
from html.parser import HTMLParser
from pathlib import Path

import pytest

DRAW_PAGE = "book/draw.html"


class Assets(HTMLParser):
    """The scripts and stylesheets a page asks for, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.scripts.append(attributes["src"].split("?")[0])
        elif (
            tag == "link"
            and attributes.get("rel") == "stylesheet"
            and attributes.get("href")
        ):
            self.styles.append(attributes["href"].split("?")[0])


def assets(page: Path) -> Assets:
    parser = Assets()
    parser.feed(page.read_text())
    return parser


def pages(html: Path) -> list[str]:
    return sorted(
        str(p.relative_to(html)) for p in (html / "book").glob("*.html")
    ) + ["search.html"]


def test_only_the_drawing_page_loads_the_drawing_code(built_book):
    for page in pages(built_book):
        found = assets(built_book / page)
        drawing = [
            a
            for a in found.scripts + found.styles
            if re.search(r"(^|/)draw/|onnx|ort[.-]", a)
        ]
        if page == DRAW_PAGE:
            assert [a for a in found.scripts if a.endswith("draw.js")] == [
                "../draw/draw.js"
            ]
            assert [a for a in found.styles if a.endswith("draw.css")] == [
                "../draw/draw.css"
            ]
        else:
            assert not drawing, f"{page} loads the drawing page's {drawing}"
        assert len(found.scripts) == len(set(found.scripts)), (
            f"{page} loads a script twice"
        )
        assert not [
            a
            for a in found.scripts + found.styles
            if a.startswith(("http:", "https:", "//"))
        ], f"{page} loads from another site: the book serves its own scripts"


def test_mathjax_is_served_with_the_book(built_book):
    """MathJax's start-up from the book's own copy, with every component it is told to load."""
    page = built_book / "book" / "2_contrastive_loss.html"
    (startup,) = [s for s in assets(page).scripts if "mathjax" in s.lower()]
    startup = (page.parent / startup).resolve()
    assert startup.name == "startup.js" and startup.is_file()
    loaded = re.search(r'"load": \[([^\]]*)\]', page.read_text()).group(1)
    for component in re.findall(r'"([\w/-]+)"', loaded):
        assert (startup.parent / f"{component}.js").is_file(), component


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
    }

    def log_message(self, *args) -> None:
        pass


def test_no_page_logs_a_console_error(built_book):
    if not (
        Path("/usr/bin/chromium").is_file()
        and Path("/usr/bin/chromedriver").is_file()
    ):
        pytest.skip(
            "chromium or chromedriver missing (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0),
        functools.partial(QuietHandler, directory=str(built_book)),
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        service=Service("/usr/bin/chromedriver"), options=options
    )
    driver.set_script_timeout(120)
    errors = {}
    try:
        for page in pages(built_book):
            driver.get(f"http://127.0.0.1:{server.server_address[1]}/{page}")
            if page == DRAW_PAGE:  # its runtime arrives after the load event
                driver.execute_async_script(
                    "var done = arguments[arguments.length - 1];"
                    "window.siameseDraw.ready.then(done, done);"
                )
            else:
                driver.execute_async_script(
                    "var done = arguments[arguments.length - 1]; setTimeout(done, 500);"
                )
            logged = [
                e["message"]
                for e in driver.get_log("browser")
                if e["level"] == "SEVERE"
            ]
            if logged:
                errors[page] = logged
    finally:
        driver.quit()
        server.shutdown()
        server.server_close()
        shutil.rmtree(profile, ignore_errors=True)
    assert not errors, errors
