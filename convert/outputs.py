"""The files a conversion writes beside its model, and the checks that
refuse, before any work, a path that would replace a file of the user's."""

from __future__ import annotations

import os

from convert.benchmark import output_files as benchmark_outputs
from keras_mixer.files import check_outputs, json_with, starts_with


def check_output(output: str, options: object = None, benchmark: bool = False) -> None:
    """Refuses, before any work, an output that is not a ``.tflite`` path (so
    never the input model), a directory, in a missing folder, or an existing
    file of another kind; the same for the files written beside it (the
    report, the ``--keep-float`` model, ``--benchmark``'s float32 twin and
    results), so no side file replaces a file of the user's. ``options``: a
    ``convert.pipeline.ConvertOptions``."""
    check_outputs(output_files(output, options, benchmark))


def output_files(output: str, options: object = None, benchmark: bool = False) -> list:
    """(path, suffix, ours, what) of every file a conversion to ``output`` writes."""
    tflite_file = (".tflite", starts_with(b"TFL3", 4), "a TFLite model")  # the file identifier
    report_file = (".json", json_with("mode", "accuracy"), "a conversion report")
    found = [(output, *tflite_file), (report_path(output), *report_file)]
    if options is not None and options.keep_float:
        found.append((keep_float_path(output, options.keep_float), *tflite_file))
    if benchmark:
        twin, results = benchmark_paths(output)
        found += [
            (twin, *tflite_file),
            (report_path(twin), *report_file),
            *benchmark_outputs(results),
        ]
    return found


def keep_float_path(output: str, layers: int) -> str:
    """The ``--keep-float`` model written beside ``output``."""
    return f"{os.path.splitext(str(output))[0]}_keep_float{layers}.tflite"


def benchmark_paths(output: str) -> tuple[str, str]:
    """The float32 twin and the results ``convert --benchmark`` writes beside ``output``."""
    stem = os.path.splitext(str(output))[0]
    return f"{stem}_float32.tflite", f"{stem}_benchmark.json"


def report_path(output: str) -> str:
    """The report written beside ``output``."""
    return os.path.splitext(str(output))[0] + ".json"
