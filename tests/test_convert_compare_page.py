"""``convert compare --runtime litert,browser``: every file also run in the web
demo's page (LiteRT.js in Debian's headless Chromium), with its own rows,
recommendation and plot panels; and which file for which target."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from PIL import Image

from convert import browser, cli, runtime
from convert import compare as compare_lib
from convert.compare import CompareOptions
from convert.held_out import evaluation_images
from convert.targets import targets, targets_text
from tests.conftest import missing
from tests.test_files import strict_json
from tests.training_helpers import ROOT, command_env, run_main

OPTIONS = CompareOptions(
    modes=("fp32", "ptq"), threads=(1, 2), runs=3, eval_images=32, runtimes=("litert", "browser")
)


def page_available():
    try:
        browser.check_available()
    except browser.BrowserMissing as error:
        missing("the page runtime", str(error))


@pytest.fixture(scope="module")
def compared(digits_model, tmp_path_factory):
    page_available()
    folder = tmp_path_factory.mktemp("compare_page")
    lines = []
    results = compare_lib.compare([str(digits_model)], str(folder), OPTIONS, log=lines.append)
    return folder, results, lines


def page_rows(results):
    return {(r["name"], r["threads"]): r for r in results["rows"] if r["runtime"] == "browser"}


def test_every_file_runs_in_the_page_at_one_and_two_threads(compared):
    folder, results, _ = compared
    rows = page_rows(results)
    counts = [1, 2] if os.cpu_count() >= 2 else [1]  # the page uses up to the machine's cores
    assert sorted(rows) == sorted((f"run_{m}", n) for m in ("float32", "ptq") for n in counts)
    for row in rows.values():
        assert row["median_ms"] > 0 and row["compile_ms"] >= 0 and row["eval_images"] == 32
    assert strict_json(folder / "compare.json")["rows"] == json.loads(json.dumps(results["rows"]))


def test_the_page_s_scores_are_litert_s_on_the_same_images(compared):
    """The page's top-1 is measured, on the images the conversion's report
    scored: an int8 file gives LiteRT's bytes, a float32 one its floats."""
    folder, results, _ = compared
    litert = {r["name"]: r for r in results["rows"] if r["runtime"] == "litert"}
    for (name, _), row in page_rows(results).items():
        assert row["top1"] == litert[name]["top1"]  # the report's, from convert's own pipeline
        assert row["top1_agreement_with_litert"] == 1.0
    assert page_rows(results)[("run_ptq", 1)]["max_abs_difference_to_litert"] == 0
    assert page_rows(results)[("run_float32", 1)]["max_abs_difference_to_litert"] < 1e-4
    # The images as convert fed them: resized, not rounded (a float32 input takes them so)
    path = str(folder / "run_float32.tflite")
    size = runtime.interpreter(path).get_input_details()[0]["shape"][1:3]
    pixels, _, _ = evaluation_images(path, "digits", 32, size, 10)
    assert pixels.dtype == np.float32 and np.any(pixels != np.round(pixels))
    fidelity = strict_json(folder / "compare.json")["page"]  # kept apart from the timed rows
    assert fidelity["run_ptq"]["top1"] == page_rows(results)[("run_ptq", 1)]["top1"]


def test_the_page_has_its_own_recommendation_panels_and_target_line(compared):
    folder, results, lines = compared
    page = results["recommended"]["browser"]
    assert set(page) == {str(n) for _, n in page_rows(results)}
    for count, pick in page.items():  # the fastest in the page within 1 point of the best
        rows = [r for (_, n), r in page_rows(results).items() if str(n) == count]
        best = max(r["top1"] for r in rows)
        eligible = [r for r in rows if r["top1"] >= best - 0.01]
        assert pick["name"] == min(eligible, key=lambda r: r["median_ms"])["name"]
    printed = "\n".join(lines)
    assert "in the page (LiteRT.js, headless Chromium)" in printed
    web_line = next(line for line in lines[-1].splitlines() if "web page" in line)
    assert page["1"]["name"] in web_line
    picture = np.asarray(Image.open(folder / "compare.png").convert("L"), np.float64)
    assert picture.shape[0] > 900 and picture.std() > 10  # two rows of panels: LiteRT, the page


