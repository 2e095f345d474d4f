"""Atomic file writes: a finished file or none, never a half-written one."""

from __future__ import annotations

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
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = _temporary(path, os.getpid())
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _temporary(path, pid):
    folder, name = os.path.split(os.path.abspath(path))
    stem, dot, suffix = name.partition(".")
    return os.path.join(folder, f".{stem}.tmp-{pid}{dot}{suffix}")


def remove_abandoned(path):
    """Removes the temporary files of ``atomic_path(path)`` left by processes
    that are gone (killed mid-write)."""
    import glob

    head, _, tail = _temporary(path, "PID").partition("PID")
    for tmp in glob.glob(glob.escape(head) + "*" + glob.escape(tail)):
        pid = tmp[len(head):len(tmp) - len(tail)]
        if pid.isdigit() and not _running(int(pid)):
            os.remove(tmp)


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ensure_room(path, size):
    """Raises OSError naming ``path`` unless a file of about ``size`` bytes
    fits there: free disk space and this process's file size limit
    (``ulimit -f``). HDF5 crashes the process when a write fails half-way, so
    files it writes are checked before they are begun."""
    import errno
    import resource

    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    disk = os.statvfs(folder)
    free = disk.f_bavail * disk.f_frsize
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    needed = int(size * 1.1) + (1 << 16)  # the container format's own bytes
    if needed > free:
        raise OSError(errno.ENOSPC, f"No room to write {path}: it needs about "
                                    f"{_megabytes(needed)} and the disk has {_megabytes(free)} "
                                    "free")
    if limit != resource.RLIM_INFINITY and needed > limit:
        raise OSError(errno.EFBIG, f"No room to write {path}: it needs about "
                                   f"{_megabytes(needed)} and this process may write files of "
                                   f"at most {_megabytes(limit)} (ulimit -f)")


def _megabytes(size):
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size / 2**10:.0f} KB"


def write_json(obj, path):
    import json

    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
