"""Run chapters in a real JupyterLab, as a reader would, check what the reader sees, take screenshots.

    make venv                                                     # the project's environment (selenium too)
    apt-get install chromium chromium-driver                      # Debian's headless browser
    .venv/bin/python tools/check_jupyterlab.py [CHAPTER ...]      # every chapter by default

Starts JupyterLab from the project's `.venv` on a free local port, opens each chapter in headless
Chromium, runs it with Run > Run All Cells, waits until every cell has run, and checks what a
reader sees: no error output; MyST rendered by jupyterlab-myst (exercise solutions folded, no raw
roles or ``` fences left); every value the text quotes shown as a value, never as its `{eval}`
role, its expression or a format spec; the hidden cells (the text's values and checks) collapsed;
and a progress bar in the long cells. Screenshots go to `_build/jupyterlab-check/`; read them.
Exit status 1 if a check fails. `make test` runs it on chapter 1.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(
    0, str(ROOT / "_ext")
)  # chapters.py: the records of the HTML book's values
OUT = ROOT / "_build" / "jupyterlab-check"
RUN_ALL_TIMEOUT = 1800
# tqdm's notebook bar: an ipywidgets box in a cell's output (text/plain "HBox(...)" if widgets fail)
PROGRESS = (
    ".jp-OutputArea-output .jupyter-widgets, .jp-OutputArea-output progress"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reader_copy() -> Path:
    """A copy of book/ (JupyterLab autosaves what it runs: never into the repository's notebooks), with
    the benchmark results the chapters read beside it, as in the repository."""
    folder = Path(tempfile.mkdtemp(prefix="jupyterlab-check-"))
    shutil.copytree(ROOT / "book", folder / "book")
    (folder / "benchmarks").symlink_to(ROOT / "benchmarks")
    return folder / "book"


def start_lab(port: int, token: str, book: Path) -> subprocess.Popen:
    command = [
        str(ROOT / ".venv" / "bin" / "jupyter"),
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={book}",
        # a workspace of its own: one saved by an earlier check would reopen its notebooks, and
        # jupyterlab-myst then left this chapter's values unevaluated
        f"--LabApp.workspaces_dir={book.parent / 'workspaces'}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
    }
    env.pop("TQDM_DISABLE", None)  # readers see progress bars
    lab = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(OUT / "jupyterlab.log", "w"),
    )
    for _ in range(120):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return lab
        except OSError:
            time.sleep(1)
    raise SystemExit(
        "JupyterLab did not start; see _build/jupyterlab-check/jupyterlab.log"
    )


def browser() -> webdriver.Chrome:
    options = Options()
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={OUT / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(
        service=Service("/usr/bin/chromedriver"), options=options
    )


def click_menu(driver: webdriver.Chrome, menu: str, item: str) -> None:
    for label in driver.find_elements(
        By.CSS_SELECTOR, ".lm-MenuBar-itemLabel"
    ):
        if label.text == menu:
            label.click()
            break
    time.sleep(0.5)
    for label in driver.find_elements(By.CSS_SELECTOR, ".lm-Menu-itemLabel"):
        if label.text == item:
            label.click()
            return
    raise RuntimeError(f"no menu item {menu} > {item}")


def check_chapter(
    driver: webdriver.Chrome, port: int, token: str, chapter: str
) -> list[str]:
    problems = []
    driver.get(
        f"http://127.0.0.1:{port}/lab/tree/{chapter}.ipynb?token={token}"
    )
    # JupyterLab loads and the kernel starts. Run All before the kernel is connected would run the code
    # cells once it is, but jupyterlab-myst asks for the text's values at once and, finding no kernel,
    # never asks again: wait as a reader does, until the kernel is idle.
    deadline = time.time() + 180
    while time.time() < deadline:
        time.sleep(2)
        status = " ".join(
            e.text
            for e in driver.find_elements(
                By.CSS_SELECTOR, ".jp-StatusBar-Widget"
            )
        )
        if "Idle" in status:
            break
    driver.save_screenshot(str(OUT / f"{chapter}-0-opened.png"))
    click_menu(driver, "Run", "Run All Cells")
    start, saw_progress = time.time(), False
    while time.time() - start < RUN_ALL_TIMEOUT:
        time.sleep(5)
        prompts = [
            p.text
            for p in driver.find_elements(By.CSS_SELECTOR, ".jp-InputPrompt")
        ]
        saw_progress |= bool(driver.find_elements(By.CSS_SELECTOR, PROGRESS))
        if (
            prompts
            and not any("*" in p for p in prompts)
            and all(
                re.search(r"\[\d+\]", p)
                for p in prompts
                if p.strip() and p.strip() != "[ ]:"
            )
        ):
            break
    else:
        problems.append(f"{chapter}: still running after {RUN_ALL_TIMEOUT} s")
    seconds = time.time() - start
    page = driver.find_element(
        By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden)"
    )
    text = page.text
    if "Traceback" in text or driver.find_elements(
        By.CSS_SELECTOR, "[data-mime-type='application/vnd.jupyter.error']"
    ):
        problems.append(f"{chapter}: an error output")
    if re.search(r"\{[\w:-]+\}`", text) or "```{" in text:
        problems.append(
            f"{chapter}: raw MyST markup shown (is jupyterlab-myst installed?)"
        )
    problems += [
        f"{chapter}: {problem}" for problem in unevaluated(driver, chapter)
    ]
    solutions = driver.find_elements(By.CSS_SELECTOR, "details")
    if "Solution" in text and not solutions:
        problems.append(f"{chapter}: exercise solutions are not folded")
    if any(d.get_attribute("open") for d in solutions):
        problems.append(f"{chapter}: a solution is unfolded")
    cells = driver.find_elements(By.CSS_SELECTOR, ".jp-Cell")
    for i, index in enumerate(
        sorted({0, len(cells) // 3, 2 * len(cells) // 3, len(cells) - 1})
    ):
        driver.execute_script(
            "arguments[0].scrollIntoView(true);", cells[index]
        )
        time.sleep(1)
        driver.save_screenshot(str(OUT / f"{chapter}-{i + 1}.png"))
    bars = driver.find_elements(By.CSS_SELECTOR, PROGRESS)
    if bars:  # the first progress bar as a reader sees it after the run
        driver.execute_script(
            "arguments[0].scrollIntoView({block: 'center'});", bars[0]
        )
        time.sleep(1)
        driver.save_screenshot(str(OUT / f"{chapter}-progress.png"))
    if "HBox(children" in text:
        problems.append(
            f"{chapter}: a progress bar shown as text (are ipywidgets installed in the kernel?)"
        )
    print(
        f"{chapter}: ran in {seconds:.0f} s; {len(solutions)} folded solutions; progress bar seen: {saw_progress}; "
        f"{'ok' if not problems else '; '.join(problems)}",
        flush=True,
    )
    return problems


def rendered_prose(driver: webdriver.Chrome) -> str:
    """The text of every rendered Markdown cell (jupyterlab-myst's), white space collapsed."""
    for cell in driver.find_elements(
        By.CSS_SELECTOR, ".jp-Cell"
    ):  # a cell far off screen may render late
        driver.execute_script("arguments[0].scrollIntoView(true);", cell)
        time.sleep(0.1)
    prose = driver.execute_script(
        "return Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
        ".jp-MarkdownCell .myst')).map(function (e) { return e.textContent; }).join('\\n');"
    )
    return " ".join(prose.split())


def rerun_cells(
    driver: webdriver.Chrome, expressions: list[str], chapter: str
) -> None:
    """Run again (Shift+Enter, the kernel idle) each Markdown cell that shows one of ``expressions``."""
    shown = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-MarkdownCell"
    count = 0
    for cell in driver.find_elements(By.CSS_SELECTOR, shown):
        driver.execute_script(
            "arguments[0].scrollIntoView({block: 'center'});", cell
        )
        text = driver.execute_script("return arguments[0].textContent;", cell)
        if not any(e in text for e in expressions):  # folded text included
            continue
        cell.find_element(By.CSS_SELECTOR, ".jp-InputPrompt").click()
        ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(
            Keys.SHIFT
        ).perform()
        count += 1
        time.sleep(1)
    print(
        f"{chapter}: {count} Markdown cell(s) showed a name after Run All; run again",
        flush=True,
    )


def unevaluated(driver: webdriver.Chrome, chapter: str) -> list[str]:
    """What the rendered Markdown shows of the text's quoted values that is not the book's value.

    jupyterlab-myst shows an expression it could not evaluate as its error ("NameError: ..."); glue's
    keys and format specs ("raw_auc:.3f") are what the book showed before; every value recorded for
    the HTML book (``_build/executed/``, when current) must read the same here, once jupyterlab-myst
    has evaluated them (it does so late, after the cells: this waits a minute, then runs again the
    cells that still show a name, as a reader would); and each hidden
    cell must be folded to a line.
    """
    chapters = importlib.import_module("chapters")
    path = ROOT / "book" / f"{chapter}.ipynb"
    values = []
    if chapters.staleness(path) is None:
        values = [
            (
                entry["expression"],
                " ".join(chapters.plain_value(entry["result"]).split()),
            )
            for cell in chapters.current_record(path).cells
            if cell.cell_type == "markdown"
            for entry in cell.metadata.get("user_expressions", [])
        ]
    deadline, rerun = time.time() + 60, False
    while True:
        prose = rendered_prose(driver)
        unread = [(e, v) for e, v in values if v not in prose]
        if unread and not rerun and time.time() > deadline:
            # After Run All, jupyterlab-myst leaves some cells' values unasked (here, in about
            # half the runs of chapter 1, the later cells); the reader runs such a cell again.
            rerun, deadline = True, time.time() + 60
            rerun_cells(driver, [e for e, _ in unread], chapter)
            continue
        if not unread or time.time() > deadline:
            break
        time.sleep(5)
    missing = [
        f"{{eval}}`{e}` does not read {v!r} as in the book" for e, v in unread
    ]
    problems = [
        f"the text shows an error: {m!r}"
        for m in re.findall(r"\b\w+Error: [^\]\)]{0,60}", prose)
    ]
    problems += [
        f"the text shows a key and format: {m!r}"
        for m in re.findall(r"\b\w+:\.\d+[f%]", prose)
    ]
    problems += [
        f"the text shows a role: {m!r}"
        for m in re.findall(r"\{[\w:-]+\}`?", prose)
    ]
    source = json.loads(path.read_text())["cells"]
    hidden = sum(
        "remove-cell" in cell.get("metadata", {}).get("tags", [])
        for cell in source
    )
    folded = len(driver.find_elements(By.CSS_SELECTOR, ".jp-InputPlaceholder"))
    if folded < hidden:
        problems.append(
            f"{hidden - folded} of its {hidden} hidden cells are shown in full"
        )
    return problems + missing


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    chapters = sys.argv[1:] or sorted(
        p.stem for p in (ROOT / "book").glob("*.ipynb")
    )
    port, token = free_port(), secrets.token_hex(16)
    lab = start_lab(port, token, reader_copy())
    driver = browser()
    problems = []
    try:
        for chapter in chapters:
            problems += check_chapter(driver, port, token, chapter)
    finally:
        driver.quit()
        lab.terminate()
    print("\n".join(problems) or "every chapter ran, and looks as it should")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
