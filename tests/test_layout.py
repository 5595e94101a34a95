"""The package's layout stays readable: short modules, short functions, one formatter.

How lines are counted: a module's lines are its physical lines (``wc -l``); a function's lines
of code run from its ``def`` (decorators excluded) to its last line, less its docstring, blank
lines and lines holding only a comment (a nested function's lines count in the outer one too).
"""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "siamese_tutorial"
MAX_MODULE_LINES = 500
MAX_FUNCTION_CODE_LINES = 60


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def code_lines(node: ast.AST, lines: list[str]) -> int:
    """Lines of code of a function: no docstring, blank or comment-only line."""
    skip: set[int] = set()
    body = node.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        skip.update(range(body[0].lineno, body[0].end_lineno + 1))
    count = 0
    for number in range(node.lineno, node.end_lineno + 1):
        text = lines[number - 1].strip()
        if number not in skip and text and not text.startswith("#"):
            count += 1
    return count


def functions(path: Path) -> list[tuple[str, int]]:
    """``(qualified name, lines of code)`` of every function of a module."""
    source = path.read_text()
    lines = source.splitlines()
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                found.append((name, code_lines(child, lines)))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return found


def test_no_module_is_over_500_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for path in modules()
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_function_is_over_60_lines_of_code():
    long = {
        f"{path.relative_to(ROOT)}:{name}": n
        for path in modules()
        for name, n in functions(path)
        if n > MAX_FUNCTION_CODE_LINES
    }
    assert not long, f"functions over {MAX_FUNCTION_CODE_LINES} lines: {long}"


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_the_tree_is_formatted_by_ruff():
    result = ruff("format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_tree_passes_ruff_check():
    result = ruff("check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


# The import paths that chapters, the README and coursework have used: each still resolves.
OLD_PATHS = {
    "siamese_tutorial.data": [
        "LabelledImages",
        "load_image_folder",
        "split_classes",
        "PKSampler",
        "PKBatches",
        "random_pairs",
        "random_triplets",
        "Episode",
        "EPISODE_STYLES",
        "n_way_k_shot_episodes",
        "with_rotations",
        "with_reflections",
        "affine",
        "random_affine",
        "load_images",
        "INK_POLARITIES",
        "IMAGE_SUFFIXES",
    ],
    "siamese_tutorial.training": [
        "OBJECTIVES",
        "Objective",
        "make_objective",
        "seed_everything",
        "keep_freed_memory",
        "History",
        "Callback",
        "Trainer",
        "ProgressBar",
        "ModelSelection",
        "WeightAverage",
        "Checkpoint",
        "OnSteps",
        "fit",
        "save_checkpoint",
        "load_checkpoint",
        "read_checkpoint",
        "default_device",
        "resolve_device",
    ],
    "siamese_tutorial.display": ["show_code", "show_table", "shown"],
    "siamese_tutorial.plotting": ["plot_images", "plot_embedding_2d"],
    "siamese_tutorial.diagrams": [],
    "siamese_tutorial.experiments": [],
    "siamese_tutorial.browser": ["main"],
    "siamese_tutorial.evaluation": [
        "embed",
        "one_shot_accuracy",
        "one_shot_accuracy_from_cost",
        "episode_accuracy",
        "shift_images",
    ],
}


@pytest.mark.parametrize("module", sorted(OLD_PATHS))
def test_old_import_paths_still_resolve(module):
    imported = importlib.import_module(module)
    missing = [n for n in OLD_PATHS[module] if not hasattr(imported, n)]
    assert not missing, f"{module} lost {missing}"


# The layers of the README's architecture section, from the bottom: a module imports (at its top)
# only modules of its own layer or of the layers below it. Imports inside a function are left out:
# those are the old names kept importable (e.g. mining's statistics, now in batch_statistics).
LAYERS = [
    ["checks", "files", "progress"],
    [
        "labelled",
        "pictures",
        "folders",
        "sampling",
        "episodes",
        "augmentation",
        "omniglot",
        "omniglot_files",
        "data",
    ],
    ["models", "distances"],
    [
        "evaluation",
        "shifts",
        "published",
        "baselines",
        "verification",
        "gallery",
        "gallery_names",
        "open_set",
    ],
    ["losses", "mining", "batch_statistics"],
    ["objectives"],
    ["training", "loop", "callbacks", "history", "checkpoints", "machine"],
    ["config", "validation", "recipe", "cards", "pretrained"],
    [
        "cli",
        "cli_parser",
        "cli_train",
        "cli_checks",
        "gallery_cli",
        "__main__",
    ],
    ["book", "display", "plotting", "diagrams", "experiments", "browser"],
]
LAYER = {name: n for n, names in enumerate(LAYERS) for name in names}


def top_level_imports(path: Path) -> set[str]:
    """The package's modules a module imports at its top (first part of the name)."""
    inside = path.parent.relative_to(ROOT).parts[1:]  # sub-package parts
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(inside[: len(inside) - (node.level - 1)])
            if node.module:
                found.add((base + node.module.split("."))[0])
            elif base:
                found.add(base[0])
            else:  # from . import a, b
                found.update(alias.name for alias in node.names)
    found.discard("__version__")
    return found


def test_each_module_imports_only_its_layer_and_those_below():
    wrong = {}
    for path in modules():
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = parts[0] if parts[0] != "__init__" else None
        if name is None or path.name == "__init__.py" and len(parts) == 1:
            continue
        for imported in top_level_imports(path) - {name}:
            if LAYER[imported] > LAYER[name]:
                wrong.setdefault(str(path.relative_to(ROOT)), []).append(
                    imported
                )
    assert not wrong, f"imports from a higher layer: {wrong}"


def test_every_module_has_a_layer():
    names = {
        path.relative_to(PACKAGE).with_suffix("").parts[0]
        for path in modules()
    } - {"__init__"}
    assert names == set(LAYER), names ^ set(LAYER)
