"""Stages graph -> quantise (calibrate; QAT trains) -> convert: a keras_mixer
model to a TFLite flatbuffer (``Converted``), float or full-integer."""

from __future__ import annotations

import contextlib
import dataclasses
import gc

import numpy as np
import tensorflow as tf

from convert import checks, forms, tflite, verify
from convert.graph import build_graph, layer_norm_variances, model_values
from convert.options import ConvertOptions
from keras_mixer.architecture import HEAD


@dataclasses.dataclass
class Converted:
    """Stages graph -> quantise -> train -> convert: a TFLite model and the
    graph it was converted from (for int8, the fake-quantised graph, and the
    ``convert.forms`` form it was built in), with what calibration and QAT
    did (their report sections)."""

    flatbuffer: bytes
    graph: object
    spec: dict
    logits: bool  # the output is logits (softmax left to the app)
    form: object = None  # a convert.forms.Form
    calibration: dict | None = None
    qat: dict | None = None
    calibrated_top1: float | None = None  # QAT: the calibrated graph's, in TensorFlow


@contextlib.contextmanager
def without_grappler():
    """TensorFlow's graph optimiser off for the conversion's own functions: on
    these graphs of thousands of small ops it costs more on each function's
    first call (16 s for a Mixer-B/16's traced per-layer error pass, measured) than it saves."""
    option = "disable_meta_optimizer"
    before = tf.config.optimizer.get_experimental_options().get(option, False)
    tf.config.optimizer.set_experimental_options({option: True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({option: before})


def float_model(model, spec, samples, options, clock):
    """Stages graph -> convert for a float mode (float32, fp16, dynamic)."""
    plain = build_graph(spec, model_values(model), batch_size=None)
    with without_grappler():
        flatbuffer = tflite.convert(plain, options.recipe)
    clock.stage("convert")
    return Converted(flatbuffer, plain, spec, spec["classifier_activation"] is None)


def integer_model(model, spec, samples, options, clock):
    """Stages graph -> quantise (calibrate, and train for QAT) -> convert.
    Int8 graphs output logits: the classifier activation is the app's."""
    from convert.calibrate import calibrate

    values = model_values(model)
    images = samples.take_calibration()
    quantised, graph_form = fake_quantised_graph(spec, values, images, options)
    checks.check_keep_float(quantised, options)
    teacher = None  # QAT's: the float graph ``quantised`` learns to reproduce
    if options.recipe.trains:
        teacher = build_graph(spec, values, graph_form, batch_size=None, logits=True)
    del values  # the graphs hold their own copies (B/16: 240 MB)
    clock.stage("graph")
    with without_grappler():
        calibrate(quantised, images, options.calibration, options.calibration_batch_size)
        calibration = {
            "estimator": options.calibration,
            "images": len(images),
            "per_channel": options.per_channel,
        }
        clock(
            f"calibrated the {options.graph} graph's ranges ({options.calibration}, "
            f"{len(images)} images; weights per "
            f"{'output unit' if options.per_channel else 'Dense matrix'})"
        )
        if options.bias_correction:
            from convert.bias_correction import correct_biases

            calibration["bias_correction"] = correct_biases(
                quantised, images, options.calibration_batch_size
            )
            clock(f"bias correction: {calibration['bias_correction']['layers']} layers")
        del images  # not needed again: the converter's memory peak is then its own
        gc.collect()
        clock.stage("calibrate")
        qat = calibrated_top1 = None
        if teacher is not None:
            qat, calibrated_top1 = train_qat(quantised, teacher, samples, options, clock)
            del teacher
            clock.stage("train")
        flatbuffer = tflite.convert(quantised, options.recipe, options.io, options.logits)
    clock("converted to TFLite")
    clock.stage("convert")
    return Converted(
        flatbuffer, quantised, spec, True, graph_form, calibration, qat, calibrated_top1
    )


def fake_quantised_graph(
    spec: dict, values: dict, images: np.ndarray, options: ConvertOptions
) -> tuple[object, forms.Form]:
    """The fake-quantised deployment graph of ``options.graph`` (not yet
    calibrated) and its ``convert.forms`` form, fitted (XNNPACK's 1/sqrt)
    to the first calibration ``images``."""
    from convert.quantize import quantised_graph

    variances = None
    # (grappler on here: its fusions run the plain graph 2x as fast)
    if forms.form_class(options.graph).needs_variances:
        plain = build_graph(spec, values, batch_size=None)
        variances = layer_norm_variances(plain, images[:VARIANCE_IMAGES])
        del plain
        gc.collect()  # a tf_keras model's reference cycles hold its variables (B/16: 240 MB)
    graph_form = forms.form(options.graph, variances)
    quantised = quantised_graph(
        spec,
        values,
        graph_form,
        float_layers=float_layers(options),
        per_channel=options.per_channel,
    )
    return quantised, graph_form


def float_layers(options: ConvertOptions, kept: tuple = ()) -> tuple:
    """The layers of the int8 graph left in float: ``kept`` (``--keep-float``'s),
    and the head when ``options.logits`` is "float32" (``FLOAT_HEAD``)."""
    return (*kept, *(FLOAT_HEAD if options.logits == "float32" else ()))


def train_qat(quantised, teacher, samples, options, clock):
    """QAT: ``quantised`` distilled from ``teacher``, its float graph, then
    kept only if it beats the calibrated graph it started from on the
    held-back training images (``convert.qat.better``). Returns (what it
    did, the calibrated graph's top-1 on the evaluation images)."""
    from convert.qat import better, distil, held_back_score

    calibrated = verify.scores_of(quantised, samples.eval_pixels)
    calibrated_top1 = verify.accuracy(calibrated, samples.eval_labels)
    clock(f"calibrated graph (in TensorFlow): top-1 {calibrated_top1:.4f}")
    start = [variable.numpy() for variable in quantised.weights]
    before = held_back_score(quantised, samples.held_back, samples.held_back_logits)
    steps = options.qat_epochs * (options.qat_steps or samples.train_steps)
    clock(f"quantisation-aware training: {steps} steps of {options.qat_batch_size} images")
    found = distil(
        quantised, teacher, samples.train_batches, steps, options.qat_learning_rate, log=clock
    )
    after = held_back_score(quantised, samples.held_back, samples.held_back_logits)
    trained_wins, why = better(after, before)
    if not trained_wins:
        for variable, value in zip(quantised.weights, start):
            variable.assign(value)
    found["held_back"] = {"images": len(samples.held_back), "calibrated": before, "trained": after}
    found["written"] = "trained" if trained_wins else "calibrated"
    found["why"] = why
    clock(
        f"QAT on {len(samples.held_back)} held-back training images: calibrated agreement "
        f"{before['top1_agreement']:.4f}, relative L2 {verify.l2_text(before['relative_l2'])}; "
        f"trained {after['top1_agreement']:.4f}, {verify.l2_text(after['relative_l2'])}: "
        f"writing the {found['written']} graph ({why})"
    )
    return found, calibrated_top1


# Float logits (``--logits float32``): the head's Dense left in float, after
# the int8 pooled features (the last int8 tensor, ``convert.graph.POOLED``): the converter
# puts a DEQUANTIZE before it, and XNNPACK runs both in the int8 body's
# partition (measured: one partition on the digits, MNIST and Mixer-S/16).
FLOAT_HEAD = (HEAD,)

# The XNNPACK LayerNorms' 1/sqrt interpolation is fitted to the variances
# these many calibration images show (its range is widened 2x each way).
VARIANCE_IMAGES = 32
