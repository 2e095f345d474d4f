"""``convert compare``: which file to ship - every model in every mode,
evaluated and benchmarked side by side, and the trade-off drawn.

    convert compare runs/a/model.keras runs/b/model.keras --data mnist \\
        --modes fp32,fp16,dynamic,ptq,int8 --threads 1,2,4 -o compare/

Each model is converted in each mode into the output folder (``convert``'s
pipeline: the held-out top-1, agreement with its Keras model and relative L2
come from its report); a rerun reuses a conversion whose model file and
options are the same. Then every file is benchmarked in the benchmark
workers at each thread count (``convert.benchmark``: median, p10, p90, load
time, peak memory) and, with the browser runtime, run in the web demo's
page (``convert.browser``: top-1 and outputs against LiteRT's, latency at
each thread count the page can use). ``compare.json`` is rewritten after every conversion,
thread count and page file, so an interruption keeps each finished row; the
printed table, which file for which target, and ``compare.png`` (accuracy
against latency per runtime and thread count, marker area by file size, the
Pareto front, the recommended file) come at the end.

The recommendation, per runtime and thread count, is the fastest file within
``within`` top-1 points of the most accurate one (``convert.tradeoff``,
which draws and tabulates it too); the command line is ``convert.cli``'s.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable

from convert import browser, modes
from convert import variants as variants_lib
from convert.targets import targets, targets_text
from convert.tradeoff import accuracy_of, pareto, plot, points_at, recommend, rows_of, table

COMPARE_JSON, COMPARE_PNG = "compare.json", "compare.png"
# Where a comparison runs the files: --runtime.
RUNTIMES = {
    "litert": "LiteRT in Python on this CPU (XNNPACK), in the benchmark workers",
    "browser": "LiteRT.js in the web demo's page, in headless Chromium (convert.browser)",
}


@dataclasses.dataclass(frozen=True)
class CompareOptions:
    """What a comparison measures: ``modes`` (names or ``modes.ALIASES``),
    ``threads``, the ``dataset`` evaluated on, ``runs`` per benchmark,
    ``within`` top-1 points of the best for the recommendation, and the
    evaluation images (None: the whole held-out split)."""

    modes: tuple[str, ...] = ("float32", "fp16", "dynamic", "ptq", "qat")
    threads: tuple[int, ...] = (1, 2)
    dataset: str = "digits"
    runs: int = 30
    within: float = 1.0
    eval_images: int | None = None
    variants: tuple[str, ...] = ()  # the deployment view: these built, not models given
    variant_size: int = 224  # the variants' input size
    weights: str | None = None  # a release for the variants, where it has them
    runtimes: tuple[str, ...] = ("litert",)  # where the files run: RUNTIMES

    def checked(self) -> CompareOptions:
        """These options with the modes' own names, or a ValueError naming the bad value."""
        named = tuple(dict.fromkeys(modes.get(name).name for name in self.modes))
        if not named:
            raise ValueError("Name at least one mode to compare.")
        if not self.threads or min(self.threads) < 1:
            raise ValueError(f"--threads: counts must be 1 or more; got {list(self.threads)}.")
        if not 0 <= self.within < 100:
            raise ValueError(f"--within is in top-1 points, 0 to 100; got {self.within!r}.")
        if self.runs < 1:
            raise ValueError(f"--runs must be 1 or more; got {self.runs!r}.")
        if self.eval_images is not None and self.eval_images < 1:
            raise ValueError(f"--eval-images must be 1 or more; got {self.eval_images!r}.")
        runtimes = tuple(dict.fromkeys(r.lower() for r in self.runtimes))
        unknown = [r for r in runtimes if r not in RUNTIMES] or ([] if runtimes else [""])
        if unknown:
            raise ValueError(f"--runtime: {unknown[0]!r} is not one of {', '.join(RUNTIMES)}.")
        cores = os.cpu_count() or 1
        if runtimes == ("browser",) and min(self.threads) > cores:
            raise ValueError(
                f"--threads: the page may use at most this machine's {cores} cores; got "
                f"{','.join(map(str, self.threads))}."
            )
        from keras_mixer.presets import RELEASES, VARIANTS

        variants = tuple(variants_lib.variant_name(v) for v in self.variants)
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown:
            raise ValueError(f"Unknown variant {unknown[0]!r}; variants: {', '.join(VARIANTS)}.")
        if self.weights is not None and self.weights not in RELEASES:
            raise ValueError(
                f"weights must be a release ({', '.join(RELEASES)}); got {self.weights!r}."
            )
        threads = tuple(dict.fromkeys(self.threads))
        return dataclasses.replace(
            self, modes=named, variants=variants, runtimes=runtimes, threads=threads
        )

    def conversion_key(self) -> dict:
        """The options that change a conversion's file or its report (with the
        model's file and its data settings: ``_convert_all``)."""
        return {"dataset": self.dataset, "eval_images": self.eval_images}


