"""The project's own files agree with each other."""

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _normalised(requirements):
    return {Requirement(r).name.lower(): str(Requirement(r).specifier) for r in requirements}


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert _normalised(pip_section) == _normalised(declared)
    python = next(d for d in environment["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert Requirement("python" + project["requires-python"]).specifier.contains(python.split("=")[1] + ".0")


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make book" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
