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


# The import paths that chapters, the README and coursework have used: every name each module of
# the package exported before the split (its __all__ then), and a few more, still resolves there.
OLD_PATHS = {
    "siamese_tutorial.baselines": [
        "ink_coordinates",
        "modified_hausdorff_distance",
        "mhd_cost",
        "pixel_nearest_neighbour_cost",
    ],
    "siamese_tutorial.browser": [
        "ShiftAveragedEncoder",
        "export_onnx",
        "run_gallery",
        "draw_thresholds",
        "write_draw_assets",
        "RUNTIME_FILES",
        "main",
    ],
    "siamese_tutorial.checks": [
        "check_positive",
        "check_number",
        "check_finite",
        "check_identifier",
        "check_shifts",
        "printable",
        "listing",
        "as_numpy",
        "as_labels",
        "default_device",
        "resolve_device",
    ],
    "siamese_tutorial.cli": ["build_parser", "main"],
    "siamese_tutorial.data": [
        "LabelledImages",
        "IMAGE_SUFFIXES",
        "INK_POLARITIES",
        "MAX_PIXELS",
        "load_images",
        "paper_is_light",
        "load_image_folder",
        "PictureReader",
        "class_folders",
        "picture_files",
        "split_classes",
        "PKSampler",
        "PKBatches",
        "random_pairs",
        "random_triplets",
        "EPISODE_STYLES",
        "Episode",
        "n_way_k_shot_episodes",
        "with_rotations",
        "with_reflections",
        "affine",
        "random_affine",
    ],
    "siamese_tutorial.diagrams": [
        "draw_twin_encoder",
        "draw_contrastive_margin",
        "draw_triplet_bands",
        "draw_pipeline",
    ],
    "siamese_tutorial.display": [
        "source_without_docstring",
        "show_code",
        "show_table",
        "Shown",
        "shown",
        "progress_bar",
    ],
    "siamese_tutorial.distances": [
        "pairwise_distances",
        "euclidean_distance",
        "check_embeddings",
    ],
    "siamese_tutorial.evaluation": [
        "Z_95",
        "PublishedResult",
        "PUBLISHED_RESULTS",
        "PUBLISHED_ACCURACY",
        "CostFunction",
        "OneShotResult",
        "wilson_interval",
        "embed",
        "shift_images",
        "one_shot_accuracy_from_cost",
        "one_shot_accuracy",
        "episode_accuracy",
    ],
    "siamese_tutorial.experiments": [
        "RESULTS_DIR",
        "load_experiments",
        "load_benchmarks",
        "chosen_validation",
        "seed_table",
        "Idea",
        "IDEAS",
        "idea_rows",
        "ideas_table",
    ],
    "siamese_tutorial.files": [
        "atomic_write",
        "write_together",
        "write_text",
        "write_json",
        "read_json",
        "sha256_file",
        "check_writable_file",
        "check_format",
        "file_lock",
        "FileBusyError",
        "absolute",
    ],
    "siamese_tutorial.gallery": [
        "UNKNOWN",
        "Gallery",
        "check_name",
        "folder_classes",
        "check_plain",
        "encoder_fingerprint",
        "OpenSetCalibration",
        "calibrate_open_set",
        "FOLDER_CHUNK",
        "GALLERY_FORMAT",
    ],
    "siamese_tutorial.gallery_cli": [
        "EXPECTED_SIZE",
        "enrol",
        "identify",
        "verify",
    ],
    "siamese_tutorial.losses": [
        "contrastive_loss",
        "ContrastiveLoss",
        "triplet_loss",
        "TripletLoss",
        "batch_all_triplet_loss",
        "batch_hard_triplet_loss",
        "semi_hard_triplet_loss",
        "batch_contrastive_loss",
    ],
    "siamese_tutorial.mining": [
        "positive_mask",
        "negative_mask",
        "triplet_mask",
        "check_labelled_batch",
        "check_triplet_batch",
        "all_pairs",
        "all_valid_triplets",
        "hardest_triplets",
        "batch_hard_triplets",
        "semi_hard_negatives",
        "semi_hard_triplets",
        "hard_negative_pairs",
        "pml_pairs",
        "triplet_statistics",
        "pair_statistics",
    ],
    "siamese_tutorial.models": [
        "Encoder",
        "SiameseCNN",
        "MLPEncoder",
        "ConvEncoder",
        "ENCODERS",
        "build_encoder",
        "SiameseNetwork",
        "SoftmaxClassifier",
        "encoder_of",
    ],
    "siamese_tutorial.omniglot": [
        "SPLITS",
        "RUN_ALPHABETS",
        "VALIDATION_ALPHABETS",
        "OmniglotDataError",
        "OneShotRun",
        "default_data_dir",
        "user_cache_dir",
        "download",
        "prepare",
        "load_omniglot",
        "load_validation_set",
        "load_one_shot_runs",
        "ORIGINAL_SIZE",
        "NUM_RUNS",
    ],
    "siamese_tutorial.pictures": [
        "IMAGE_SUFFIXES",
        "INK_POLARITIES",
        "MAX_PIXELS",
        "CONVERT",
        "load_images",
        "PictureReader",
        "paper_is_light",
        "class_folders",
        "picture_files",
    ],
    "siamese_tutorial.plotting": [
        "set_style",
        "plot_images",
        "plot_embedding_2d",
        "plot_distance_histograms",
        "plot_roc",
        "plot_training_curves",
        "plot_mistakes",
        "plot_answers",
        "plot_open_set",
        "plot_accuracy_by_ways",
        "plot_ideas",
    ],
    "siamese_tutorial.pretrained": [
        "PRETRAINED_DIR",
        "available_pretrained",
        "load_pretrained",
        "load_model",
        "read_card",
    ],
    "siamese_tutorial.recipe": [
        "TrainConfig",
        "unused_settings",
        "Validation",
        "VALIDATION_SEED",
        "train_encoder",
        "load_training_data",
        "held_out_classes",
        "fit_batch",
        "reading",
        "card_path",
        "make_card",
        "machine_description",
    ],
    "siamese_tutorial.training": [
        "OBJECTIVES",
        "Objective",
        "seed_everything",
        "keep_freed_memory",
        "make_objective",
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
    "siamese_tutorial.verification": [
        "check_pairs",
        "roc_curve",
        "roc_auc",
        "equal_error_rate",
        "verification_accuracy",
        "balanced_accuracy",
        "choose_threshold",
        "OpenSetCurve",
        "open_set_curve",
        "choose_open_set_threshold",
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
