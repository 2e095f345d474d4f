"""The web demo (web_demo/) in a real headless Chromium - Debian's, driven by
Playwright as the system browser - against the page served on 127.0.0.1 by
web_demo/serve.py, as `python3 run.py web` serves it."""

import json
import os
import threading

import numpy as np
import pytest
from PIL import Image

from convert import browser, golden
from convert.pipeline import to_tflite
from keras_mixer import datasets
from tests.android_golden import images as golden_images
from tests.conftest import missing

HELD_OUT_DIGITS = 50


serve = browser.serve_module()


@pytest.fixture(scope="module")
def browser_for_the_page():
    try:  # Chromium, Playwright, npm and the page's packages (installed once)
        browser.check_available()
    except browser.BrowserMissing as error:
        missing("the web demo's browser", str(error))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = serve.launch(playwright)
        yield launched
        launched.close()


# name: (I/O type, graph, preprocessing stated for the conversion)
CONVERSIONS = {
    "uint8": ("uint8", "xnnpack", {}),
    "float32": ("float32", "plain", {}),
    "uint8_crop": ("uint8", "xnnpack", {"eval_crop": 0.875}),  # a wide image loses its sides
    "int8": ("int8", "xnnpack", {}),  # LiteRT.js has no int8 tensors
    "float_logits": ("uint8", "xnnpack", {}),  # --logits float32: uint8 in, float32 out
}


