"""The package stack: benchmarks -> convert -> training -> keras_mixer, with
no import running back up, and the model package as light as Keras allows."""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
STAGE_ONLY = ("tensorflow_datasets", "tensorflow_model_optimization", "matplotlib", "sklearn")


def imported_packages(package):
    """The top-level names every module under ``package`` imports."""
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package, above", [("keras_mixer", {"training", "convert"}),
                                            ("training", {"convert", "benchmarks"}),
                                            ("convert", {"training", "benchmarks"})])
def test_no_import_runs_back_up_the_stack(package, above):
    assert not imported_packages(package) & above


def test_import_keras_mixer_loads_no_stage_libraries_beyond_keras_own():
    # Keras 3 itself imports matplotlib and scikit-learn when they are installed.
    code = (f"import sys\nloaded = lambda: sorted(m for m in {STAGE_ONLY!r} if m in sys.modules)\n"
            "import keras\nprint(loaded())\nimport keras_mixer\nprint(loaded())\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env={"KERAS_BACKEND": "tensorflow", "PATH": ""},
                            cwd=ROOT)
    with_keras, with_keras_mixer = map(ast.literal_eval, result.stdout.strip().splitlines()[-2:])
    assert with_keras_mixer == with_keras
    assert not set(with_keras_mixer) & {"tensorflow_datasets", "tensorflow_model_optimization"}
