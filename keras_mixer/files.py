"""Atomic file writes: a finished file or none, never a half-written one."""

import contextlib
import os


def keras_home():
    """The Keras cache folder: ``$KERAS_HOME`` read now (Keras reads it once,
    at import), else ~/.keras; created if missing."""
    folder = os.environ.get("KERAS_HOME") or os.path.expanduser("~/.keras")
    os.makedirs(folder, exist_ok=True)
    return folder


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside ``path`` (same suffix, same folder) to write
    to; renames it over ``path`` when the block succeeds, removes it when not."""
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    stem, dot, suffix = name.partition(".")
    tmp = os.path.join(folder, f".{stem}.tmp-{os.getpid()}{dot}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(obj, path):
    import json

    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
