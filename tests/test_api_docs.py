"""The API reference builds without a warning: every docstring is valid numpydoc and reST.

`make book` builds it too, with the chapters, but only after three quarters of an hour of
execution; this builds book/api.md alone, with the book's autodoc and napoleon settings, in seconds.
"""

import shutil
from pathlib import Path

import yaml
from sphinx.cmd.build import build_main

ROOT = Path(__file__).resolve().parent.parent


def test_the_api_reference_builds_without_a_warning(tmp_path):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"][
        "config"
    ]
    settings = {
        key: value
        for key, value in config.items()
        if key.startswith(("autodoc_", "napoleon_"))
    }
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(ROOT / "book" / "api.md", source / "index.md")
    (source / "conf.py").write_text(
        "extensions = ['myst_parser', 'sphinx.ext.autodoc', 'sphinx.ext.napoleon']\n"
        + "".join(f"{key} = {value!r}\n" for key, value in settings.items())
    )
    warnings = tmp_path / "warnings.txt"
    status = build_main(
        [
            "-q",
            "-W",
            "--keep-going",
            "-w",
            str(warnings),
            "-b",
            "html",
            str(source),
            str(tmp_path / "html"),
        ]
    )
    assert status == 0, warnings.read_text()
