"""The project's own files agree with each other: dependencies, pins, the repository's address, the licence."""

import json
import re
from pathlib import Path

import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
URL = PROJECT["urls"]["Repository"]


def requirements(group: str | None = None) -> dict[str, Requirement]:
    declared = (
        PROJECT["dependencies"]
        if group is None
        else PROJECT["optional-dependencies"][group]
    )
    return {
        Requirement(r).name.lower(): Requirement(r)
        for r in declared
        if not r.startswith(PROJECT["name"])
    }


def pins(lines) -> dict[str, Version]:
    """name -> version of `name==version` lines (a local version such as +cpu left out)."""
    found = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"{line}: pin an exact version"
            found[requirement.name.lower()] = Version(
                Version(spec.version).base_version
            )
    return found


CONSTRAINTS = pins((ROOT / "constraints.txt").read_text().splitlines())
ENVIRONMENT = yaml.safe_load((ROOT / "environment.yml").read_text())
BINDER = pins(
    next(d["pip"] for d in ENVIRONMENT["dependencies"] if isinstance(d, dict))
)


def test_ci_pins_every_declared_dependency_within_its_range():
    declared = {
        **requirements(),
        **{
            n: r
            for group in PROJECT["optional-dependencies"]
            for n, r in requirements(group).items()
        },
    }
    assert set(CONSTRAINTS) == set(declared)
    for name, version in CONSTRAINTS.items():
        assert declared[name].specifier.contains(version), (
            f"{name} {version} is outside {declared[name].specifier}"
        )


def test_binder_installs_what_a_reader_needs_at_the_versions_ci_tests():
    reader = {**requirements(), **requirements("notebooks")}
    assert set(BINDER) == set(
        reader
    )  # no jupyter-book, pytest, nbval, ... for a reader
    assert all(BINDER[name] == CONSTRAINTS[name] for name in BINDER)
    torch_lines = [
        line
        for d in ENVIRONMENT["dependencies"]
        if isinstance(d, dict)
        for line in d["pip"]
        if line.startswith(("torch", "--"))
    ]
    assert (
        "--extra-index-url https://download.pytorch.org/whl/cpu" in torch_lines
    )
    assert all(
        line.endswith("+cpu")
        for line in torch_lines
        if line.startswith("torch")
    )  # no CUDA build
    python = next(
        d
        for d in ENVIRONMENT["dependencies"]
        if isinstance(d, str) and d.startswith("python=")
    )
    assert Requirement(
        "python" + PROJECT["requires-python"]
    ).specifier.contains(python.split("=")[1] + ".0")
    assert "siamese_tutorial download" in (ROOT / "postBuild").read_text()


def test_the_repository_address_is_the_same_everywhere():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"]["url"] == URL
    assert (
        "jupyterhub_url" not in config["launch_buttons"]
        and config["launch_buttons"]["colab_url"]
    )
    for chapter in sorted((ROOT / "book").glob("*.ipynb")):
        first_code = next(
            c
            for c in json.loads(chapter.read_text())["cells"]
            if c["cell_type"] == "code"
        )
        source = "".join(first_code["source"])
        addresses = re.findall(r"git\+(https://\S+?)[\"']", source)
        assert addresses == [URL], (
            f"{chapter.name}: its first cell must install from {URL}"
        )
        assert "remove-cell" in first_code["metadata"].get("tags", [])


def test_licence_readme_and_ci():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert (
        "LICENSE" in PROJECT["license-files"] and PROJECT["license"] == "MIT"
    )
    readme = (ROOT / "README.md").read_text()
    assert (
        "make test" in readme
        and "make book" in readme
        and "pip install" in readme
    )
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_wheel_carries_the_licence_and_works_outside_the_repository(
    tmp_path,
):
    # Build the wheel as pip would, install it away from the checkout, and use it there: the data
    # folder follows XDG_CACHE_HOME, and export will not write into the installed package.
    import subprocess
    import sys
    import zipfile

    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "wheel"),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert any(
        n.startswith("siamese_tutorial/weights/") and n.endswith(".pt")
        for n in names
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(tmp_path / "site"),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    env = {
        "PYTHONPATH": str(tmp_path / "site"),
        "XDG_CACHE_HOME": str(tmp_path / "xdg"),
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    probe = (
        "from siamese_tutorial.omniglot import default_data_dir; print(default_data_dir()); "
        "import siamese_tutorial; print(siamese_tutorial.__version__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    data_dir, version = done.stdout.split()
    assert (
        data_dir == str(tmp_path / "xdg" / "siamese_tutorial")
        and version == PROJECT["version"]
    )
    export = subprocess.run(
        [
            sys.executable,
            "-m",
            "siamese_tutorial",
            "export",
            "x.pt",
            "--name",
            "x",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert export.returncode == 2 and "give --to FOLDER" in export.stderr


def test_the_setup_cell_is_written_once_the_same_in_every_chapter():
    # Each chapter opens alone (Colab, JupyterLab), so each holds the cell; this keeps them one.
    cells = {}
    for chapter in sorted((ROOT / "book").glob("*.ipynb")):
        first_code = next(
            c
            for c in json.loads(chapter.read_text())["cells"]
            if c["cell_type"] == "code"
        )
        cells[chapter.name] = (
            "".join(first_code["source"]),
            tuple(first_code["metadata"].get("tags", [])),
        )
    assert len(set(cells.values())) == 1, sorted(cells)
