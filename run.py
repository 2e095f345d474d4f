#!/usr/bin/env python3
"""Quick start with nothing but Python 3: makes ./.venv, installs keras-mixer
into it (again only when setup.cfg or pyproject.toml changed) and runs a job.

    python3 run.py demo [ARGS...]   the main job end to end: train on the digits, then int8
    python3 run.py test [ARGS...]   the test suite (ARGS go to pytest, e.g. -m slow)
    python3 run.py web [MODEL]      the web demo on 127.0.0.1:8000 (default: the demo's model)
    python3 run.py lint [ARGS...]   ruff check and ruff format --check, configured in pyproject.toml
"""

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / "keras-mixer-installed"
MEDIAPIPE = "mediapipe==1.2.3"
# The tests run the models on Keras' other backends and read timm's .pth files:
# JAX and PyTorch on the CPU (torch 2.13.0's CPU wheel; plain `torch` would be a
# CUDA build of several GB).
OTHER_BACKENDS = ["jax", "torch==2.13.0"]
# A job is a list of commands run in order; ARGS go to the first.
JOBS = {
    "demo": [
        ["-m", "training", "--config", "digits", "--output", "runs/digits"],
        [
            "-m",
            "convert",
            "runs/digits/model.keras",
            "--int8",
            "--data",
            "digits",
            "-o",
            "runs/digits/model_int8.tflite",
        ],
    ],
    "test": [["-m", "pytest"]],
    "web": [["web_demo/serve.py"]],
    # CI runs it before the tests: the rules and the formatting.
    "lint": [["-m", "ruff", "check", "."], ["-m", "ruff", "format", "--check", "."]],
}


def venv_python():
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_environment():
    digest = hashlib.sha256(
        b"".join((ROOT / name).read_bytes() for name in ("setup.cfg", "pyproject.toml"))
        + " ".join([MEDIAPIPE, *OTHER_BACKENDS]).encode()
    ).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    if not venv_python().exists():
        print(f"run.py: creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    print(
        "run.py: installing keras-mixer and its dependencies (first run: a few minutes)", flush=True
    )
    pip = [str(venv_python()), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True)
    # The tests load our models with MediaPipe Tasks, as an Android app does. MediaPipe
    # pins absl-py>=2.3 and TFMOT absl-py<2, so pip cannot resolve both in one go (it
    # would fall back to an old TFMOT); both work with either, so MediaPipe comes apart.
    subprocess.run([*pip, "--no-deps", MEDIAPIPE], check=True)
    subprocess.run([*pip, "opencv-contrib-python", "sounddevice"], check=True)
    subprocess.run(pip + OTHER_BACKENDS, check=True)
    STAMP.write_text(digest)


# The web demo's tests drive Debian's Chromium (browsers that tools download fail here).
CHROMIUM = "/usr/bin/chromium"
DEMO_MODEL = "runs/digits/model_int8.tflite"


def ensure_browser():
    """Installs Debian's chromium with apt when it is missing and apt may run
    (as android_demo/core/run-tests.sh installs junit4); where it cannot, the
    web demo's tests skip, saying why."""
    if os.path.exists(CHROMIUM) or not shutil.which("apt-get"):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"] if shutil.which("sudo") else None
    if sudo is None:
        return
    print("run.py: installing Debian's chromium for the web demo's tests", flush=True)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, "apt-get", "install", "-y", "-q", "chromium"]
    if subprocess.run(install, env=env, **quiet).returncode:
        subprocess.run([*sudo, "apt-get", "update", "-q"], env=env, **quiet)
        subprocess.run(install, env=env, **quiet)


# Jobs whose commands need nothing beyond Python's standard library (and npm):
# they run at once with this Python, before (and without) the environment.
STANDALONE = {"web"}


def main(argv):
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return
    if not argv or argv[0] not in JOBS:
        print(f"usage: python3 run.py {{{','.join(JOBS)}}} [ARGS...]", file=sys.stderr)
        sys.exit(2)
    job, args = argv[0], argv[1:]
    if job == "web" and not args:
        if not (ROOT / DEMO_MODEL).exists():
            print(
                f"run.py web: no {DEMO_MODEL} yet: run `python3 run.py demo` first, "
                "or pass a .tflite file",
                file=sys.stderr,
            )
            sys.exit(2)
        args = [DEMO_MODEL]
    if job in STANDALONE:
        python, env = sys.executable, None
    else:
        if job == "test":
            ensure_browser()
        ensure_environment()
        python = str(venv_python())
        env = {**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow")}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for i, command in enumerate(JOBS[job]):
        code = subprocess.run([python, *command, *(args if i == 0 else [])], cwd=ROOT, env=env)
        if code.returncode:
            sys.exit(code.returncode)


if __name__ == "__main__":
    main(sys.argv[1:])
