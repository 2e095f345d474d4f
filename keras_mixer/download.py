"""Downloads into a cache that only ever holds whole, checked files.

A file streams into a temporary file beside its target
(``keras_mixer.files.atomic_path``), its SHA-256 computed on the way, and is
renamed into place only when it is complete and right: its length the one
the server announced, its first bytes and its contents those of the expected
kind of file (``FileKind``: an HTML page from a captive portal, or a body cut
off by a server that announced no length, is refused), its hash the expected
one. The temporary file goes on any failure, and one left by a killed
process is removed by the next download.

Connecting and every read time out (``KERAS_MIXER_DOWNLOAD_TIMEOUT``
seconds, default 60), and so does the whole download: after its first
``timeout`` seconds it must average ``MIN_RATE`` bytes a second, or finish
within ``KERAS_MIXER_DOWNLOAD_DEADLINE`` seconds where that is set.

The expected hash is the published one where the caller knows it.
Otherwise the first complete, checked download records its hash beside the
file (``<file>.sha256``, trust on first use, said in one log line) and every
later use checks the file against it. Writing a hash into that file before
the first download pins it. A cached download that is not of its kind (one
an older version recorded) is removed, with its record, and downloaded
again, saying so; a file put in the cache by hand is named, never removed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shlex
import sys
import time
import urllib.request
from collections.abc import Callable

from keras_mixer.files import atomic_path, remove_abandoned

logger = logging.getLogger("keras_mixer")

TIMEOUT_ENV = "KERAS_MIXER_DOWNLOAD_TIMEOUT"
DEADLINE_ENV = "KERAS_MIXER_DOWNLOAD_DEADLINE"
DEFAULT_TIMEOUT = 60.0
MIN_RATE = 20_000  # bytes/s averaged over a download, after its first `timeout` seconds
HASH_SUFFIX = ".sha256"
CHUNK = 1 << 20


class DownloadError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class FileKind:
    """What a downloaded file must be.

    Attributes:
        name: for messages (".npz checkpoint of Mixer-B/16").
        magic: the bytes every such file starts with.
        check: raises ValueError, saying why, when the file at a path is not one.
    """

    name: str
    magic: bytes
    check: Callable[[str], None]


def cached_download(
    url: str, path: str, sha256: str | None = None, kind: FileKind | None = None
) -> str:
    """``path``, downloaded from ``url`` unless a checked copy is there.

    ``sha256``: the published hash, if known (else trust on first use);
    ``kind``: what the file must be (else any bytes are accepted)."""
    expected = sha256 or _recorded(path)
    if os.path.exists(path):
        actual = file_sha256(path)
        if sha256 and actual == sha256:
            return path
        if expected and actual != expected:
            if not sha256:
                raise DownloadError(
                    f"Cached {path} has changed since it was first downloaded (sha256 "
                    f"{actual}, recorded {expected}); delete it and {path}{HASH_SUFFIX} "
                    "to download it again."
                )
            logger.warning(
                "Cached %s does not match its published sha256; fetching it again.", path
            )
        elif (problem := _not_of_kind(path, kind)) is None:
            if expected is None:
                _record(path, actual)
            return path
        elif expected is None:  # put there by hand: the user's to remove
            raise DownloadError(
                f"Cached {path} is not a {kind.name} ({problem}); remove it "
                f"(rm {shlex.quote(path)}) to download it again."
            )
        else:  # our own download, recorded by an older version
            logger.warning(
                "Cached %s is not a %s (%s): removed it and its recorded hash; downloading again.",
                path,
                kind.name,
                problem,
            )
            expected = _forget(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    actual = _fetch(url, path, expected, kind)
    if expected is None:
        _record(path, actual)
    return path


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _not_of_kind(path, kind):
    """Why the file at ``path`` is not of ``kind``, or None when it is."""
    if kind is None:
        return None
    try:
        kind.check(path)
    except ValueError as error:
        return str(error)
    return None


def _forget(path):
    for stale in (path, path + HASH_SUFFIX):
        if os.path.exists(stale):
            os.remove(stale)
    return None


def _fetch(url, path, expected, kind):
    """Streams ``url`` into ``path`` atomically; returns its sha256."""
    remove_abandoned(path)
    limits = _Limits.from_environment()
    try:
        with (
            atomic_path(path) as part,
            open(part, "wb") as f,
            urllib.request.urlopen(url, timeout=limits.timeout) as response,
        ):
            digest = _stream(url, response, f, limits, kind)
            if kind is not None:
                f.close()
                try:
                    kind.check(part)
                except ValueError as error:
                    raise DownloadError(
                        f"{url} is not a whole {kind.name} ({error}): refused, nothing was cached."
                    ) from None
            if expected and digest != expected:
                raise DownloadError(
                    f"{url} has sha256 {digest}, expected {expected}: refused, nothing was cached."
                )
        return digest
    except OSError as error:  # URLError included; TimeoutError on connect or read
        reason = getattr(error, "reason", error)
        if isinstance(reason, TimeoutError):
            raise DownloadError(
                f"No answer from {url} within {limits.timeout:g} s (set {TIMEOUT_ENV} "
                "to wait longer); nothing was cached."
            ) from None
        raise DownloadError(f"Could not download {url}: {reason}; nothing was cached.") from None


def _stream(url, response, file, limits, kind):
    """Copies the body into ``file``, checking its first bytes, its pace and
    its length as it comes; returns its sha256."""
    total = int(response.headers.get("Content-Length") or 0)
    digest, received, started = hashlib.sha256(), 0, time.monotonic()
    with _Progress(url, total) as progress:
        while chunk := response.read1(CHUNK):
            if received == 0:
                _check_first_bytes(url, chunk, response.headers.get_content_type(), kind)
            file.write(chunk)
            digest.update(chunk)
            received += len(chunk)
            progress.update(received)
            limits.check_pace(url, received, time.monotonic() - started)
    if total and received != total:
        raise DownloadError(
            f"Download of {url} was cut off after {received} of {total} bytes; "
            "nothing was cached. Try again."
        )
    return digest.hexdigest()


def _check_first_bytes(url, chunk, content_type, kind):
    if kind is None or chunk.startswith(kind.magic[: len(chunk)]):
        return
    looks_like_html = content_type == "text/html" or chunk.lstrip()[:1] == b"<"
    sent = f"an HTML page ({content_type})" if looks_like_html else f"a {content_type} body"
    raise DownloadError(
        f"{url} sent {sent}, not a {kind.name} (a captive portal, login or error page?): "
        "refused, nothing was cached."
    )


@dataclasses.dataclass(frozen=True)
class _Limits:
    timeout: float
    deadline: float | None

    @classmethod
    def from_environment(cls):
        return cls(
            _seconds(TIMEOUT_ENV, DEFAULT_TIMEOUT),
            _seconds(DEADLINE_ENV, None),
        )

    def check_pace(self, url, received, elapsed):
        if self.deadline is not None:
            allowed, rule = self.deadline, f"{DEADLINE_ENV}={self.deadline:g}"
        else:
            # What came so far, at MIN_RATE, plus the timeout: the length a
            # server announces says nothing of the pace it keeps.
            allowed = self.timeout + received / MIN_RATE
            rule = (
                f"under {MIN_RATE // 1000} kB/s after the first {self.timeout:g} s; set "
                f"{DEADLINE_ENV} to the seconds a download may take"
            )
        if elapsed > allowed:
            raise DownloadError(
                f"Download of {url} too slow: {received} bytes in {elapsed:.0f} s ({rule}); "
                "nothing was cached."
            )


def _seconds(variable, default):
    text = os.environ.get(variable)
    if text is None or text == "":
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise DownloadError(f"{variable}={text!r} is not a positive number of seconds.")
    return seconds


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
    """Percent done on stderr, every 10%, for files of 10 MB or more; the
    line is ended however the download ends, so an error starts its own."""

    def __init__(self, url, total):
        self.total, self.shown = total, 0
        if total >= 10 << 20:
            size = f"{total / 2**20:.0f} MB"
            print(f"Downloading {url} ({size})", end="", file=sys.stderr, flush=True)

    def update(self, received):
        if self.total < 10 << 20:
            return
        tenths = received * 10 // self.total
        if tenths > self.shown:
            self.shown = tenths
            print(f" {tenths * 10}%", end="", file=sys.stderr, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.total >= 10 << 20:
            print(file=sys.stderr, flush=True)
