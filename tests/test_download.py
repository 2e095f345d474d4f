"""Release downloads against real HTTP servers on 127.0.0.1: the cache only
ever holds whole, checked files."""

import hashlib
import http.server
import io
import os
import socket
import threading

import pytest

import keras_mixer
from keras_mixer import download
from keras_mixer import weights as weights_lib
from tests.weights_helpers import official_params, save_npz, tiny


class Origin(http.server.ThreadingHTTPServer):
    """Serves ``self.files`` ({url path: bytes}); under /cut/ it sends half
    of each file and hangs up. Counts requests per path."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files, self.hits = {}, {}

    def url(self, prefix=""):
        return f"http://127.0.0.1:{self.server_address[1]}{prefix}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.hits[self.path] = self.server.hits.get(self.path, 0) + 1
        cut = self.path.startswith("/cut/")
        body = self.server.files.get(self.path.removeprefix("/cut"))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if cut else body)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def origin(tmp_path, monkeypatch, rng):
    """A running origin holding a gsam Mixer-S/32 file, and an empty Keras cache."""
    server = Origin()
    buffer = io.BytesIO()
    save_npz(buffer, official_params(rng))
    server.files["/gsam/Mixer-S_32.npz"] = buffer.getvalue()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    yield server
    server.shutdown()
    server.server_close()


def cache_folder():
    return os.path.join(os.environ["KERAS_HOME"], "models", "mixer", "gsam")


def cached_files():
    folder = cache_folder()
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_a_cut_off_download_leaves_the_cache_clean_and_the_next_run_downloads(origin, monkeypatch):
    monkeypatch.setenv(weights_lib.ORIGIN_ENV, origin.url("/cut"))
    with pytest.raises(
        ValueError,
        match=r"was cut off after \d+ of \d+ bytes; nothing was "
        r"cached",
    ):
        keras_mixer.load_weights(tiny(), "gsam", variant="S/32")
    assert cached_files() == []
    monkeypatch.setenv(weights_lib.ORIGIN_ENV, origin.url())
    keras_mixer.load_weights(tiny(), "gsam", variant="S/32")
    assert cached_files() == ["Mixer-S_32.npz", "Mixer-S_32.npz.sha256"]
    assert origin.hits == {"/cut/gsam/Mixer-S_32.npz": 1, "/gsam/Mixer-S_32.npz": 1}


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