@pytest.fixture(scope="module")
def models(digits_model, tmp_path_factory):
    """The digits model converted for the page (uint8 and float32 I/O) and
    one it cannot feed (int8 I/O), in a folder the server shows as /files/."""
    folder = tmp_path_factory.mktemp("web_files")
    for name, (io_type, graph, preprocessing) in CONVERSIONS.items():
        to_tflite(
            str(digits_model),
            str(folder / f"{name}.tflite"),
            mode="ptq",
            io=io_type,
            graph=graph,
            preprocessing=preprocessing,
            logits="float32" if name == "float_logits" else "int8",
            eval_images=32,  # the page's tests measure the files, not the report
            debug_images=0,
            log=lambda _: None,
        )
    (folder / "notes.tflite").write_text("my notes, not a model")
    whole = (folder / "uint8.tflite").read_bytes()
    (folder / "cut.tflite").write_bytes(whole[: len(whole) // 3])  # cut inside the model
    (folder / "cut_zip.tflite").write_bytes(whole[:-30])  # cut inside the labels' zip
    (folder / "bare.tflite").write_bytes(bare_model())
    return folder


def bare_model():
    """A float32 TFLite model without metadata (no labels, no crop)."""
    from convert import tflite
    from convert.graph import build_graph, mixer_spec, model_values
    from tests.test_convert_graph import trained_like

    model = trained_like(np.random.default_rng(0))
    return tflite.convert(
        build_graph(mixer_spec(model), model_values(model), batch_size=1), "float32"
    )


@pytest.fixture(scope="module")
def site(models):
    httpd = serve.server(
        str(models / "uint8.tflite"),
        folders={"/files/": str(models), "/digits/": datasets.digits_folder()},
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def page(browser_for_the_page, site):
    """The page with its default model loaded; fails on anything thrown to the console."""
    context = browser_for_the_page.new_context(viewport={"width": 1100, "height": 720})
    opened = context.new_page()
    thrown = []
    opened.on("pageerror", lambda error: thrown.append(error))
    opened.goto(site)
    opened.wait_for_function("document.body.dataset.state !== 'loading'", timeout=120_000)
    yield opened
    context.close()
    assert thrown == []


def load_model(page, url):
    page.evaluate(
        """async (url) => {
            const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
            await window.kerasMixerDemo.useModel(bytes, url);
        }""",
        url,
    )


def test_the_page_loads_the_served_model_from_its_metadata(page):
    assert page.evaluate("document.body.dataset.state") == "ready"
    info = page.inner_text("#model-info")
    assert "input 16x16 uint8, 10 classes (logits, uint8)" in info
    assert "MLP-Mixer (patch 4, hidden 16, 1 blocks) for digits" in info
    labels = page.evaluate("window.kerasMixerDemo.classifier().labels")
    assert labels == [str(i) for i in range(10)]  # the labels.txt packed in the model
    assert page.evaluate("self.crossOriginIsolated")  # served with the headers threads need


# A golden case in the page: its model loaded, its ARGB image classified,
# the input tensor and raw output returned as bytes.
GOLDEN_CASE_JS = """async ([model, argb, width, height]) => {
    const fetched = async (url) => (await fetch(url)).arrayBuffer();
    const demo = window.kerasMixerDemo;
    await demo.useModel(new Uint8Array(await fetched(model)));
    const rgba = new Uint8ClampedArray(width * height * 4);
    new Uint32Array(await fetched(argb)).forEach((p, i) => {
        rgba.set([(p >> 16) & 255, (p >> 8) & 255, p & 255, 255], 4 * i);
    });
    const result = await demo.classifier().classify(rgba, width, height);
    const bytes = (a) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return {input: bytes(result.input), output: bytes(result.raw), scores: result.scores};
}"""


def test_golden_cases_raw_outputs_are_python_litert_s_bit_for_bit(page, models, tmp_path):
    """convert/golden.py's cases (the Java core's): the page's input tensor
    and raw output against the bytes Python LiteRT fed and produced."""
    pictures = golden_images(str(tmp_path))
    compared = 0
    for name in ("uint8", "float32", "uint8_crop", "float_logits"):
        model = models / f"{name}.tflite"
        for picture, path in pictures.items():
            case = models / "cases" / f"{name}_{picture}"
            found = golden.write_case(str(model), path, str(case), golden.conversion_crop(model))
            got = page.evaluate(
                GOLDEN_CASE_JS,
                [
                    f"/files/{model.name}",
                    f"/files/cases/{case.name}/image.argb",
                    found["image_width"],
                    found["image_height"],
                ],
            )
            assert bytes(got["input"]) == (case / "input.bin").read_bytes(), case.name
            assert bytes(got["output"]) == (case / "output.bin").read_bytes(), case.name
            top = [int(i) for i in found["top_indices"].split(",")]  # and the page's scores
            expected = [float(v) for v in found["top_scores"].split(",")]
            np.testing.assert_allclose(np.array(got["scores"])[top], expected, rtol=1e-5)
            compared += 1
    assert compared == 4 * len(pictures) == 12
    load_model(page, "/files/float_logits.tflite")  # the int8 body's float32 logits
    assert "input 16x16 uint8, 10 classes (logits, float32)" in page.inner_text("#model-info")


# Each PNG fetched and classified by the page as a picked file is.
FILES_TOP1_JS = """async (urls) => {
    const found = [];
    for (const url of urls) {
        const blob = await (await fetch(url)).blob();
        const result = await window.kerasMixerDemo.classifyFile(new File([blob], url));
        found.push(result.top[0][2]);
    }
    return found;
}"""


def test_held_out_digits_from_their_pngs_get_the_python_pipeline_s_top1(page, models):
    from convert import runtime

    model = models / "uint8.tflite"
    scored = json.loads(model.with_suffix(".json").read_text())["data"]  # the conversion's
    stated = {key: scored[key] for key in ("eval_crop", "resize_method")}
    settings = datasets.data_settings(None, "digits", (16, 16), stated)
    split = datasets.read_split("digits", "val", settings.config)
    batches = datasets.evaluation_batches(split, settings.config, HELD_OUT_DIGITS, scale=False)
    pixels = next(iter(batches))[0].numpy()  # the evaluation path: crop, resize
    runner = runtime.interpreter(str(model), num_threads=1)
    python = [int(np.argmax(runtime.run(runner, image, raw_pixels=True))) for image in pixels]
    files = split.files[:HELD_OUT_DIGITS]
    urls = ["/digits/" + os.path.relpath(path, datasets.digits_folder()) for path in files]
    assert page.evaluate(FILES_TOP1_JS, urls) == python
    assert np.mean(np.array(python) == np.array(split.labels[:HELD_OUT_DIGITS])) > 0.8


def draw(page, strokes):
    """Draws on the pad with the mouse (pointer events), each stroke a list of
    points in the 256-pixel canvas, lifting the pen after each."""
    box = page.locator("#pad").bounding_box()
    for stroke in strokes:
        (x, y), *rest = stroke
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
        page.mouse.up()


ZERO = [[(128 + 62 * np.sin(t), 128 - 95 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 40)]]


def test_a_digit_drawn_on_the_canvas_is_classified_as_that_digit(page, tmp_path):
    draw(page, ZERO)
    page.wait_for_selector("#results li")
    assert page.inner_text("#results li:first-child .label") == "0"
    shot = tmp_path / "web_demo.png"
    page.screenshot(path=str(shot))
    picture = np.asarray(Image.open(shot).convert("L"), np.float64)
    assert picture.shape == (720, 1100) and picture.std() > 20  # not blank
    box = page.locator("#pad").bounding_box()
    pad = picture[
        int(box["y"]) : int(box["y"] + box["height"]), int(box["x"]) : int(box["x"] + box["width"])
    ]
    assert 0.05 < np.mean(pad > 200) < 0.5  # the drawn stroke, white on black


@pytest.mark.parametrize(
    "name, message",
    [
        ("notes.tflite", "This file is not a TFLite model (no TFL3 identifier)."),
        ("cut.tflite", "This file is not a whole TFLite model: it ends before its own tables do"),
        ("cut_zip.tflite", "The model's metadata lists "),
        (
            "int8.tflite",
            "This model's input is int8; LiteRT.js in the browser takes uint8 or float32",
        ),
    ],
)
def test_a_model_the_page_cannot_run_is_one_message_on_the_page(page, models, name, message):
    page.set_input_files("#model-file", str(models / name))
    page.wait_for_selector("#message:not([hidden])")
    assert page.inner_text("#message").startswith(message)
    assert page.evaluate("document.body.dataset.state") == "error"


def test_a_model_without_metadata_runs_with_index_labels_and_says_so(page):
    load_model(page, "/files/bare.tflite")
    assert page.evaluate("window.kerasMixerDemo.classifier().labels") == [str(i) for i in range(5)]
    assert page.inner_text("#message") == (
        "The model has no metadata: labels are class indices, no crop is applied."
    )
    assert page.evaluate("document.body.dataset.state") == "ready"


def test_a_client_gone_mid_answer_prints_nothing(tmp_path, capfd):
    """A closed tab or a stopped run drops the connection while a file is sent:
    no traceback from the server (a Ctrl-C'd compare showed one)."""
    import socket
    import struct

    (tmp_path / "big.bin").write_bytes(b"x" * 50_000_000)
    before = set(threading.enumerate())
    httpd = serve.server(None, folders={"/f/": str(tmp_path)})
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    client = socket.create_connection(httpd.server_address)
    client.sendall(b"GET /f/big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert client.recv(1000).startswith(b"HTTP/1.0 200")
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # a reset
    client.close()
    httpd.shutdown()
    httpd.server_close()
    for thread in set(threading.enumerate()) - before:  # the request's, done with its error
        thread.join(timeout=5)
    assert capfd.readouterr().err == ""
