"""Downloads into a cache that only ever holds whole, checked files.

A file streams into a temporary file beside its target
(``keras_mixer.files.atomic_path``), its SHA-256 computed on the way, and is
renamed into place only when it is complete and its hash is the expected
one; the temporary file goes on any failure, and one left by a killed
process is removed by the next download.
Connecting and every read time out (``KERAS_MIXER_DOWNLOAD_TIMEOUT``
seconds, default 60).

The expected hash is the published one where the caller knows it.
Otherwise the first complete download records its hash beside the file
(``<file>.sha256``, trust on first use, said in one log line) and every
later use checks the file against it. Writing a hash into that file before
the first download pins it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import urllib.request

from keras_mixer.files import atomic_path, remove_abandoned

logger = logging.getLogger("keras_mixer")

TIMEOUT_ENV = "KERAS_MIXER_DOWNLOAD_TIMEOUT"
DEFAULT_TIMEOUT = 60.0
HASH_SUFFIX = ".sha256"
CHUNK = 1 << 20


class DownloadError(ValueError):
    pass


def cached_download(url: str, path: str, sha256: str | None = None) -> str:
    """``path``, downloaded from ``url`` unless a checked copy is there.

    ``sha256``: the published hash, if known (else trust on first use)."""
    expected = sha256 or _recorded(path)
    if os.path.exists(path):
        actual = file_sha256(path)
        if expected is None:
            _record(path, actual)
            return path
        if actual == expected:
            return path
        if not sha256:
            raise DownloadError(
                f"Cached {path} has changed since it was first downloaded (sha256 {actual}, "
                f"recorded {expected}); delete it and {path}{HASH_SUFFIX} to download it again."
            )
        logger.warning("Cached %s does not match its published sha256; downloading it again.", path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    actual = _fetch(url, path, expected)
    if expected is None:
        _record(path, actual)
    return path


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url, path, expected):
    """Streams ``url`` into ``path`` atomically; returns its sha256."""
    remove_abandoned(path)
    timeout = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT))
    digest, received = hashlib.sha256(), 0
    try:
        with (
            atomic_path(path) as part,
            open(part, "wb") as f,
            urllib.request.urlopen(url, timeout=timeout) as response,
        ):
            total = int(response.headers.get("Content-Length") or 0)
            progress = _Progress(url, total)
            for chunk in iter(lambda: response.read(CHUNK), b""):
                f.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                progress.update(received)
            if total and received != total:
                raise DownloadError(
                    f"Download of {url} was cut off after {received} of "
                    f"{total} bytes; nothing was cached. Try again."
                )
            if expected and digest.hexdigest() != expected:
                raise DownloadError(
                    f"{url} has sha256 {digest.hexdigest()}, expected "
                    f"{expected}: refused, nothing was cached."
                )
        return digest.hexdigest()
    except OSError as error:  # URLError included; TimeoutError on connect or read
        reason = getattr(error, "reason", error)
        if isinstance(reason, TimeoutError):
            raise DownloadError(
                f"No answer from {url} within {timeout:g} s (set {TIMEOUT_ENV} "
                "to wait longer); nothing was cached."
            ) from None
        raise DownloadError(f"Could not download {url}: {reason}; nothing was cached.") from None


def _recorded(path):
    try:
        with open(path + HASH_SUFFIX) as f:
            return f.read().split()[0].lower()
    except (FileNotFoundError, IndexError):
        return None


def _record(path, sha256):
    with atomic_path(path + HASH_SUFFIX) as tmp, open(tmp, "w") as f:
        f.write(f"{sha256}  {os.path.basename(path)}\n")
    logger.warning(
        "Trust on first use: recorded sha256 %s of %s (no published hash to check it "
        "against); later uses check the file against it.",
        sha256,
        path,
    )


class _Progress:
    """Percent done on stderr, every 10%, for files of 10 MB or more."""

    def __init__(self, url, total):
        self.total, self.shown = total, 0
        if total >= 10 << 20:
            print(f"Downloading {url} ({total / 2**20:.0f} MB)", file=sys.stderr, flush=True)

    def update(self, received):
        if self.total < 10 << 20:
            return
        tenths = received * 10 // self.total
        if tenths > self.shown:
            self.shown = tenths
            end = "\n" if tenths >= 10 else ""
            print(f" {tenths * 10}%", end=end, file=sys.stderr, flush=True)
