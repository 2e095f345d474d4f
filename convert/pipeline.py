"""``to_tflite``: a keras_mixer model to a TFLite model plus its verification report.

A conversion is a short list of stages, each in a module of its own and
each returning its result:

1. options (``convert.options.ConvertOptions``, checked) and the data
   settings, resolved once with the model (``keras_mixer.datasets.data_settings``);
2. samples (``convert.samples``): evaluation, calibration and training images;
3. graph -> quantise -> train -> convert (``convert.building``): the TFLite
   model, with what calibration and QAT did;
4. metadata (``convert.metadata.with_metadata``);
5. verify (``convert.verification``), and keep-float (``convert.keep_float``);
6. write: the model and its report, as one pair.

The report (written as JSON beside the model) holds the op census with
every float op listed, the XNNPACK delegation, top-1 accuracy and agreement
with the Keras model on the evaluation split, the relative L2 distance of
the scores from the float model's, the file size and, for int8, how
faithfully the file computes the fake-quantised graph it came from, the
ranges' calibration and the per-layer int8 error (worst first).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import keras

from convert import building, checks, verify
from convert.clock import Clock
from convert.graph import mixer_spec
from convert.keep_float import keep_float
from convert.metadata import with_metadata
from convert.options import ConvertOptions
from convert.outputs import check_output, report_path
from convert.samples import load_samples
from convert.verification import report_of, verify_file
from keras_mixer.architecture import refuse_non_finite_weights
from keras_mixer.files import atomic_path, held, json_text

__all__ = ["ConvertOptions", "resolve_data", "to_tflite"]


def to_tflite(
    model: keras.Model | str,
    output: str,
    options: ConvertOptions | None = None,
    log: Callable[[str], None] = print,
    **settings: Any,
) -> dict:
    """Converts ``model`` (a keras_mixer classifier, or the path of its
    ``.keras`` file: then its run's ``config.json`` beside it gives the data
    settings the model does not carry), writes ``output`` and, beside it,
    the report (same name, .json), and returns the report.

    ``options``: a ``ConvertOptions``; ``settings`` override its fields
    (``to_tflite(model, path, mode="ptq", dataset="digits")``)."""

    options = dataclasses.replace(options or ConvertOptions(), **settings).checked()
    check_output(output, options)  # before any work
    with held(output):  # one conversion writes an output (and its report) at a time
        return _converted(model, output, options, log)


def resolve_data(
    options: ConvertOptions, model: keras.Model, model_path: str | None = None
) -> ConvertOptions:
    """``options`` with their data settings resolved for ``model`` (what it
    carries, the run config beside ``model_path``, the stated settings),
    unless they already are."""
    if options.data is not None:
        return options
    from keras_mixer.datasets import settings_for_model

    settings = settings_for_model(model, model_path, options.dataset, options.preprocessing)
    return dataclasses.replace(options, data=settings)


def _converted(model, output, options, log):
    """``to_tflite``'s stages, once its options and output are checked."""
    path = None
    if isinstance(model, (str, os.PathLike)):
        from keras_mixer import load_model

        path, model = str(model), load_model(model)
    mode = options.recipe
    spec = mixer_spec(model)  # a keras_mixer classifier, or a clear error
    refuse_non_finite_weights(model)
    if spec["classes"] is None:
        raise ValueError("Conversion needs a classifier: build the model with include_top=True.")
    options = resolve_data(options, model, path)
    clock = Clock(log)
    clock(options.data.line())
    samples = load_samples(model, options, clock)
    float_top1 = verify.accuracy(samples.keras_scores, samples.eval_labels)
    clock(f"Keras model: top-1 {float_top1:.4f}")
    clock.stage("samples")
    build = building.integer_model if mode.integer else building.float_model
    converted = build(model, spec, samples, options, clock)
    with building.without_grappler():
        flatbuffer = with_metadata(
            converted.flatbuffer,
            spec,
            options,
            samples.class_names,
            converted.logits,
            mode.report_key,
        )
        verification = verify_file(flatbuffer, converted, samples, options, clock)
        checks.warn_of_few_calibration_images(converted.calibration, verification, clock)
        kept = None
        if options.keep_float:
            errors = verification.found["layer_errors"]
            kept = keep_float(model, converted, samples, errors, options, output, clock)
    clock.stage("verify")
    report = report_of(options, float_top1, converted, verification, kept, flatbuffer, model)
    report["seconds"] = clock.stages
    json_path = report_path(output)
    # Both written before either is renamed into place: a pair from one run. The
    # model is written outside the report's block, so a failure names its file.
    with atomic_path(output) as model_part:
        with open(model_part, "wb") as f:
            f.write(flatbuffer)
        with atomic_path(json_path) as report_part, open(report_part, "w") as f:
            f.write(json_text(report))
    clock(f"wrote {output} ({len(flatbuffer) / 1024:.0f} KiB) and {json_path}")
    return report