def test_ctrl_c_in_the_page_keeps_every_finished_row_and_leaves_nothing_behind(
    compared, digits_model, tmp_path
):
    """A rerun of the comparison (its conversions reused), Ctrl-C'd once the
    page has its first file: one line, exit 130, compare.json whole with
    LiteRT's rows, the page's temporary folder gone (the browser with it)."""
    folder, _, _ = compared
    output = tmp_path / "c"
    shutil.copytree(folder, output)
    # Short: Chromium's profile sockets must fit a Unix socket path (tmp_path's do not)
    scratch = tempfile.mkdtemp(prefix="km-")
    args = ["compare", str(digits_model), "--modes", "fp32,ptq", "--eval-images", "32"]
    args += ["--runtime", "litert,browser", "--runs", "200", "-o", str(output)]
    process = subprocess.Popen(
        [sys.executable, "-m", "convert", *args],
        cwd=ROOT,
        env={**command_env(), "TMPDIR": scratch},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one pipe, read as it comes: a full one would block Chromium
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("page [1/2]"):
            break
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=120)
    assert process.returncode == 130, "".join(seen)[-3000:] + rest[-2000:]
    assert "Traceback" not in rest, rest[-3000:]
    assert rest.strip().splitlines()[-1].startswith("interrupted: every finished conversion")
    kept = strict_json(output / "compare.json")
    assert {(r["runtime"], r["threads"]) for r in kept["rows"]} >= {("litert", 1), ("litert", 2)}
    assert [name for name in os.listdir(scratch) if name.startswith("keras-mixer-page-")] == []
    shutil.rmtree(scratch)


def test_a_file_the_page_cannot_run_is_its_message_and_a_name_needs_no_care(tmp_path):
    page_available()
    (tmp_path / "my notes #1.tflite").write_text("my notes, not a model")
    uint8 = np.zeros((1, 8, 8, 3), np.uint8)
    found = browser.run_files([str(tmp_path / "my notes #1.tflite")], lambda path: uint8, (1,), 1)
    assert found == {
        str(tmp_path / "my notes #1.tflite"): {
            "error": "This file is not a TFLite model (no TFL3 identifier)."
        }
    }


def test_an_unknown_runtime_or_a_missing_page_is_one_line_before_any_work(
    digits_model, tmp_path, monkeypatch
):
    result = run_main(
        cli.main, "compare", digits_model, "--runtime", "litert,safari", "-o", tmp_path / "a"
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --runtime: 'safari' is not one of litert, browser."
    for args, said in [
        (("--runtime", "browser", "--threads", "999"), "--threads: the page may use at most"),
        (("--eval-images", "0"), "--eval-images must be 1 or more; got 0."),
    ]:
        result = run_main(cli.main, "compare", digits_model, *args, "-o", tmp_path / "a")
        assert result.returncode == 2 and result.stderr.startswith(f"error: {said}")
    tflite = tmp_path / "model_int8.tflite"
    tflite.write_bytes(b"")
    result = run_main(cli.main, "compare", tflite, "-o", tmp_path / "a")
    assert result.stderr.strip() == (
        f"error: {tflite}: compare converts .keras models; to time .tflite files side by side, "
        "use convert benchmark FILES"
    )
    monkeypatch.setattr(browser, "WEB_DEMO", str(tmp_path / "no_web_demo"))
    args = ("compare", digits_model, "--runtime", "browser", "-o", tmp_path / "b")
    result = run_main(cli.main, *args)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: the browser runtime runs the web demo's page, and {tmp_path / 'no_web_demo'} is "
        "not there: run it from a keras-mixer checkout (git clone; the wheel does not carry the "
        "page)"
    )
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


class FakeServe:
    """web_demo/serve.py as check_available sees it, on a machine lacking something."""

    NpmMissing = type("NpmMissing", (RuntimeError,), {})

    def __init__(self, chromium, npm_fails=None):
        self.CHROMIUM, self.npm_fails = chromium, npm_fails

    def install_packages(self):
        if self.npm_fails:
            raise self.npm_fails


@pytest.mark.parametrize(
    "lacking, message",
    [
        ("playwright", "the browser runtime needs Playwright: pip install playwright"),
        ("chromium", "the browser runtime needs Chromium: apt-get install chromium"),
        ("npm", "the web demo needs npm (Node.js) to install @litertjs/core: apt-get install"),
        ("registry", "npm ci failed in "),
        ("long tmpdir", "Chromium does not start with the temporary folder /tmp/xxx"),
        ("tmpdir", "TMPDIR=/no/such/folder is not a folder; Chromium's driver needs one"),
    ],
)
def test_what_the_page_runtime_lacks_is_named_with_its_install_line(
    lacking, message, tmp_path, monkeypatch
):
    import importlib.util
    import subprocess

    real_find_spec = importlib.util.find_spec
    if lacking == "playwright":
        monkeypatch.setattr(
            importlib.util, "find_spec", lambda n: None if n == "playwright" else real_find_spec(n)
        )
    chromium = str(tmp_path / "no_chromium") if lacking == "chromium" else __file__
    failure = {
        "npm": FakeServe.NpmMissing("the web demo needs npm (Node.js) to install @litertjs/core"),
        "registry": subprocess.CalledProcessError(1, ["npm", "ci"]),
    }.get(lacking)
    monkeypatch.setattr(browser, "serve_module", lambda: FakeServe(chromium, failure))
    if lacking == "tmpdir":
        monkeypatch.setenv("TMPDIR", "/no/such/folder")
    if lacking == "long tmpdir":
        monkeypatch.setattr(tempfile, "tempdir", "/tmp/" + "x" * 58)  # 63 characters
    with pytest.raises(browser.BrowserMissing) as raised:
        browser.check_available()
    assert str(raised.value).startswith(message)


