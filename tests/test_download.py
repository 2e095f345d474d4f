"""Release downloads against real HTTP servers on 127.0.0.1: the cache only
ever holds whole, checked files."""

import hashlib
import http.server
import io
import os
import re
import socket
import threading
import time

import numpy as np
import pytest

import keras_mixer
from keras_mixer import download
from keras_mixer import weights as weights_lib
from tests.training_helpers import folder_checksums
from tests.weights_helpers import official_params, save_npz, serve_tiny_as, tiny


class Origin(http.server.ThreadingHTTPServer):
    """Serves ``self.files`` ({url path: bytes}) as a good server would, or
    as a bad one under a prefix: /cut/ sends half of each file after
    announcing its length, /unannounced-cut/ half without a length, /portal/
    an HTML page with 200, /trickle/ one byte every 0.3 s. Counts requests
    per path."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files, self.hits = {}, {}

    def url(self, prefix=""):
        return f"http://127.0.0.1:{self.server_address[1]}{prefix}"


PORTAL_PAGE = b"<!DOCTYPE html><html><body>Please log in to the guest Wi-Fi.</body></html>"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.hits[self.path] = self.server.hits.get(self.path, 0) + 1
        mode, _, rest = self.path.lstrip("/").partition("/")
        body = self.server.files.get("/" + rest if mode in BAD_SERVERS else self.path)
        if body is None:
            self.send_error(404)
            return
        BAD_SERVERS.get(mode, _good)(self, body)
        self.close_connection = True

    def log_message(self, *args):
        pass


def _good(handler, body, announce=True, content_type="application/octet-stream"):
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    if announce:
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _cut(handler, body):
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body[: len(body) // 2])


def _trickle(handler, body, announced=None):
    handler.send_response(200)
    if announced:
        handler.send_header("Content-Length", str(announced))
    handler.end_headers()
    for byte in body[:50]:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(0.3)


BAD_SERVERS = {
    "cut": _cut,
    "unannounced-cut": lambda handler, body: _good(handler, body[: len(body) // 2], False),
    "portal": lambda handler, body: _good(handler, PORTAL_PAGE, content_type="text/html"),
    "trickle": _trickle,
    # A slow mirror that announces the true size of an S/32 file (76 MB).
    "announced-trickle": lambda handler, body: _trickle(handler, body, 76_000_000),
}


@pytest.fixture
def origin(tmp_path, monkeypatch, rng):
    """A running origin holding a gsam Mixer-S/32 file (tiny sizes: the
    release is made to match them), and an empty Keras cache."""
    server = Origin()
    server.files["/gsam/Mixer-S_32.npz"] = _npz_bytes(official_params(rng))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    serve_tiny_as(monkeypatch, "gsam", "S/32")
    yield server
    server.shutdown()
    server.server_close()


def cache_folder():
    return os.path.join(os.environ["KERAS_HOME"], "models", "mixer", "gsam")


def cached_files():
    folder = cache_folder()
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


BAD_DOWNLOADS = {
    "cut": r"was cut off after \d+ of \d+ bytes; nothing was cached",
    "unannounced-cut": r"is not a whole \.npz checkpoint of gsam Mixer-S/32 \(.*truncated.*\): "
    r"refused, nothing was cached",
    "portal": r"sent an HTML page \(text/html\), not a \.npz checkpoint of gsam Mixer-S/32 "
    r"\(a captive portal, login or error page\?\): refused, nothing was cached",
}


@pytest.mark.parametrize("server", BAD_DOWNLOADS)
def test_a_bad_download_leaves_the_cache_as_it_was_and_a_good_one_follows(
    server, origin, monkeypatch
):
    other = os.path.join(cache_folder(), "Mixer-B_16.npz")  # already in the user's cache
    os.makedirs(cache_folder())
    save_npz(other, {"kept": np.arange(3)})
    before = folder_checksums(os.environ["KERAS_HOME"])
    monkeypatch.setenv(weights_lib.ORIGIN_ENV, origin.url(f"/{server}"))
    with pytest.raises(ValueError, match=BAD_DOWNLOADS[server]):
        keras_mixer.load_weights(tiny(), "gsam", variant="S/32")
    assert folder_checksums(os.environ["KERAS_HOME"]) == before
    monkeypatch.setenv(weights_lib.ORIGIN_ENV, origin.url())
    keras_mixer.load_weights(tiny(), "gsam", variant="S/32")
    assert cached_files() == ["Mixer-B_16.npz", "Mixer-S_32.npz", "Mixer-S_32.npz.sha256"]
    assert origin.hits == {f"/{server}/gsam/Mixer-S_32.npz": 1, "/gsam/Mixer-S_32.npz": 1}


@pytest.mark.parametrize("server", ["trickle", "announced-trickle"])
@pytest.mark.parametrize(
    ("variable", "message"),
    [
        (download.TIMEOUT_ENV, r"too slow: \d+ bytes in \d+ s \(under 20 kB/s after the first 1 s"),
        (download.DEADLINE_ENV, rf"too slow: \d+ bytes in \d+ s \({download.DEADLINE_ENV}=1\)"),
    ],
)
def test_a_trickling_download_stops_at_its_deadline(variable, message, server, origin, monkeypatch):
    monkeypatch.setenv(weights_lib.ORIGIN_ENV, origin.url(f"/{server}"))
    monkeypatch.setenv(variable, "1")  # each byte comes within the read timeout (60 s or 1 s)
    started = time.monotonic()
    with pytest.raises(ValueError, match=message):
        keras_mixer.load_weights(tiny(), "gsam", variant="S/32")
    assert time.monotonic() - started < 5  # the trickle would take 15 s; a hang: pytest's timeout
    assert cached_files() == []


def test_a_broken_file_an_older_version_cached_is_replaced_once_saying_so(
    origin, monkeypatch, caplog
):
    monkeypatch.setenv(weights_lib.ORIGIN_ENV, origin.url())
    cached = os.path.join(cache_folder(), "Mixer-S_32.npz")
    os.makedirs(cache_folder())
    with open(cached, "wb") as f:  # what a cut-off download left, trusted on first use
        f.write(origin.files["/gsam/Mixer-S_32.npz"][:3000])
    with open(cached + ".sha256", "w") as f:
        f.write(hashlib.sha256(origin.files["/gsam/Mixer-S_32.npz"][:3000]).hexdigest() + "\n")
    keras_mixer.load_weights(tiny(), "gsam", variant="S/32")
    assert f"Cached {cached} is not a .npz checkpoint of gsam Mixer-S/32 (" in caplog.text
    assert "removed it and its recorded hash; downloading again" in caplog.text
    with open(cached, "rb") as f:
        assert f.read() == origin.files["/gsam/Mixer-S_32.npz"]
    assert origin.hits == {"/gsam/Mixer-S_32.npz": 1}


def test_a_wrong_file_put_in_the_cache_by_hand_is_named_not_removed(origin, monkeypatch, rng):
    monkeypatch.setenv(weights_lib.ORIGIN_ENV, origin.url())
    cached = os.path.join(cache_folder(), "Mixer-S_32.npz")
    os.makedirs(cache_folder())
    save_npz(cached, official_params(rng, classes=7))
    before = folder_checksums(os.environ["KERAS_HOME"])
    with pytest.raises(
        ValueError,
        match=r"Cached .*Mixer-S_32\.npz is not a \.npz checkpoint of gsam Mixer-S/32 "
        r"\(head/kernel has shape \(16, 7\), expected \(16, 5\)\); "
        r"remove it \(rm .*Mixer-S_32\.npz\) to download it again\.",
    ):
        keras_mixer.load_weights(tiny(), "gsam", variant="S/32")
    assert folder_checksums(os.environ["KERAS_HOME"]) == before
    assert origin.hits == {}


def test_environment_mistakes_are_named(origin, monkeypatch, tmp_path):
    monkeypatch.setenv(weights_lib.ORIGIN_ENV, origin.url())
    monkeypatch.setenv(download.TIMEOUT_ENV, "abc")
    with pytest.raises(
        ValueError, match=r"KERAS_MIXER_DOWNLOAD_TIMEOUT='abc' is not a positive number of seconds"
    ):
        keras_mixer.load_weights(tiny(), "gsam", variant="S/32")
    monkeypatch.delenv(download.TIMEOUT_ENV)
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "a_file"))
    with pytest.raises(ValueError, match=r"KERAS_HOME=.*a_file is a file, not a folder"):
        keras_mixer.load_weights(tiny(), "gsam", variant="S/32")
    assert origin.hits == {}


def test_a_download_error_starts_its_own_line(origin, monkeypatch, capsys):
    """Large files show progress on stderr; an error must not be glued to it."""
    big = {"stem/kernel": np.zeros((6 << 20) // 4 * 2, np.float32)}  # 12 MB
    origin.files["/gsam/Mixer-S_32.npz"] = _npz_bytes(big)
    monkeypatch.setenv(weights_lib.ORIGIN_ENV, origin.url("/cut"))
    with pytest.raises(ValueError, match="was cut off"):
        keras_mixer.load_weights(tiny(), "gsam", variant="S/32")
    progress = capsys.readouterr().err
    assert re.fullmatch(r"Downloading http://\S+ \(12 MB\)( \d+%)+\n", progress), progress


def _npz_bytes(arrays):
    buffer = io.BytesIO()
    save_npz(buffer, arrays)
    return buffer.getvalue()


def test_a_server_that_never_answers_times_out_with_a_clear_error(tmp_path, monkeypatch):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never answers
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv(weights_lib.ORIGIN_ENV, f"http://127.0.0.1:{silent.getsockname()[1]}")
    monkeypatch.setenv(download.TIMEOUT_ENV, "1")
    with pytest.raises(
        ValueError,
        match=r"No answer from http://127\.0\.0\.1:\d+/gsam/"
        r"Mixer-S_32\.npz within 1 s",
    ):
        keras_mixer.load_weights(tiny(), "gsam", variant="S/32")  # a hang: pytest's timeout
    assert cached_files() == []
    silent.close()


def test_a_file_with_the_wrong_hash_is_refused_and_not_cached(origin, monkeypatch):
    monkeypatch.setenv(weights_lib.ORIGIN_ENV, origin.url())
    monkeypatch.setitem(weights_lib.RELEASES["gsam"].sha256, "S/32", "0" * 64)
    with pytest.raises(ValueError, match=r"has sha256 [0-9a-f]{64}, expected 0{64}: refused"):
        keras_mixer.load_weights(tiny(), "gsam", variant="S/32")
    assert cached_files() == []
    published = hashlib.sha256(origin.files["/gsam/Mixer-S_32.npz"]).hexdigest()
    monkeypatch.setitem(weights_lib.RELEASES["gsam"].sha256, "S/32", published)
    keras_mixer.load_weights(tiny(), "gsam", variant="S/32")
    assert cached_files() == ["Mixer-S_32.npz"]  # a published hash needs no record


def test_trust_on_first_use_then_every_load_checks(origin, monkeypatch, caplog):
    monkeypatch.setenv(weights_lib.ORIGIN_ENV, origin.url())
    keras_mixer.load_weights(tiny(), "gsam", variant="S/32")
    expected = hashlib.sha256(origin.files["/gsam/Mixer-S_32.npz"]).hexdigest()
    assert f"Trust on first use: recorded sha256 {expected}" in caplog.text
    cached = os.path.join(cache_folder(), "Mixer-S_32.npz")
    with open(cached + ".sha256") as f:
        assert f.read().split() == [expected, "Mixer-S_32.npz"]
    with open(cached, "r+b") as f:  # the cached file changes behind our back
        f.seek(200)
        f.write(b"\x00\x01")
    with pytest.raises(ValueError, match="has changed since it was first downloaded"):
        keras_mixer.load_weights(tiny(), "gsam", variant="S/32")
    assert origin.hits == {"/gsam/Mixer-S_32.npz": 1}


def test_a_hash_written_before_the_first_download_pins_it(origin, monkeypatch):
    monkeypatch.setenv(weights_lib.ORIGIN_ENV, origin.url())
    os.makedirs(cache_folder())
    with open(os.path.join(cache_folder(), "Mixer-S_32.npz.sha256"), "w") as f:
        f.write("ab" * 32 + "\n")
    with pytest.raises(ValueError, match=r"expected (ab){32}: refused"):
        keras_mixer.load_weights(tiny(), "gsam", variant="S/32")
    assert cached_files() == ["Mixer-S_32.npz.sha256"]


def test_parts_left_by_killed_downloads_are_removed(origin, monkeypatch):
    monkeypatch.setenv(weights_lib.ORIGIN_ENV, origin.url())
    os.makedirs(cache_folder())
    dead = os.path.join(cache_folder(), ".Mixer-S_32.tmp-999999999.npz")
    with open(dead, "wb") as f:  # what a download killed half-way leaves
        f.write(b"half a file")
    keras_mixer.load_weights(tiny(), "gsam", variant="S/32")
    assert cached_files() == ["Mixer-S_32.npz", "Mixer-S_32.npz.sha256"]
