"""How the built book's pages load on a slow connection, in headless Chromium: bytes and times.

Every page of ``_build/html`` is served by a local static server (as GitHub Pages would serve it,
but uncompressed: a worst case) and opened in a fresh headless Chromium whose network is throttled
by Chrome's own emulation to 9 Mbit/s down, 150 ms of latency, with the cache disabled. For each
page it records the bytes transferred (the page and every resource it loaded: Resource Timing's
``transferSize``), DOMContentLoaded and the load event, and the console's errors. On the drawing page
it draws a character as soon as the canvas takes one, and records when the canvas and the run picker
were drawn and when the encoder answered that drawing (the page's own ``performance.mark``\\ s).

    python benchmarks/run.py --only pages    # after `make book`; `make benchmarks` runs it with the rest

Measurements, not tests: nothing here asserts a time. Results go to ``benchmarks/pages.json`` and the
"Pages" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "pages.json"
DOWN_BYTES_PER_SECOND = 9_000_000 // 8  # 9 Mbit/s
LATENCY_MS = 150
DRAW_PAGE = "book/draw.html"
TARGETS = {
    "page_mb": 3.0,
    "page_dom_s": 4.0,
    "draw_canvas_s": 4.0,
    "draw_answer_s": 20.0,
}
"""The issue's targets, reported beside the figures (not asserted)."""

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".mjs": "text/javascript",
        ".js": "text/javascript",
    }

    def log_message(self, *args) -> None:
        pass


def pages(html: Path) -> list[str]:
    """The book's pages, as paths under ``html``: its chapters and references, and the search page."""
    found = sorted(
        str(p.relative_to(html)) for p in (html / "book").glob("*.html")
    )
    return found + [
        name for name in ("search.html",) if (html / name).is_file()
    ]


def browser(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        service=Service("/usr/bin/chromedriver"), options=options
    )
    driver.set_script_timeout(120)
    driver.set_page_load_timeout(120)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": LATENCY_MS,
            "downloadThroughput": DOWN_BYTES_PER_SECOND,
            "uploadThroughput": -1,
        },
    )
    return driver


TIMINGS = """
var nav = performance.getEntriesByType('navigation')[0];
var bytes = nav.transferSize, requests = 1;
performance.getEntriesByType('resource').forEach(function (r) { bytes += r.transferSize; requests += 1; });
var mark = function (name) { var m = performance.getEntriesByName(name); return m.length ? m[0].startTime : null; };
return {bytes: bytes, requests: requests, dom_content_loaded_ms: nav.domContentLoadedEventEnd,
        load_ms: nav.loadEventEnd, canvas_ms: mark('sdraw-canvas'), runs_ms: mark('sdraw-runs'),
        ready_ms: mark('sdraw-ready'), answer_ms: mark('sdraw-answer')};
"""

# A character drawn at once: a cross of two 5-pixel strokes on the 105 x 105 canvas.
DRAW_AT_ONCE = """
var done = arguments[arguments.length - 1];
var bits = [];
for (var y = 0; y < 105; y++) for (var x = 0; x < 105; x++)
  bits.push(Math.abs(x - y) < 3 || Math.abs(x + y - 104) < 3 ? 1 : 0);
window.siameseDraw.setBits(bits);
window.siameseDraw.ready.then(function () { return window.siameseDraw.idle(); })
  .then(function (result) { done(result ? result.answer : 'no answer'); }, function (e) { done('error: ' + e); });
"""


def measure(driver, url: str, draw: bool) -> dict:
    if draw:
        driver.set_page_load_timeout(120)
        driver.get(
            url
        )  # returns at the load event; the runtime loads after it
        answer = driver.execute_async_script(DRAW_AT_ONCE)
    else:
        driver.get(url)
        answer = None
    time.sleep(0.5)  # late resources (fonts) settle into Resource Timing
    result = driver.execute_script(TIMINGS)
    errors = [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE"
    ]
    result.update({"console_errors": errors})
    if draw:
        result["answer"] = answer
    return result


def run(html: Path) -> dict:
    if not (html / DRAW_PAGE).is_file():
        raise SystemExit(f"no built book in {html}: run `make book` first")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(html))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    results = {}
    try:
        for page in pages(html):
            profile = Path(tempfile.mkdtemp(prefix="pages-profile-"))
            driver = browser(profile)
            try:
                results[page] = measure(
                    driver, base + page, draw=page == DRAW_PAGE
                )
            finally:
                driver.quit()
                shutil.rmtree(profile, ignore_errors=True)
            r = results[page]
            print(
                f"{page}: {r['bytes'] / 1e6:.2f} MB in {r['requests']} requests, DOMContentLoaded "
                f"{r['dom_content_loaded_ms'] / 1000:.2f} s, {len(r['console_errors'])} console errors"
                + (
                    f"; canvas {r['runs_ms'] / 1000:.2f} s, answer {r['answer_ms'] / 1000:.2f} s"
                    if page == DRAW_PAGE and r["answer_ms"]
                    else ""
                ),
                flush=True,
            )
    finally:
        server.shutdown()
        server.server_close()
    return {
        "network": {
            "down_mbit_s": DOWN_BYTES_PER_SECOND * 8 / 1e6,
            "latency_ms": LATENCY_MS,
            "cache": False,
            "compression": False,
        },
        "targets": TARGETS,
        "pages": results,
    }


def markdown(measured: dict) -> list[str]:
    """The "Pages" section of RESULTS.md."""
    net, pages_ = measured["network"], measured["pages"]
    lines = [
        f"## Pages, on a slow connection ({measured['date']}, {measured['machine']})",
        "",
        f"Each page of the built book served locally, uncompressed, to headless Chromium throttled to "
        f"{net['down_mbit_s']:g} Mbit/s down with {net['latency_ms']} ms latency, cache disabled "
        f"(`benchmarks/pages.py`). Targets: every page but the drawing page at most "
        f"{TARGETS['page_mb']:g} MB and {TARGETS['page_dom_s']:g} s to DOMContentLoaded; the drawing page's "
        f"canvas and run picker within {TARGETS['draw_canvas_s']:g} s, its first answer within "
        f"{TARGETS['draw_answer_s']:g} s.",
        "",
        "| page | MB transferred | requests | DOMContentLoaded (s) | load (s) | console errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for page, r in pages_.items():
        lines.append(
            f"| {page} | {r['bytes'] / 1e6:.2f} | {r['requests']} | {r['dom_content_loaded_ms'] / 1000:.2f} | "
            f"{r['load_ms'] / 1000:.2f} | {len(r['console_errors'])} |"
        )
    draw = pages_.get(DRAW_PAGE)
    if draw and draw.get("answer_ms"):
        lines += [
            "",
            f"The drawing page: its canvas and run picker drawn at {draw['runs_ms'] / 1000:.2f} s, the "
            f"encoder ready at {draw['ready_ms'] / 1000:.2f} s, and a character drawn at once answered at "
            f'{draw["answer_ms"] / 1000:.2f} s ("{draw["answer"]}").',
        ]
    return lines + [""]