def compare(
    model_paths: list[str],
    output_dir: str,
    options: CompareOptions,
    log: Callable[[str], None] = print,
) -> dict:
    """Runs the comparison (module docstring); returns what ``compare.json`` holds."""
    options = options.checked()
    made = _missing_folders(output_dir)
    try:
        return _compared(model_paths, output_dir, options, log)
    except BaseException:  # a refusal or a Ctrl-C leaves no empty folder it made
        for folder in made:  # deepest first
            if os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)
        raise


def _missing_folders(path):
    """The folders of ``path`` that do not exist yet, deepest first."""
    missing, folder = [], os.path.abspath(path)
    while not os.path.exists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    return missing


def _compared(model_paths, output_dir, options, log):
    """``compare``, once its options are checked."""
    from keras_mixer.files import our_png, write_json

    if "browser" in options.runtimes:  # before any conversion: say now what is missing
        browser.check_available()
    models = _checked_models(model_paths, output_dir, options, log)
    json_path = os.path.join(output_dir, COMPARE_JSON)
    png_path = os.path.join(output_dir, COMPARE_PNG)
    if os.path.exists(png_path) and not our_png("comparison")(png_path):
        raise ValueError(f"{png_path} exists and is not a comparison plot keras-mixer wrote.")
    earlier = _earlier(json_path, models)
    if os.path.exists(png_path):  # the earlier run's plot: it would sit beside other results
        os.remove(png_path)
    results = {
        "models": models,
        "options": dataclasses.asdict(options),
        "conversions": {},
        "rows": [],
    }

    def saved():  # after every finished step: an interruption keeps it
        write_json(results, json_path)

    _convert_all(results, earlier, output_dir, options, saved, log)
    if "litert" in options.runtimes:
        _benchmark_all(results, output_dir, options, saved, log)
    if "browser" in options.runtimes:
        browser.compared_in_page(results, options, output_dir, saved, log)
    results["front"], results["recommended"] = {}, {}
    accuracy = accuracy_of(results)
    for runtime in options.runtimes:
        counts = sorted({r["threads"] for r in rows_of(results["rows"], runtime)})
        at = {n: points_at(results["rows"], n, accuracy, runtime) for n in counts}
        results["front"][runtime] = {str(n): [p.name for p in pareto(at[n])] for n in at}
        results["recommended"][runtime] = {str(n): recommend(at[n], options.within) for n in at}
    results["targets"] = targets(results)
    saved()
    plot(results, png_path)
    log(table(results))
    log(targets_text(results["targets"]))
    return results


def _checked_models(model_paths, output_dir, options, log):
    """{name: path} of the models to compare (the variants built for the
    deployment view), or a ValueError naming what is wrong."""
    if options.variants:
        if model_paths:
            raise ValueError("Give models or --variants, not both.")
        model_paths = variants_lib.variant_models(options, output_dir, log)
    models = {variants_lib.stem(path): path for path in model_paths}
    given = [path for path in model_paths if path.lower().endswith(".tflite")]
    if given:
        raise ValueError(
            f"{given[0]}: compare converts .keras models; to time .tflite files side by side, "
            "use convert benchmark FILES"
        )
    if not models:
        raise ValueError("Give .keras models to compare, or variants.")
    if len(models) != len(model_paths):
        raise ValueError("Two models share a file name; give each its own name.")
    from keras_mixer.files import check_input

    for path in model_paths:
        check_input(path)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ValueError(f"Output {output_dir!r} is a file, not a folder.")
    os.makedirs(output_dir, exist_ok=True)
    return models


def _convert_all(results, earlier, output_dir, options, saved, log):
    """Every model in every mode into ``results["conversions"]``, saved after each."""
    import keras_mixer
    from keras_mixer.datasets import files_digest, settings_for_model
    from keras_mixer.download import file_sha256

    total = len(results["models"]) * len(options.modes)
    for name, path in results["models"].items():
        # Everything that decides the files and their scores: reuse keys on it.
        try:
            data = settings_for_model(keras_mixer.load_model(path), path, options.dataset)
        except ValueError as error:  # which model, when several are compared
            raise ValueError(f"{path}: {error}") from None
        key = {"model_sha256": file_sha256(path), **options.conversion_key()}
        key["data"] = {k: v for k, v in data.report().items() if k in DATA_KEY}
        key["data"].update({k: data.config[k] for k in ("train_split", "val_split", "data_dir")})
        key["data_files"] = files_digest(options.dataset)
        for mode in options.modes:
            step = f"[{len(results['conversions']) + 1}/{total}] {name} {mode}"
            results["conversions"][f"{name}_{mode}"] = _converted(
                path, key, data, mode, output_dir, options, earlier, step, log
            )
            saved()


