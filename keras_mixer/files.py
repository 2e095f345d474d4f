"""Atomic file writes: a finished file or none, never a half-written one."""

from __future__ import annotations

import contextlib
import errno
import math
import os


def keras_home():
    """The Keras cache folder: ``$KERAS_HOME`` read now (Keras reads it once,
    at import), else ~/.keras; created if missing."""
    folder = os.environ.get("KERAS_HOME") or os.path.expanduser("~/.keras")
    named = f"KERAS_HOME={folder}" if os.environ.get("KERAS_HOME") else f"The Keras cache {folder}"
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ValueError(f"{named} is a file, not a folder; set KERAS_HOME to a folder.")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise ValueError(f"{named} cannot be created: {error.strerror}.") from None
    return folder


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside ``path`` (same suffix, same folder) to write
    to; renames it over ``path`` when the block succeeds, removes it when not.
    A full disk or the file size limit met while writing is named: the file,
    and the limit."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = _temporary(path, os.getpid())
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as error:
        if error.errno not in _NO_ROOM or (error.strerror or "").startswith("No room"):
            raise  # not for room, or named already (by an atomic_path inside this one)
        raise OSError(error.errno, f"No room to write {path}: {_room_left(path, error)}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


_NO_ROOM = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def _room_left(path, error):
    """Why a write to ``path`` failed for room, with the limit it met."""
    import resource

    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if error.errno == errno.EFBIG and limit != resource.RLIM_INFINITY:
        return f"this process may write files of at most {_megabytes(limit)} (ulimit -f)"
    disk = os.statvfs(os.path.dirname(os.path.abspath(path)))
    return f"{error.strerror} ({_megabytes(disk.f_bavail * disk.f_frsize)} free on its disk)"


@contextlib.contextmanager
def held(path, what: str = "Output"):
    """Holds a lock on ``path`` while the block runs, so that two processes
    never write it (and the files beside it) at once: a ValueError naming
    the holder refuses the second. The lock is an ``flock`` on a file in the
    temporary folder named by ``path``'s real path (nothing is left beside
    the user's files, even by a killed process); the kernel releases it when
    its process ends, crash or not, and the file goes when the block ends."""
    import fcntl
    import hashlib
    import tempfile

    folder = os.path.join(tempfile.gettempdir(), f"keras-mixer-locks-{os.getuid()}")
    os.makedirs(folder, exist_ok=True)
    digest = hashlib.sha256(os.path.realpath(path).encode()).hexdigest()[:32]
    lock_path = os.path.join(folder, f"{digest}.lock")
    while True:
        lock = open(lock_path, "a+")  # held until the block ends
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            lock.close()
            raise ValueError(
                f"{what} {path} is being written by another run ({holder}); wait for it to "
                "finish or choose another output."
            ) from None
        try:  # a finishing holder removes the file: hold the one at lock_path
            current = os.stat(lock_path).st_ino == os.fstat(lock.fileno()).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        lock.close()
    try:
        lock.truncate(0)
        lock.write(f"process {os.getpid()}")
        lock.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            os.remove(lock_path)
        lock.close()


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
        pid = tmp[len(head) : len(tmp) - len(tail)]
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
    import resource

    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    disk = os.statvfs(folder)
    free = disk.f_bavail * disk.f_frsize
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    needed = int(size * 1.1) + (1 << 16)  # the container format's own bytes
    if needed > free:
        raise OSError(
            errno.ENOSPC,
            f"No room to write {path}: it needs about "
            f"{_megabytes(needed)} and the disk has {_megabytes(free)} "
            "free",
        )
    if limit != resource.RLIM_INFINITY and needed > limit:
        raise OSError(
            errno.EFBIG,
            f"No room to write {path}: it needs about "
            f"{_megabytes(needed)} and this process may write files of "
            f"at most {_megabytes(limit)} (ulimit -f)",
        )


def _megabytes(size):
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size / 2**10:.0f} KB"


