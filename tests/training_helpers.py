"""A tiny training config and a way to run the training CLI as a user does."""

import contextlib
import hashlib
import io
import os
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY_CONFIG = {
    "model": {
        "variant": None,
        "patch_size": 4,
        "hidden_size": 16,
        "num_blocks": 1,
        "tokens_mlp_dim": 8,
        "channels_mlp_dim": 32,
    },
    "data": {
        "dataset": "digits",
        "image_size": 16,
        "eval_crop": 1.0,
        "flip": False,
        "crop_scale": [0.8, 1.0],
    },
    "train": {"epochs": 2, "batch_size": 32, "steps_per_epoch": 4},
    "optimizer": {"learning_rate": 0.003, "weight_decay": 0.0, "decay": "constant"},
}


def write_config(path, **sections):
    config = {k: dict(v) for k, v in TINY_CONFIG.items()}
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    return str(path)


def command_env(env=None):
    """The environment the tests run our commands in: ``env`` over this one."""
    return {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}


def run_module(module, *args, env=None, **kwargs):
    """``python -m module args`` from the repository root; returns CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=ROOT,
        env=command_env(env),
        capture_output=True,
        text=True,
        **kwargs,
    )


def folder_checksums(folder):
    """{relative path: sha256} of every file under ``folder`` (a run folder's
    lock included: a refused run must not change who it names)."""
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return found


def run_main(main, *args):
    """A console script's ``main(args)`` run in this process, as its command
    line runs it (cheaper than a new process with TensorFlow's imports), as
    a CompletedProcess like ``run_module``'s."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            main([str(arg) for arg in args])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return subprocess.CompletedProcess(args, code, stdout.getvalue(), stderr.getvalue())