FILES = [  # name, mode, top-1, median ms at 1 thread, relative L2
    ("m_float32", "float32", 0.99, 5.0, 0.0),
    ("m_dynamic", "dynamic", 0.99, 2.0, 0.004),
    ("m_ptq", "ptq", 0.97, 1.9, 0.02),
    ("m_qat", "qat", 0.98, 1.9, 0.03),
    ("m_qat2", "qat", 0.98, 1.7, 0.02),  # as accurate as m_qat, closer to Keras
]


def measured(files=FILES, counts=(1,)):
    """compare.json's results for ``files`` in LiteRT at ``counts`` threads."""
    rows = [
        {"name": name, "mode": mode, "top1": top1, "median_ms": ms / n, "relative_l2": l2}
        | {"runtime": "litert", "threads": n}
        for name, mode, top1, ms, l2 in files
        for n in counts
    ]
    conversions = {
        name: {"mode": mode, "top1": top1, "relative_l2": l2} for name, mode, top1, _, l2 in files
    }
    return {"options": {"within": 1.0}, "rows": rows, "conversions": conversions}


def test_which_file_for_which_target():
    results = measured() | {"recommended": {"litert": {"1": {"name": "m_dynamic"}}}}
    found = targets(results)
    assert found["phone CPU"]["files"] == {"1": "m_dynamic"}
    assert "more_faithful" not in found["phone CPU"]  # the pick is the most faithful as fast
    assert found["NPU"]["files"] == {"any": "m_qat2"}  # the most accurate full-integer file
    assert found["web page"] == {"files": {}, "why": "not measured: add browser to --runtime"}
    assert "  phone CPU  m_dynamic (1 thread(s)): " in targets_text(found)
    results["recommended"]["browser"] = {"1": {"name": "m_ptq"}}  # the page's own pick
    assert targets(results)["web page"]["files"] == {"1": "m_ptq"}
    assert "  web page   m_ptq (1 thread(s)): " in targets_text(targets(results))


def test_a_more_faithful_file_as_fast_is_named_once_for_its_thread_counts():
    results = measured(counts=(1, 2))
    results["recommended"] = {"litert": {n: {"name": "m_qat2"} for n in ("1", "2")}}
    for row in results["rows"]:
        if row["name"] == "m_dynamic":  # 0.004 against 0.02, within 10% of m_qat2's latency
            row["median_ms"] = 1.85 / row["threads"]
    phone = targets(results)["phone CPU"]
    assert phone["more_faithful"] == {"1": "m_dynamic", "2": "m_dynamic"}
    assert phone["why"].count("m_dynamic") == 1
    assert "at 1, 2 thread(s) m_dynamic is as accurate" in phone["why"]
    assert "(relative L2 0.0040 against 0.0200)" in phone["why"]
    for row in results["rows"]:
        if row["name"] == "m_dynamic":  # beyond 10% slower: not said
            row["median_ms"] = 1.9 / row["threads"]
    assert "more_faithful" not in targets(results)["phone CPU"]


def test_a_page_measured_at_no_thread_count_or_unranked_says_why():
    results = measured(FILES[:2]) | {"recommended": {"litert": {}, "browser": {}}}
    assert targets(results)["web page"] == {
        "files": {},
        "why": "not measured: none of --threads could run here",
    }
    results["options"]["variants"] = ["S/16"]  # rows, but no published number to rank them
    assert targets(results)["phone CPU"]["why"].startswith("no accuracy to rank the files by")


def test_the_page_alone_and_files_without_accuracy_still_get_their_targets():
    results = measured(FILES[:2]) | {"recommended": {"browser": {"1": {"name": "m_dynamic"}}}}
    found = targets(results)
    assert found["phone CPU"] == {"files": {}, "why": "not measured: add litert to --runtime"}
    assert found["NPU"] == {
        "files": {},
        "why": "no full-integer file in this comparison: add ptq or int8 to --modes",
    }
    results = measured() | {"recommended": {"browser": {}}}
    assert targets(results)["NPU"]["files"] == {"any": "m_qat2"}  # from the conversions
    results["options"]["variants"] = ["S/16"]  # no published number for these
    assert targets(results)["NPU"]["files"] == {"any": "m_ptq"}  # the closest to Keras first
    assert "no accuracy to rank them by" in targets(results)["NPU"]["why"]
