"""Serves the web demo on 127.0.0.1, cross-origin isolated (so LiteRT.js may
use threads), with a model at ``model/default.tflite``.

    python web_demo/serve.py [MODEL.tflite] [--port 8000]

``python3 run.py web`` runs this after installing the page's npm packages.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import shutil
import subprocess
import sys
import urllib.parse

ROOT = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL_URL = "/model/default.tflite"
ISOLATION_HEADERS = {  # SharedArrayBuffer, hence LiteRT.js threads, needs both
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}


# Debian's Chromium: the browser the tests, the benchmark and the screenshot drive
# (browser builds that tools download themselves fail on this project's machines).
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def launch(playwright: object, env: dict[str, str] | None = None) -> object:
    """Debian's Chromium, headless, from a Playwright instance (as root: no
    sandbox), with ``env`` as its environment where given."""
    options = {"env": env} if env is not None else {}
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], **options)


class NpmMissing(RuntimeError):
    pass


def install_packages() -> None:
    """``npm ci`` in web_demo/ unless its packages are there (the lock file pins them)."""
    if os.path.isdir(os.path.join(ROOT, "node_modules", "@litertjs", "core")):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise NpmMissing("the web demo needs npm (Node.js) to install @litertjs/core")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ROOT, check=True)


class _Handler(http.server.SimpleHTTPRequestHandler):
    model_path: str | None = None
    folders: dict[str, str] = {}  # noqa: RUF012 - replaced per server, never changed

    def end_headers(self) -> None:
        for name, value in ISOLATION_HEADERS.items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def translate_path(self, path: str) -> str:
        route = urllib.parse.unquote(path.split("?")[0])
        if route == DEFAULT_MODEL_URL and self.model_path:
            return self.model_path
        for prefix, folder in self.folders.items():
            if route.startswith(prefix):
                inside = os.path.normpath(route[len(prefix) :]).lstrip("/.")
                return os.path.join(folder, inside)
        return super().translate_path(path)

    def log_message(self, format: str, *args: object) -> None:
        pass


def server(
    model_path: str | None, port: int = 0, folders: dict[str, str] | None = None
) -> http.server.ThreadingHTTPServer:
    """A server for the page on 127.0.0.1 (``port`` 0: any free one), not yet
    serving; ``folders``: {URL prefix: folder} served beside it ("/files/")."""
    handler = type(
        "Handler",
        (_Handler,),
        {
            "model_path": os.path.abspath(model_path) if model_path else None,
            "folders": {prefix: os.path.abspath(f) for prefix, f in (folders or {}).items()},
        },
    )
    return _Server(("127.0.0.1", port), functools.partial(handler, directory=ROOT))


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: tuple) -> None:
        """A browser that went away mid-answer (a closed tab, a stopped run) is
        no error of ours; anything else is printed as http.server prints it."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _is_tflite(path: str) -> bool:
    """Whether ``path`` holds a TFLite flatbuffer (file identifier "TFL3")."""
    with open(path, "rb") as f:
        return f.read(8)[4:8] == b"TFL3"


def _refuse(problem: str) -> None:
    print(f"error: {problem}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="the .tflite file the page loads first")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    if args.model and not os.path.isfile(args.model):
        _refuse(f"model {args.model!r} does not exist")
    if args.model and not _is_tflite(args.model):
        _refuse(
            f"model {args.model!r} is not a TFLite file (the page runs .tflite files; a .keras "
            "model converts with: convert MODEL.keras --int8 --data DATASET -o MODEL.tflite)"
        )
    try:
        install_packages()
    except (NpmMissing, subprocess.CalledProcessError) as error:
        _refuse(str(error))
    httpd = server(args.model, args.port)
    print(f"Serving the web demo at http://127.0.0.1:{httpd.server_address[1]}/ (Ctrl-C stops)")
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
