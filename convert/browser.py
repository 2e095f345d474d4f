"""The page as a runtime: ``.tflite`` files run by LiteRT.js in headless
Chromium (Debian's, driven by Playwright as the system browser), in the web
demo's own page (web_demo/, served cross-origin isolated by
web_demo/serve.py so LiteRT.js may use threads).

Each file is loaded by the page as a user's file is (``useModel``), fed its
evaluation images as the exact tensors its x86 LiteRT run was fed, and timed
by the page's own benchmark (web_demo/src/benchmark.js) at each thread count
the page can use. ``convert compare --runtime litert,browser`` uses it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import logging
import os
import re
import subprocess
import tempfile
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from convert.compare import CompareOptions

WEB_DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "web_demo")
PLAYWRIGHT = "pip install playwright (keras-mixer[dev] has it; it drives the system Chromium)"
CHROMIUM = "apt-get install chromium (Debian's; browsers that tools download fail here)"

# The page's own functions (web_demo/src/app.js: window.kerasMixerDemo), driven
# as a user drives them: a model loaded as a user's file is, raw outputs on
# tensors, the page's benchmark.
LOAD_JS = """async (url) => {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    await window.kerasMixerDemo.useModel(new Uint8Array(await response.arrayBuffer()), url);
}"""
RUN_JS = """async ([url, count]) => {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    const classifier = window.kerasMixerDemo.classifier();
    const Type = classifier.info.input.type === "float32" ? Float32Array : Uint8Array;
    const inputs = new Type(await response.arrayBuffer());
    const size = inputs.length / count;
    const outputs = [];
    for (let i = 0; i < count; i++) {
        outputs.push(Array.from(await classifier.runRaw(inputs.slice(i * size, (i + 1) * size))));
    }
    return outputs;
}"""
# More than one thread needs the page cross-origin isolated, and no more than the cores.
BENCHMARK_JS = """async ([runs, threads]) => {
    const cores = self.crossOriginIsolated ? navigator.hardwareConcurrency || 1 : 1;
    const usable = threads.filter((n) => n <= cores);
    return {rows: await window.kerasMixerDemo.benchmark({runs, threads: usable}), cores};
}"""
# Chromium's profile sockets live under the temporary folder; longer folders fail.
LONGEST_TMPDIR = 62
CHUNK_IMAGES = 256  # tensors per fetch: a whole split at 224 would not fit one buffer


class PageError(RuntimeError):
    """The page could not run here: one line saying why."""


class BrowserMissing(PageError):
    """What the page runtime needs and this machine lacks, with the install line."""


@functools.cache
def serve_module() -> ModuleType:
    """web_demo/serve.py, the page's server (not a package: the wheel has no page),
    loaded once."""
    spec = importlib.util.spec_from_file_location(
        "web_demo_serve", os.path.join(WEB_DEMO, "serve.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_available() -> None:
    """Raises ``BrowserMissing`` (one line, what to install) unless the page can run here."""
    if not os.path.isfile(os.path.join(WEB_DEMO, "index.html")):
        raise BrowserMissing(
            f"the browser runtime runs the web demo's page, and {WEB_DEMO} is not there: "
            "run it from a keras-mixer checkout (git clone; the wheel does not carry the page)"
        )
    if importlib.util.find_spec("playwright") is None:
        raise BrowserMissing(f"the browser runtime needs Playwright: {PLAYWRIGHT}")
    serve = serve_module()
    if not os.path.exists(serve.CHROMIUM):
        raise BrowserMissing(f"the browser runtime needs Chromium: {CHROMIUM}")
    try:
        serve.install_packages()
    except serve.NpmMissing as error:
        raise BrowserMissing(f"{error}: apt-get install nodejs npm") from None
    except subprocess.CalledProcessError:
        raise BrowserMissing(
            f"npm ci failed in {WEB_DEMO}: run it there to see why (it needs the npm registry)"
        ) from None
    named = os.environ.get("TMPDIR")
    if named and not os.path.isdir(named):
        raise BrowserMissing(f"TMPDIR={named} is not a folder; Chromium's driver needs one")
    folder = tempfile.gettempdir()
    if len(folder) > LONGEST_TMPDIR:
        raise BrowserMissing(
            f"Chromium does not start with the temporary folder {folder} ({len(folder)} "
            f"characters; its profile's sockets must fit a Unix socket path): set TMPDIR to a "
            f"folder of at most {LONGEST_TMPDIR} characters, such as /tmp"
        )


@dataclasses.dataclass
class OpenPage:
    """The web demo's page open in headless Chromium; ``evaluate`` raises
    ``PageError`` once the page has thrown."""

    page: object
    thrown: list

    def evaluate(self, script: str, arg: object = None) -> object:
        result = self.page.evaluate(script, arg)
        if self.thrown:
            raise PageError(f"the page threw: {self.thrown[0]}")
        return result


@contextlib.contextmanager
def open_page(folders: dict[str, str]) -> Iterator[OpenPage]:
    """The web demo's page, served on 127.0.0.1 cross-origin isolated with
    ``folders`` ({URL prefix: folder}) beside it, open in headless Chromium
    with no model loaded; server and browser closed after."""
    check_available()
    from playwright.sync_api import Error, sync_playwright

    serve = serve_module()
    httpd = serve.server(None, folders=folders)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    for name in ("asyncio", "playwright"):  # they log the calls a Ctrl-C abandoned
        logging.getLogger(name).addFilter(_not_after_ctrl_c)
    # Chromium's own temporary files in a folder of ours: a Ctrl-C kills it before it cleans up
    scratch = tempfile.TemporaryDirectory(prefix="keras-mixer-chrome-", ignore_cleanup_errors=True)
    try:
        with scratch as chromium_tmp, sync_playwright() as playwright:
            try:
                browser = serve.launch(playwright, env={**os.environ, "TMPDIR": chromium_tmp})
            except Error as error:
                why = str(error.message).splitlines()[0]
                raise BrowserMissing(f"Chromium ({serve.CHROMIUM}) did not start: {why}") from None
            try:
                opened = OpenPage(browser.new_page(), [])
                opened.page.on("pageerror", lambda error: opened.thrown.append(error))
                opened.page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/")
                try:
                    opened.page.wait_for_function("window.kerasMixerDemo", timeout=60_000)
                except Error:
                    why = opened.thrown[0] if opened.thrown else "it showed no error"
                    raise PageError(f"the web demo's page did not start: {why}") from None
                yield opened
            except KeyboardInterrupt:  # before closing, which logs the abandoned calls
                _INTERRUPTED.set()
                raise
            finally:
                with contextlib.suppress(Error):  # gone already after a terminal's Ctrl-C
                    browser.close()
    except KeyboardInterrupt:  # while Chromium started
        _INTERRUPTED.set()
        raise
    finally:
        httpd.shutdown()
        httpd.server_close()


# Set once a Ctrl-C went through ``open_page``: what Playwright and asyncio log
# after it is about the calls it abandoned, and the Ctrl-C has its own line.
_INTERRUPTED = threading.Event()


def _not_after_ctrl_c(record: logging.LogRecord) -> bool:
    """A logging filter: drops every record once ``_INTERRUPTED`` is set."""
    return not _INTERRUPTED.is_set()


def run_files(
    paths: list[str],
    tensors_of: Callable[[str], np.ndarray],
    threads: tuple[int, ...],
    runs: int,
    log: Callable[[str], None] = print,
    on_file: Callable[[str, dict], None] = lambda path, found: None,
) -> dict[str, dict]:
    """{path: {"outputs", "rows", "cores"}} for each file: the page's raw
    outputs on ``tensors_of(path)`` (N input tensors, as LiteRT was fed them),
    its benchmark rows at those of ``threads`` it can use (``cores``: the
    most it may use here); {"error": why} for a file the page cannot run.
    ``on_file`` is called after each file."""
    folders = {f"/files{i}/": os.path.dirname(os.path.abspath(p)) for i, p in enumerate(paths)}
    found = {}
    with tempfile.TemporaryDirectory(prefix="keras-mixer-page-") as inputs:
        with open_page({**folders, "/inputs/": inputs}) as page:
            for number, path in enumerate(paths):
                tensors = tensors_of(path)
                log(
                    f"page [{number + 1}/{len(paths)}] {os.path.basename(path)}: "
                    f"{len(tensors)} images, then the page's benchmark"
                )
                url = f"/files{number}/{urllib.parse.quote(os.path.basename(path))}"
                found[path] = _run_file(page, url, tensors, inputs, threads, runs)
                if "error" in found[path]:
                    log(f"  the page cannot run it: {found[path]['error']}")
                on_file(path, found[path])
    return found


def _run_file(page, url, tensors, inputs, threads, runs):
    """One file in the open page: its outputs on ``tensors`` (fed in chunks
    through ``inputs``, the folder served as /inputs/), then its benchmark."""
    from playwright.sync_api import Error

    chunk_path = os.path.join(inputs, "chunk.bin")
    try:
        page.evaluate(LOAD_JS, url)
        outputs = []
        for start in range(0, len(tensors), CHUNK_IMAGES):
            chunk = np.ascontiguousarray(tensors[start : start + CHUNK_IMAGES])
            chunk.tofile(chunk_path)
            outputs += page.evaluate(RUN_JS, ["/inputs/chunk.bin", len(chunk)])
        timed = page.evaluate(BENCHMARK_JS, [runs, list(threads)])
    except Error as error:  # the page's own message, e.g. a type it cannot feed
        first_line = str(error.message).splitlines()[0]
        return {"error": re.sub(r"^(Page\.evaluate: )?(\w*Error: )?", "", first_line)}
    finally:
        if os.path.exists(chunk_path):
            os.remove(chunk_path)
    return {"outputs": outputs, **timed}


def compared_in_page(
    results: dict,
    options: CompareOptions,
    output_dir: str,
    saved: Callable[[], None],
    log: Callable[[str], None] = print,
) -> None:
    """``convert compare``'s page results: every file of ``results`` run in
    the page, its top-1 on the evaluation images (fed the tensors its LiteRT
    run was fed) and its outputs against that run's into ``results["page"]``,
    and a row per thread count of the page's latency into ``results["rows"]``,
    saved after each file."""
    from convert import held_out, runtime, verify
    from convert.variants import PUBLISHED

    native = {}  # path: (labels, LiteRT's scores, output details)

    def tensors_of(path):
        runner = runtime.interpreter(path, num_threads=1)
        inp, out = runner.get_input_details()[0], runner.get_output_details()[0]
        pixels, labels, _ = held_out.evaluation_images(
            path, options.dataset, options.eval_images, inp["shape"][1:3], out["shape"][-1]
        )
        native[path] = (labels, runtime.run_all(runner, pixels), out)
        return np.stack([runtime.quantize(image, inp, raw_pixels=True) for image in pixels])

    def on_file(path, found):
        name = os.path.splitext(os.path.basename(path))[0]
        labels, litert, out = native.pop(path)
        if "error" in found:
            results["page"][name] = {"error": found["error"]}
            return saved()
        scores = runtime.dequantize(np.asarray(found["outputs"], out["dtype"]), out)
        measured = results["page"][name] = {
            "top1": verify.accuracy(scores, labels),
            "top1_agreement_with_litert": verify.agreement(scores, litert),
            "relative_l2_to_litert": verify.relative_l2(scores, litert),
            "max_abs_difference_to_litert": float(np.abs(scores - litert).max()),
            "eval_images": len(labels),
        }
        conversion = results["conversions"][name]
        kept = {k: conversion[k] for k in ("mode", "size_bytes", *PUBLISHED) if k in conversion}
        for row in found["rows"]:
            timed = {k: row[k] for k in ("threads", "median_ms", "p90_ms", "compile_ms")}
            row = {"name": name, "runtime": "browser", **kept, **measured, **timed}
            results["rows"].append(row)
        left_out = [n for n in options.threads if n > found["cores"]]
        if left_out:
            results["page_threads_left_out"] = left_out
        saved()

    results["page"] = {}
    files = [os.path.join(output_dir, f"{name}.tflite") for name in results["conversions"]]
    log(f"running {len(files)} files in the page (LiteRT.js, headless Chromium)")
    run_files(files, tensors_of, options.threads, options.runs, log, on_file)
    if results.get("page_threads_left_out"):
        left_out = ", ".join(map(str, results["page_threads_left_out"]))
        log(
            f"the page left out --threads {left_out}: it may use one thread and, served "
            "cross-origin isolated, up to the machine's cores"
        )
