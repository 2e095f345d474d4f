"""A run folder belongs to one run.

``claimed(folder, config)`` holds the folder for this process: a lock that
refuses a second concurrent run (an ``flock``, so the kernel releases it
when the process ends, crash or not), and ``config.json``, written once when
the run starts. Running again resumes only with the same config; once an epoch
is done, a changed config is refused with the keys that differ, unless the
user asks to start over (``overwrite``: this run's own files are deleted,
nothing else).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator

from keras_mixer.files import write_json
from training.config import DEFAULTS, ConfigError

CONFIG = "config.json"
LOCK = ".lock"
# What a run writes (``training.trainer``): all that ``overwrite`` deletes.
RUN_FILES = (
    CONFIG,
    "model.keras",
    "metrics.json",
    "history.json",
    "history.csv",
    "training_curves.png",
    "checkpoints",
    "logs",
)
# Sections that say how a run is executed, not what it trains: free to change on resume.
EXECUTION_SECTIONS = ("distribute",)


@contextlib.contextmanager
def claimed(folder: str, config: dict, overwrite: bool = False) -> Iterator[Claim]:
    """Holds ``folder`` for one run of ``config`` (see the module docstring);
    a ConfigError names what stands in the way. Yields a ``Claim``: nothing
    in the folder changes until the run calls ``begin()``, so a run refused
    on the way (a bad config, missing data) leaves the folder as it was."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ConfigError(f"Output {folder!r} is a file, not a run folder.")
    created = not os.path.exists(folder)
    os.makedirs(folder, exist_ok=True)
    lock_existed = os.path.exists(os.path.join(folder, LOCK))
    with open(os.path.join(folder, LOCK), "a+") as lock:
        last_holder = _lock(lock, folder)
        claim = Claim(folder, config, overwrite)
        try:
            claim.check()
            yield claim
        finally:
            if not claim.begun:
                _remove_unused(folder, created, lock if lock_existed else None, last_holder)


class Claim:
    """A held run folder; ``begin()`` starts (or resumes) the run in it."""

    def __init__(self, folder: str, config: dict, overwrite: bool):
        self.folder, self.config, self.overwrite = folder, config, overwrite
        self.begun = False
        self.started = self.trained = None

    def check(self) -> None:
        self.started = _started_config(self.folder)
        self.trained = self.started is not None and _trained(self.folder)
        if self.trained and not self.overwrite:
            _check_same(self.folder, self.started, self.config)

    def begin(self) -> None:
        if self.started is not None and self.overwrite:
            _delete_run_files(self.folder)
        if self.overwrite or not self.trained:
            write_json(self.config, os.path.join(self.folder, CONFIG))
        self.begun = True


class Unclaimed:
    """What a worker that is not the chief holds: the chief writes the folder."""

    begun = True

    def begin(self) -> None:
        pass


def _lock(lock, folder):
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        owner = lock.read().strip() or "another process"
        raise ConfigError(
            f"Run folder {folder} is in use by a run in progress ({owner}); "
            "wait for it to finish or choose another --output."
        ) from None
    try:  # a run that never began removes its lock file: this one must be the current file
        current = os.stat(os.path.join(folder, LOCK)).st_ino == os.fstat(lock.fileno()).st_ino
    except FileNotFoundError:
        current = False
    if not current:
        raise ConfigError(
            f"Run folder {folder} was just claimed by another run; "
            "try again or choose another --output."
        )
    lock.seek(0)
    last_holder = lock.read()
    _write_holder(lock, f"process {os.getpid()}")
    return last_holder


def _write_holder(lock, text):
    lock.seek(0)
    lock.truncate()
    lock.write(text)
    lock.flush()


def _remove_unused(folder, created, earlier_lock, last_holder):
    """Leaves the folder of a run that never began as it was: the lock file
    names its last holder again (``earlier_lock``, the file held) or goes,
    with the folder, where this run made them. Called while the lock is held."""
    with contextlib.suppress(OSError):
        if earlier_lock is not None:
            _write_holder(earlier_lock, last_holder)
            return
        os.remove(os.path.join(folder, LOCK))
        if created:
            os.rmdir(folder)


def _trained(folder):
    """Whether the run in ``folder`` finished an epoch (a checkpoint or a model)."""
    checkpoints = os.path.join(folder, "checkpoints")
    return os.path.exists(os.path.join(folder, "model.keras")) or (
        os.path.isdir(checkpoints) and any(name.endswith(".h5") for name in os.listdir(checkpoints))
    )


def _started_config(folder):
    """The config the run in ``folder`` was started with; None for a new run.
    Refuses a folder holding files of another kind under a run's names."""
    path = os.path.join(folder, CONFIG)
    if not os.path.exists(path):
        found = [name for name in RUN_FILES if os.path.exists(os.path.join(folder, name))]
        if found:
            raise ConfigError(
                f"Output {folder} holds {', '.join(found)} but no {CONFIG}: not "
                "a run folder of this package; choose another --output."
            )
        return None
    try:
        with open(path) as f:
            started = json.load(f)
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"{path} is not a run config ({error}); choose another --output."
        ) from None
    if not isinstance(started, dict) or not isinstance(started.get("train"), dict):
        raise ConfigError(
            f"{path} is not a run config (no 'train' section); choose another --output."
        )
    return started


def _check_same(folder, started, config):
    current = json.loads(json.dumps(config))  # tuples as lists, as the file holds them
    # A key added to DEFAULTS since the run started holds its default there.
    started = _with_defaults(started, json.loads(json.dumps(DEFAULTS)))
    changed = [
        f"{key} {_show(old)} -> {_show(new)}"
        for key, old, new in _differences(started, current)
        if key.split(".")[0] not in EXECUTION_SECTIONS
    ]
    if changed:
        raise ConfigError(
            f"Run folder {folder} was started with another config ({'; '.join(changed)}). "
            "Resume it with the config it was started with, choose another --output, or pass "
            "--overwrite to start over (deletes that run's checkpoints, logs and model)."
        )


def _with_defaults(config, defaults):
    """``config`` with the keys it lacks taken from ``defaults``, section by section."""
    merged = dict(config)
    for key, default in defaults.items():
        if key not in merged:
            merged[key] = default
        elif isinstance(default, dict) and isinstance(merged[key], dict):
            merged[key] = _with_defaults(merged[key], default)
    return merged


def _differences(old, new, prefix=""):
    """[(dotted key, old value, new value)] where two nested dicts differ."""
    found = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, _ABSENT), new.get(key, _ABSENT)
        if isinstance(a, dict) and isinstance(b, dict):
            found += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            found.append((f"{prefix}{key}", a, b))
    return found


_ABSENT = object()


def _show(value):
    return "(absent)" if value is _ABSENT else repr(value)


def _delete_run_files(folder):
    for name in RUN_FILES:
        path = os.path.join(folder, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
