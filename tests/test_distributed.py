"""Real tf.distribute runs and a killed-and-resumed run, each in fresh processes
(logical devices and cluster settings must precede TensorFlow's start)."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import keras_mixer  # noqa: F401  registers the layers model.keras files name
from tests.training_helpers import ROOT, command_env, run_module, write_config

# Trains, then reports every variable's per-replica copies and the loss curve.
TRAIN_AND_REPORT = """
import json, sys
import keras
import numpy as np
import pytest

import keras_mixer  # noqa: F401  registers the layers model.keras files name
from training import load_config, train

config = load_config(sys.argv[1])
model, history = train(config, sys.argv[2], verbose=0)
spread = 0.0
for variable in model.weights:
    copies = getattr(variable.value, "values", (variable.value,))
    values = [np.asarray(c) for c in copies]
    spread = max([spread] + [float(np.abs(v - values[0]).max()) for v in values])
np.savez(sys.argv[3] + ".npz", *[np.asarray(w) for w in model.get_weights()])
with open(sys.argv[3], "w") as f:
    json.dump({"replicas": len(copies), "replica_spread": spread,
               "losses": [row["loss"] for row in history]}, f)
"""

LEARNING = {"epochs": 4, "steps_per_epoch": 6, "batch_size": 32}


def run_script(args, env=None, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-c", TRAIN_AND_REPORT, *map(str, args)],
        cwd=ROOT,
        env=command_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def finish(process, timeout=300):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[:2500] + "\n...\n" + err[-800:]
    return out


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    config = write_config(
        tmp_path / "c.yaml", train=LEARNING, distribute={"strategy": "mirrored", "cpu_devices": 2}
    )
    finish(run_script([config, tmp_path / "run", tmp_path / "report.json"]))
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["replicas"] == 2
    assert report["replica_spread"] == 0.0  # both replicas hold the same weights
    assert report["losses"][-1] < report["losses"][0]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["replicas"] == 2


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_mirrored_strategy_with_two_processes(tmp_path):
    config = write_config(
        tmp_path / "c.yaml", train=LEARNING, distribute={"strategy": "auto"}
    )  # TF_CONFIG selects it
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(
            run_script(
                [config, tmp_path / "run", tmp_path / f"report{index}.json"],
                env={"TF_CONFIG": json.dumps(tf_config)},
            )
        )
    for process in processes:
        finish(process)
    reports = [json.loads((tmp_path / f"report{i}.json").read_text()) for i in range(2)]
    weights = [np.load(tmp_path / f"report{i}.json.npz") for i in range(2)]
    for key in weights[0].files:  # the two workers end with identical weights
        np.testing.assert_array_equal(weights[0][key], weights[1][key])
    assert reports[0]["losses"] == reports[1]["losses"]
    assert reports[0]["losses"][-1] < reports[0]["losses"][0]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # MultiWorkerMirroredStrategy is TF's CollectiveAllReduceStrategy class
    assert metrics["strategy"] == "CollectiveAllReduceStrategy" and metrics["replicas"] == 2


def test_killed_run_resumes_without_losing_epochs(tmp_path):
    # The shipped digits config (stochastic depth 0.1 included), shortened.
    shortened = ["--set", "train.epochs=4", "--set", "train.steps_per_epoch=12"]
    shortened += ["--set", "train.checkpoint_every=1"]
    config = ["--config", "digits", *shortened]
    run = tmp_path / "run"
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen(
        [sys.executable, "-m", "training", *config, "--output", str(run)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoint = run / "checkpoints" / "epoch_0002.weights.h5"
    deadline = time.time() + 240
    while not checkpoint.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert checkpoint.exists() and not (run / "model.keras").exists()  # killed mid-run

    resumed = run_module("training", *config, "--output", run)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming after epoch" in resumed.stdout

    uninterrupted = run_module("training", *config, "--output", tmp_path / "clean")
    assert uninterrupted.returncode == 0
    for folder in (run, tmp_path / "clean"):
        history = json.loads((folder / "history.json").read_text())
        assert [row["epoch"] for row in history] == [1, 2, 3, 4]
        checkpoints = sorted(os.listdir(folder / "checkpoints"))
        assert checkpoints == [f"epoch_{i:04d}.weights.h5" for i in range(1, 5)]
        assert (folder / "model.keras").exists() and (folder / "metrics.json").exists()
    # The resumed run is the uninterrupted one: the same losses, epoch by epoch, and weights.
    histories = [
        json.loads((folder / "history.json").read_text()) for folder in (run, tmp_path / "clean")
    ]
    for resumed_epoch, clean_epoch in zip(*histories):
        assert resumed_epoch["loss"] == pytest.approx(clean_epoch["loss"], rel=1e-4)
    resumed_weights, clean_weights = (
        keras.saving.load_model(folder / "model.keras").get_weights()
        for folder in (run, tmp_path / "clean")
    )
    for resumed_value, clean_value in zip(resumed_weights, clean_weights):
        np.testing.assert_allclose(resumed_value, clean_value, atol=1e-5)


def interruptible_training(config, run):
    """``python -m training`` in a process Ctrl-C reaches, as a terminal's does."""
    return subprocess.Popen(
        [sys.executable, "-m", "training", "--config", config, "--output", str(run)],
        cwd=ROOT,
        env={**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def interrupted(process):
    """Ctrl-C; the process's stderr once it ended with 130."""
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    return stderr


def test_ctrl_c_keeps_the_finished_epochs_in_one_line(tmp_path):
    config = write_config(
        # Epochs enough that a Ctrl-C sent late on a loaded machine still lands in one
        tmp_path / "c.yaml",
        train={"epochs": 30, "steps_per_epoch": 25, "batch_size": 32},
    )
    run = tmp_path / "run"
    process = interruptible_training(config, run)
    checkpoint = run / "checkpoints" / "epoch_0001.weights.h5"
    deadline = time.time() + 240
    while not checkpoint.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    stderr = interrupted(process)
    assert re.fullmatch(
        f"interrupted: every finished epoch is kept in {re.escape(str(run / 'checkpoints'))} "
        r"\(last: epoch_000\d\.weights\.h5\); run the same command again to resume",
        stderr.strip().splitlines()[-1],
    )
    assert checkpoint.exists() and not (run / "model.keras").exists()


def test_a_ctrl_c_after_the_last_epoch_says_the_model_is_written(tmp_path):
    from training.cli import _kept

    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "epoch_0003.weights.h5").write_bytes(b"")
    assert _kept(str(tmp_path)).startswith("every finished epoch is kept in")
    (tmp_path / "model.keras").write_bytes(b"")  # finishing up: curves, metrics
    assert (
        _kept(str(tmp_path))
        == f"training had finished: {tmp_path / 'model.keras'} is written whole"
    )


def test_ctrl_c_before_the_first_epoch_says_nothing_was_saved(tmp_path):
    run = tmp_path / "run"
    long_epoch = {"epochs": 2, "steps_per_epoch": 2000}  # minutes: the Ctrl-C lands inside it
    process = interruptible_training(write_config(tmp_path / "c.yaml", train=long_epoch), run)
    deadline = time.time() + 240
    # config.json is written once the run has claimed its folder, just before training.
    while not (run / "config.json").exists() and process.poll() is None:
        assert time.time() < deadline
        time.sleep(0.05)
    stderr = interrupted(process)
    assert stderr.strip().splitlines() == [
        "interrupted: no epoch had finished, so none was saved; run the same command again to start"
    ]
    assert not (run / "checkpoints").exists()


@pytest.mark.slow
def test_digits_demo_reaches_95_percent(tmp_path):
    """The README's first command, as shipped (about 1.5 minutes here)."""
    result = run_module("training", "--config", "digits", "--output", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "metrics.json").read_text())["val_accuracy"] >= 0.95
