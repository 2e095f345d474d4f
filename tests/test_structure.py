"""The package stack: benchmarks -> convert and training (side by side,
neither importing the other's) -> keras_mixer, with mixer_base (the
commands' base) under both stages; no import running back up, and the model
package and mixer_base as light as they can be."""

import ast
import configparser
import os
import pathlib
import re
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


@pytest.mark.parametrize(
    "package, above",
    [
        ("mixer_base", {"keras_mixer", "training", "convert", "benchmarks"}),
        ("keras_mixer", {"training", "convert"}),
        ("training", {"convert", "benchmarks"}),
        ("convert", {"training", "benchmarks"}),  # converting never needs the training stage
    ],
)
def test_no_import_runs_back_up_the_stack(package, above):
    assert not imported_packages(package) & above


def test_mixer_base_imports_nothing_heavy():
    # The commands answer --help before TensorFlow; convert.runtime stays free of it.
    code = (
        "import sys\nimport mixer_base.commands, mixer_base.flags, mixer_base.internals\n"
        "print(sorted(m for m in ('keras', 'tensorflow', 'numpy', 'ai_edge_litert') "
        "if m in sys.modules))"
    )
    result = run_python(code)
    assert (result.returncode, result.stdout) == (0, "[]\n"), result.stderr[-2000:]


def test_import_keras_mixer_loads_no_stage_libraries_beyond_keras_own():
    # Keras 3 itself imports matplotlib and scikit-learn when they are installed.
    code = (
        f"import sys\nloaded = lambda: sorted(m for m in {STAGE_ONLY!r} if m in sys.modules)\n"
        "import keras\nprint(loaded())\nimport keras_mixer\nprint(loaded())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"KERAS_BACKEND": "tensorflow", "PATH": ""},
        cwd=ROOT,
    )
    with_keras, with_keras_mixer = map(ast.literal_eval, result.stdout.strip().splitlines()[-2:])
    assert with_keras_mixer == with_keras
    assert not set(with_keras_mixer) & {"tensorflow_datasets", "tensorflow_model_optimization"}


# What `pip install keras-mixer` leaves out: the extras' libraries (setup.cfg).
EXTRAS_ONLY = (*STAGE_ONLY, "mlxtend", "yaml", "tf_keras", "ai_edge_litert")
WITHOUT_EXTRAS = f"""
import importlib.abc, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {EXTRAS_ONLY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Absent())
"""


def run_python(code):
    """``python -c code`` from the repository root, in a bare environment."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"KERAS_BACKEND": "tensorflow", "PATH": ""},
        cwd=ROOT,
    )


def test_the_model_package_works_without_the_stages_extras(tmp_path, rng):
    from tests.weights_helpers import official_params, save_npz

    npz = save_npz(tmp_path / "official.npz", official_params(rng))
    code = (
        WITHOUT_EXTRAS
        + f"""
import numpy as np, keras_mixer
model = keras_mixer.MlpMixer(4, 16, 2, 8, 32, input_shape=(16, 16, 3), classes=5,
                             weights={npz!r})
print(model.predict(np.zeros((1, 16, 16, 3)), verbose=0).shape)
print(sorted(m for m in {STAGE_ONLY!r} if m in sys.modules))
"""
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[-3:-1] == ["(1, 5)", "[]"]
    requires = configparser.ConfigParser()
    requires.read(ROOT / "setup.cfg")
    core = requires["options"]["install_requires"].lower().replace("-", "_")
    assert not [
        name
        for name in (
            "tensorflow_datasets",
            "tensorflow_model_optimization",
            "matplotlib",
            "scikit_learn",
            "mlxtend",
            "pyyaml",
            "tf_keras",
            "ai_edge_litert",
        )
        if name in core
    ]


def test_a_stage_without_its_extra_names_the_install_command(tmp_path):
    code = WITHOUT_EXTRAS + (
        "from training.cli import train_main\n"
        f"train_main(['--config', 'digits', '--output', {str(tmp_path)!r}])"
    )
    result = run_python(code)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "which is not installed: pip install 'keras-mixer[train]'" in result.stderr
    assert not (tmp_path / "history.json").exists()  # said before any epoch was trained


def test_the_wheel_ships_the_configs_and_label_files(tmp_path):
    import shutil
    import zipfile

    source = tmp_path / "source"  # a copy: the build writes its scratch folders beside it
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".*",
            "build",
            "*.egg-info",
            "__pycache__",
            "benchmarks",
            "tests",
            "android_demo",
            "runs",
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("keras_mixer-*.whl")

    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"training/configs/{path.name}" for path in (ROOT / "training/configs").glob("*.py")}
    shipped |= {f"keras_mixer/data/{path.name}" for path in (ROOT / "keras_mixer/data").iterdir()}
    assert shipped and shipped <= names


def test_mixer_convert_is_the_convert_command():
    # ImageMagick's `convert` may come first on PATH: the same command by a second name.
    scripts = configparser.ConfigParser()
    scripts.read(ROOT / "setup.cfg")
    entries = dict(
        line.split(" = ")
        for line in scripts["options.entry_points"]["console_scripts"].strip().splitlines()
    )
    assert entries["mixer-convert"] == entries["convert"] == "convert.__main__:main"
    script = pathlib.Path(sys.executable).parent / "mixer-convert"
    result = subprocess.run(
        [str(script), "--help"],
        capture_output=True,
        text=True,
        env={"KERAS_BACKEND": "tensorflow", "PATH": ""},
    )
    assert result.returncode == 0 and "usage: convert" in result.stdout
    # The one command surface: the conversion's flags and the subcommands, each with its line.
    assert re.search(r"^ +benchmark +LiteRT latency", result.stdout, re.M), result.stdout
    assert re.search(r"^ +compare +which file to ship", result.stdout, re.M), result.stdout
    listed = re.search(r"convert \{([a-z,-]+)\} \.\.\.", result.stdout)
    assert "--int8" in result.stdout and listed, result.stdout
    assert {"benchmark", "compare", "check-arm"} <= set(listed.group(1).split(","))


# A module a newcomer reads in one sitting; the conversion's stage list shorter still.
LONGEST_MODULE, LONGEST_PIPELINE = 400, 250


def test_modules_stay_short():
    lengths = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for package in ("keras_mixer", "training", "convert", "mixer_base")
        for path in (ROOT / package).rglob("*.py")
    }
    assert {path: n for path, n in lengths.items() if n > LONGEST_MODULE} == {}
    assert lengths["convert/pipeline.py"] <= LONGEST_PIPELINE


def test_the_embedded_sets_are_named_once_in_step():
    from keras_mixer.datasets import settings, sources

    assert tuple(sources.EMBEDDED) == settings.EMBEDDED_NAMES


def test_a_missing_prerequisite_fails_under_ci_and_skips_elsewhere(tmp_path):
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "from tests.conftest import missing\n\n\ndef test_x():\n"
        "    missing('a browser', 'apt-get install chromium')\n"
    )
    outcomes = {}
    for ci in ("", "true"):
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", probe],
            cwd=ROOT,
            env={**os.environ, "CI": ci},
            capture_output=True,
            text=True,
        )
        outcomes[ci] = (result.returncode, result.stdout.strip().splitlines()[-1])
    assert outcomes[""] == (0, outcomes[""][1]) and "1 skipped" in outcomes[""][1]
    assert outcomes["true"][0] == 1 and "1 failed" in outcomes["true"][1]