# The data settings that decide a conversion (not where each came from).
DATA_KEY = ("dataset", "image_size", "eval_crop", "resize_method", "val_fraction")


def _benchmark_all(results, output_dir, options, saved, log):
    """Every file at every thread count into ``results["rows"]``, saved after each count."""
    from convert.benchmark import benchmark, cpu_description

    files = [os.path.join(output_dir, f"{key}.tflite") for key in results["conversions"]]
    log(cpu_description())
    for count in options.threads:
        log(f"benchmarking {len(files)} files at {count} thread(s)")
        measured = benchmark(files, (count,), options.runs, log=log)
        results["rows"] += [_row(row, results["conversions"]) for row in measured["results"]]
        results["machine"] = measured["machine"]
        saved()


def _earlier(json_path, models):
    """The conversions of an earlier run of this comparison in the folder;
    a ValueError when the folder holds another comparison."""
    from keras_mixer.files import json_object

    if not os.path.exists(json_path):
        return {}
    found = json_object(json_path, "models", "conversions")
    if found is None:
        raise ValueError(f"{json_path} exists and is not a comparison; choose another folder.")
    if _same_files(found["models"]) != _same_files(models):
        raise ValueError(
            f"{os.path.dirname(json_path) or '.'} holds a comparison of other models "
            f"({', '.join(found['models'].values())}); choose another folder."
        )
    return found.get("conversions", {})


def _same_files(models):
    """{name: absolute path}: the same files however the command line spelled them."""
    return {name: os.path.abspath(path) for name, path in models.items()}


def _converted(path, key, data, mode, output_dir, options, earlier, step, log):
    """The conversion of ``path`` in ``mode`` with the data settings ``data``
    (reused when an earlier run made it with the same ``key``): its file and
    what its report measured."""
    name = f"{variants_lib.stem(path)}_{mode}"
    output = os.path.join(output_dir, f"{name}.tflite")
    before = earlier.get(name)
    if before and before["key"] == key and os.path.exists(output):
        log(f"{step}: reused {output}")
        return before
    from convert.pipeline import to_tflite

    log(f"{step}: converting")
    try:
        report = to_tflite(
            path,
            output,
            mode=mode,
            dataset=options.dataset,
            eval_images=options.eval_images,
            debug_images=0,
            data=data,
            log=lambda line: log(f"  {line}"),
        )
    except ValueError as error:  # which model, when several are compared
        raise ValueError(f"{path}: {error}") from None
    recipe = modes.get(mode)
    published = variants_lib.published(path, options)
    return {
        **published,
        "key": key,
        "file": output,
        "mode": mode,
        "size_bytes": report["size_bytes"],
        "top1": report["accuracy"][recipe.report_key],
        "float_top1": report["accuracy"]["float"],
        "top1_agreement": report["top1_agreement"],
        "relative_l2": report["relative_l2"],
    }


def _row(measured, conversions):
    name = measured["name"]
    conversion = conversions[name]
    return {
        "name": name,
        "runtime": "litert",
        **{k: conversion[k] for k in ("mode", "size_bytes", "top1", "top1_agreement")},
        **{k: conversion[k] for k in variants_lib.PUBLISHED if k in conversion},
        "relative_l2": conversions[name]["relative_l2"],
        **{
            k: measured[k]
            for k in ("threads", "median_ms", "p10_ms", "p90_ms", "load_ms", "peak_memory_mb")
        },
        "partitions": measured["partitions"],
    }


# ------------------------------------------------------------------ the command


def command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """``convert compare`` as ``parser`` (``convert.cli``'s) read its command line."""
    from mixer_base.commands import run_command

    options = CompareOptions(
        modes=_names(args.modes),
        threads=args.threads,
        dataset=args.data,
        runs=args.runs,
        within=args.within,
        eval_images=args.eval_images,
        variants=_names(args.variants),
        variant_size=args.variant_size,
        weights=args.weights,
        runtimes=_names(args.runtime),
    )
    if not args.models and not options.variants:
        parser.error("give .keras models, or --variants")
    json_path = os.path.join(args.output, COMPARE_JSON)
    run_command(
        lambda: compare(args.models, args.output, options),
        (ValueError, OSError, browser.PageError),
        args.debug,
        f"every finished conversion and benchmark is kept in {json_path}; run again to go on "
        "(finished conversions are reused, the benchmarks run again)",
        extra="convert",
    )


def _names(text):
    """("a", "b") from "a, b,"."""
    return tuple(name.strip() for name in text.split(",") if name.strip())
