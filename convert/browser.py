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

import importlib.util
import os
import tempfile
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from convert.compare import CompareOptions

WEB_DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "web_demo")
PLAYWRIGHT = "pip install playwright (keras-mixer[dev] has it; it drives the system Chromium)"
CHROMIUM = "apt-get install chromium (Debian's; browsers that tools download fail here)"

# Loads the file as the page loads a user's, returns its raw outputs on the
# images and the page's benchmark rows.
RUN_IN_PAGE_JS = """async ([modelUrl, inputsUrl, count, runs, threads]) => {
    const demo = window.kerasMixerDemo;
    const bytes = new Uint8Array(await (await fetch(modelUrl)).arrayBuffer());
    await demo.useModel(bytes, modelUrl);
    const classifier = demo.classifier();
    const buffer = await (await fetch(inputsUrl)).arrayBuffer();
    const Type = classifier.info.input.type === "float32" ? Float32Array : Uint8Array;
    const inputs = new Type(buffer);
    const size = inputs.length / count;
    const outputs = [];
    for (let i = 0; i < count; i++) {
        const raw = await classifier.runRaw(inputs.slice(i * size, (i + 1) * size));
        outputs.push(Array.from(raw));
    }
    const usable = demo.threadCounts();
    const rows = await demo.benchmark({runs, threads: threads.filter((n) => usable.includes(n))});
    return {outputs, rows, usable};
}"""


class BrowserMissing(RuntimeError):
    """What the page runtime needs and this machine lacks, with the install line."""


def _serve_module():
    """web_demo/serve.py (the page's server; not a package of the wheel)."""
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
    serve = _serve_module()
    if not os.path.exists(serve.CHROMIUM):
        raise BrowserMissing(f"the browser runtime needs Chromium: {CHROMIUM}")
    try:
        serve.install_packages()
    except serve.NpmMissing as error:
        raise BrowserMissing(f"{error}: apt-get install nodejs npm") from None


def run_files(
    paths: list[str],
    tensors_of: Callable[[str], np.ndarray],
    threads: tuple[int, ...],
    runs: int,
    log: Callable[[str], None] = print,
    on_file: Callable[[str, dict], None] = lambda path, found: None,
) -> dict[str, dict]:
    """{path: {"outputs", "rows", "usable"}} for each file: the page's raw
    outputs on ``tensors_of(path)`` (N input tensors, as LiteRT was fed them),
    its benchmark rows at the ``threads`` it can use (``usable``: the counts
    the page may use here); {"error": why} for a file the page cannot run.
    ``on_file`` is called after each file."""
    check_available()
    from playwright.sync_api import Error, sync_playwright

    serve = _serve_module()
    found = {}
    with tempfile.TemporaryDirectory(prefix="keras-mixer-page-") as inputs_dir:
        folders = {"/inputs/": inputs_dir}
        folders.update({f"/files{i}/": os.path.dirname(p) for i, p in enumerate(paths)})
        httpd = serve.server(None, folders=folders)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        site = f"http://127.0.0.1:{httpd.server_address[1]}/"
        try:
            with sync_playwright() as playwright:
                browser = serve.launch(playwright)
                page = browser.new_page()
                thrown = []
                page.on("pageerror", lambda error: thrown.append(error))
                page.goto(site)  # no model yet: the page waits for one
                page.wait_for_function("window.kerasMixerDemo !== undefined", timeout=300_000)
                for number, path in enumerate(paths):
                    tensors = tensors_of(path)
                    log(
                        f"page [{number + 1}/{len(paths)}] {os.path.basename(path)}: "
                        f"{len(tensors)} images, then the page's benchmark"
                    )
                    np.ascontiguousarray(tensors).tofile(os.path.join(inputs_dir, f"{number}.bin"))
                    model_url = f"/files{number}/{os.path.basename(path)}"
                    args = [model_url, f"/inputs/{number}.bin", len(tensors), runs, list(threads)]
                    try:
                        found[path] = page.evaluate(RUN_IN_PAGE_JS, args)
                    except Error as error:  # the page's own message, e.g. a type it cannot feed
                        found[path] = {"error": str(error.message).splitlines()[0]}
                        log(f"  the page cannot run it: {found[path]['error']}")
                    if thrown:
                        raise RuntimeError(f"the page threw running {path}: {thrown[0]}")
                    on_file(path, found[path])
                browser.close()
        finally:
            httpd.shutdown()
            httpd.server_close()
    return found


def compared_in_page(
    results: dict,
    options: CompareOptions,
    saved: Callable[[], None],
    log: Callable[[str], None] = print,
) -> None:
    """``convert compare``'s page rows: every file of ``results`` run in the
    page into ``results["rows"]`` (saved after each): its top-1 on the
    evaluation images, fed the tensors its LiteRT run was fed, its outputs
    against that run's, and the page's latency at each thread count."""
    from convert import held_out, runtime, verify
    from convert.compare import PUBLISHED

    native = {}  # path: (labels, LiteRT's scores, output details)

    def tensors_of(path):
        runner = runtime.interpreter(path, num_threads=1)
        inp, out = runner.get_input_details()[0], runner.get_output_details()[0]
        pixels, labels, _ = held_out.evaluation_images(
            path, options.dataset, options.eval_images, inp["shape"][1:3], out["shape"][-1]
        )
        native[path] = (labels, runtime.run_all(runner, pixels), out)
        return np.stack([runtime.quantize(image, inp) for image in pixels])

    def on_file(path, found):
        name = os.path.splitext(os.path.basename(path))[0]
        conversion = results["conversions"][name]
        if "error" in found:
            results.setdefault("page_errors", {})[name] = found["error"]
            return saved()
        labels, litert, out = native.pop(path)
        scores = runtime.dequantize(np.asarray(found["outputs"], out["dtype"]), out)
        measured = {
            "runtime": "browser",
            "top1": verify.accuracy(scores, labels),
            "top1_agreement_with_litert": verify.agreement(scores, litert),
            "relative_l2_to_litert": verify.relative_l2(scores, litert),
            "max_abs_difference_to_litert": float(np.abs(scores - litert).max()),
            "eval_images": len(labels),
        }
        kept = {k: conversion[k] for k in ("mode", "size_bytes", *PUBLISHED) if k in conversion}
        for row in found["rows"]:
            timed = {k: row[k] for k in ("threads", "median_ms", "p90_ms", "compile_ms")}
            results["rows"].append({"name": name, **kept, **measured, **timed})
        left_out = sorted(set(options.threads) - set(found["usable"]))
        if left_out:
            results["page_threads_left_out"] = left_out
        saved()

    files = [conversion["file"] for conversion in results["conversions"].values()]
    log(f"running {len(files)} files in the page (LiteRT.js, headless Chromium)")
    run_files(files, tensors_of, options.threads, options.runs, log, on_file)
    if results.get("page_threads_left_out"):
        log(
            f"the page left out {results['page_threads_left_out']} thread(s): it may use "
            "1 and, cross-origin isolated, up to this machine's cores"
        )
