"""``convert compare --runtime litert,browser``: every file also run in the web
demo's page (LiteRT.js in Debian's headless Chromium), with its own rows,
recommendation and plot panels; and which file for which target."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from convert import browser, cli, runtime, verify
from convert import compare as compare_lib
from convert.compare import CompareOptions
from convert.tradeoff import targets, targets_text
from tests.conftest import missing
from tests.test_files import strict_json
from tests.training_helpers import run_main

OPTIONS = CompareOptions(
    modes=("fp32", "ptq"), threads=(1, 2), runs=3, eval_images=32, runtimes=("litert", "browser")
)


@pytest.fixture(scope="module")
def compared(digits_model, tmp_path_factory):
    try:
        browser.check_available()
    except browser.BrowserMissing as error:
        missing("the page runtime", str(error))
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
    # LiteRT's own scores on those images, by hand, against the page's top-1
    path = str(folder / "run_ptq.tflite")
    runner = runtime.interpreter(path, num_threads=1)
    from convert.held_out import evaluation_images

    size = runner.get_input_details()[0]["shape"][1:3]
    pixels, labels, _ = evaluation_images(path, "digits", 32, size, 10)
    by_hand = verify.accuracy(runtime.run_all(runner, pixels), labels)
    assert page_rows(results)[("run_ptq", 1)]["top1"] == by_hand


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


def test_an_unknown_runtime_or_a_missing_page_is_one_line_before_any_work(
    digits_model, tmp_path, monkeypatch
):
    result = run_main(
        cli.main, "compare", digits_model, "--runtime", "litert,safari", "-o", tmp_path / "a"
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --runtime: 'safari' is not one of litert, browser."
    monkeypatch.setattr(browser, "WEB_DEMO", str(tmp_path / "no_web_demo"))
    with pytest.raises(browser.BrowserMissing, match="no_web_demo is not there"):
        compare_lib.compare([str(digits_model)], str(tmp_path / "b"), OPTIONS)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def rows_for(files, threads=1):
    return [
        {"name": name, "mode": mode, "top1": top1, "median_ms": ms, "relative_l2": l2}
        | {"runtime": "litert", "threads": threads}
        for name, mode, top1, ms, l2 in files
    ]


def test_which_file_for_which_target():
    results = {
        "options": {"within": 1.0},
        "rows": rows_for(
            [
                ("m_float32", "float32", 0.99, 5.0, 0.0),
                ("m_dynamic", "dynamic", 0.99, 2.0, 0.004),
                ("m_ptq", "ptq", 0.97, 1.9, 0.02),
                ("m_qat", "qat", 0.98, 1.9, 0.03),
                ("m_qat2", "qat", 0.98, 1.7, 0.02),  # as accurate as m_qat, closer to Keras
            ]
        ),
        "recommended": {"litert": {"1": {"name": "m_dynamic"}}},
    }
    found = targets(results)
    assert found["phone CPU"]["files"] == {"1": "m_dynamic"}
    assert "more_faithful" not in found["phone CPU"]  # the pick is the most faithful as fast
    assert found["NPU"]["files"] == {"any": "m_qat2"}  # the most accurate full-integer file
    assert found["web page"] == {"files": {}, "why": "not measured: add --runtime litert,browser"}
    assert "  phone CPU  m_dynamic (1 thread(s)): " in targets_text(found)
    # A pick with twice the error of an as accurate file within 10% of its latency: said
    results["recommended"]["litert"]["1"] = {"name": "m_qat2"}
    results["rows"][1]["median_ms"] = 1.85  # m_dynamic: 0.004 against 0.02, 1.85 <= 1.7 * 1.1
    results["rows"][1]["top1"] = 0.98
    assert targets(results)["phone CPU"]["more_faithful"] == {"1": "m_dynamic"}
    assert "relative L2 0.0040 against 0.0200" in targets(results)["phone CPU"]["why"]
    results["rows"][1]["median_ms"] = 1.9  # beyond 10% slower: not said
    assert "more_faithful" not in targets(results)["phone CPU"]
    results["rows"] = results["rows"][:2]
    results["recommended"]["litert"]["1"] = {"name": "m_dynamic"}
    assert targets(results)["NPU"] == {
        "files": {},
        "why": "no full-integer file in this comparison: add ptq or int8 to --modes",
    }