def check_output(path, suffix: str, ours=None, what: str = "") -> None:
    """Refuses, before any work starts, an output path that would overwrite
    a file of the user's or fail only at the end: one not ending in
    ``suffix`` (so never an input of another kind), a directory, one in a
    folder that does not exist, or an existing file that ``ours(path)`` says
    is not ``what`` (a file this output writes)."""
    if not str(path).endswith(suffix):
        raise ValueError(f"Output {str(path)!r} must end in {suffix}.")
    if os.path.isdir(path):
        raise ValueError(f"Output {str(path)!r} is a directory.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"Output folder {folder!r} does not exist.")
    import tempfile

    try:  # a read-only folder or disk, found now rather than after the work
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise ValueError(f"Output folder {folder!r} is not writable ({error.strerror}).") from None
    if ours is not None and os.path.isfile(path) and not ours(path):
        raise ValueError(f"Output {str(path)!r} exists and is not {what}; not overwriting it.")


def check_input(path, what: str = "Model file") -> None:
    """Refuses, naming it, an input path that is a folder or does not exist."""
    if os.path.isdir(path):
        raise ValueError(f"{what} {str(path)!r} is a directory; give the file in it.")
    if not os.path.isfile(path):
        raise ValueError(f"{what} {str(path)!r} does not exist.")


def check_outputs(files) -> None:
    """``check_output`` for each ``(path, suffix, ours, what)`` of ``files``:
    every file one command writes, checked before it starts."""
    for path, suffix, ours, what in files:
        check_output(path, suffix, ours, what)


def starts_with(magic: bytes, offset: int = 0):
    """``ours`` for ``check_output``: the file's bytes from ``offset`` are ``magic``."""

    def ours(path):
        with open(path, "rb") as f:
            return f.read(offset + len(magic))[offset:] == magic

    return ours


def json_object(path: str, *keys: str) -> dict | None:
    """The JSON object in ``path`` if it is one holding ``keys``; None if
    not (unreadable, not JSON, another shape)."""
    import json

    try:
        with open(path) as f:
            found = json.load(f)
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) and all(key in found for key in keys) else None


def json_with(*keys: str):
    """``ours`` for ``check_output``: the file is a JSON object holding ``keys``."""
    return lambda path: json_object(path, *keys) is not None


def plot_metadata(kind: str) -> dict:
    """The PNG text chunks of a plot this package writes (matplotlib's
    ``savefig(metadata=...)``): who wrote it and what kind it is, so that a
    PNG that is not this command's kind of plot (the user's, or a training
    run's curves beside a benchmark's JSON) is never replaced."""
    return {"Software": "keras-mixer", "Title": f"keras-mixer {kind}"}


def our_png(kind: str):
    """``ours`` for check_output: the file is a plot of ``kind`` we wrote."""
    marker = plot_metadata(kind)["Title"].encode()

    def ours(path):
        with open(path, "rb") as f:
            head = f.read(4096)
        return head.startswith(b"\x89PNG") and b"Title\x00" + marker in head  # a tEXt chunk

    return ours


NON_FINITE_KEY = "non_finite"


def write_json(obj, path):
    """``obj`` as strict JSON, atomically. NaN and infinities (which JSON
    cannot hold) are written as null, and the dict that holds one gains a
    ``non_finite`` entry saying what each was ({"loss": "nan"})."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(json_text(obj))


def json_text(obj) -> str:
    """``obj`` as ``write_json`` writes it."""
    import json

    return json.dumps(_finite(obj, "", {}), indent=2, allow_nan=False)


def _finite(value, where, found):
    """``value`` with non-finite floats as None, recorded in ``found`` by
    their path below the nearest dict."""
    if isinstance(value, dict):
        inner = {}
        clean = {key: _finite(item, str(key), inner) for key, item in value.items()}
        return {**clean, NON_FINITE_KEY: inner} if inner else clean
    if isinstance(value, (list, tuple)):
        return [_finite(item, f"{where}[{i}]", found) for i, item in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        found[where] = str(value)  # "nan", "inf", "-inf"
        return None
    return value
