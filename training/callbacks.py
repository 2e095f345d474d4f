"""Callbacks that make a run resumable and readable: epoch checkpoints written
atomically, and the metrics history as JSON, CSV and a PNG of the curves."""

from __future__ import annotations

import csv
import glob
import json
import math
import os
import re
import tempfile
import time

import keras
import numpy as np

from keras_mixer.files import atomic_path, ensure_room, plot_metadata, write_json

CHECKPOINT_PATTERN = "epoch_{:04d}.weights.h5"


class EpochCheckpoints(keras.callbacks.Callback):
    """After each epoch, ``folder/epoch_NNNN.weights.h5`` (model and optimizer
    state), renamed into place only once complete. Keeps every ``every``-th
    epoch and the latest; ``restore`` resumes from the latest.

    With several workers every one must save (saving reads distributed
    variables collectively); the non-chief ones pass ``scratch=True`` and
    save into a temporary folder they then delete."""

    def __init__(self, folder: str, every: int = 1, scratch: bool = False):
        super().__init__()
        self.folder, self.every, self.scratch = folder, max(int(every), 1), scratch

    def latest(self) -> tuple[int, str | None]:
        """(completed epochs, path) of the newest checkpoint, or (0, None)."""
        found = []
        for path in glob.glob(os.path.join(self.folder, "epoch_*.weights.h5")):
            match = re.fullmatch(r"epoch_(\d+)\.weights\.h5", os.path.basename(path))
            if match:
                found.append((int(match.group(1)), path))
        return max(found) if found else (0, None)

    def restore(self, model: keras.Model) -> int:
        """Loads the newest checkpoint into ``model``; returns its epoch count."""
        epoch, path = self.latest()
        if path:
            model.optimizer.build(model.trainable_variables)
            model.load_weights(path)
        return epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        done = epoch + 1
        if self.scratch:
            with tempfile.TemporaryDirectory() as scratch:
                self.model.save_weights(os.path.join(scratch, "scratch.weights.h5"))
            return
        path = os.path.join(self.folder, CHECKPOINT_PATTERN.format(done))
        ensure_room(path, state_bytes(self.model))
        with atomic_path(path) as tmp:
            self.model.save_weights(tmp)
        previous = done - 1
        if previous > 0 and previous % self.every:
            stale = os.path.join(self.folder, CHECKPOINT_PATTERN.format(previous))
            if os.path.exists(stale):
                os.remove(stale)


class ReseedEachEpoch(keras.callbacks.Callback):
    """At the start of each epoch, every random seed the model draws from in
    training (stochastic depth, dropout: their ``SeedGenerator`` states) is
    set from (``seed``, epoch, its place), so a run resumed at an epoch draws
    what an uninterrupted run draws there (checkpoints hold weights and the
    optimizer, not these states)."""

    def __init__(self, seed: int):
        super().__init__()
        self.seed = int(seed)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        states = [v for v in self.model.variables if v.path.endswith("seed_generator_state")]
        for place, state in enumerate(states):
            drawn = np.random.default_rng([self.seed, epoch, place]).integers(1, 2**31 - 1)
            state.assign(np.array([drawn, 0], dtype=state.dtype))


class NonFiniteLoss(ValueError):
    """Training diverged: a loss or metric became NaN or infinite."""


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops the run when the loss (after any batch) or any metric (after an
    epoch) is NaN or infinite, raising ``NonFiniteLoss`` with the epoch and
    step. Listed first, it stops the epoch before the checkpoint and the
    history callbacks see it: the last finite epoch is the run's latest."""

    def __init__(self, checkpoints: EpochCheckpoints):
        super().__init__()
        self.checkpoints, self.epoch = checkpoints, 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            self._stop(f"the loss became {loss} at epoch {self.epoch}, step {batch + 1}")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        bad = {k: float(v) for k, v in (logs or {}).items() if not math.isfinite(float(v))}
        if bad:
            found = ", ".join(f"{k} {v}" for k, v in bad.items())
            self._stop(f"{found} after epoch {epoch + 1}")

    def _stop(self, what: str) -> None:
        epoch, path = self.checkpoints.latest()
        kept = (
            f"epoch {epoch}, the last finished, stays in {path}"
            if path
            else ("no epoch had finished")
        )
        raise NonFiniteLoss(
            f"Training diverged: {what}. Stopped before saving it: {kept} and no model.keras "
            "was written. Lower optimizer.learning_rate or set optimizer.global_clipnorm, then "
            "run with --overwrite."
        )


def state_bytes(model: keras.Model) -> int:
    """Bytes of a model's weights and optimizer state: what its checkpoint holds."""
    variables = list(model.weights)
    if model.optimizer is not None:
        variables += list(model.optimizer.variables)
    return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables)


class RunLog(keras.callbacks.Callback):
    """Per-epoch metrics in ``history.json`` and ``history.csv``, and
    ``training_curves.png``; on resume, continues the history of the epochs
    that were checkpointed."""

    def __init__(self, output_dir: str, write: bool = True):
        super().__init__()
        self.output_dir, self.write = output_dir, write
        self.history = []
        self._started = None

    @property
    def json_path(self) -> str:
        return os.path.join(self.output_dir, "history.json")

    def resume(self, completed_epochs: int) -> None:
        if os.path.exists(self.json_path):
            with open(self.json_path) as f:
                self.history = [row for row in json.load(f) if row["epoch"] <= completed_epochs]

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        row = {
            "epoch": epoch + 1,
            **{k: float(v) for k, v in (logs or {}).items()},
            "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
            "seconds": time.perf_counter() - self._started,
        }
        self.history.append(row)
        if self.write:
            self.save()

    def save(self) -> None:
        write_json(self.history, self.json_path)
        keys = list(dict.fromkeys(k for row in self.history for k in row))
        with (
            atomic_path(os.path.join(self.output_dir, "history.csv")) as tmp,
            open(tmp, "w", newline="") as f,
        ):
            writer = csv.DictWriter(f, keys)
            writer.writeheader()
            writer.writerows(self.history)
        plot_history(self.history, os.path.join(self.output_dir, "training_curves.png"))


def plot_history(history: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax in (
        ("loss", loss_ax),
        ("val_loss", loss_ax),
        ("accuracy", acc_ax),
        ("val_accuracy", acc_ax),
    ):
        if all(key in row for row in history):
            ax.plot(epochs, [row[key] for row in history], marker=".", label=key)
    loss_ax.set_title("loss")
    acc_ax.set_title("top-1 accuracy")
    for ax in (loss_ax, acc_ax):
        ax.set_xlabel("epoch")
        if ax.lines:
            ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, metadata=plot_metadata("training curves"))
    plt.close(fig)
