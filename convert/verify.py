"""How far a conversion moved the model: per-layer int8 error in
TensorFlow, and the scores' agreement with the float model and with the
fake-quantised graph the file came from."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf
import tf_keras

from convert.calibrate import sampled
from convert.graph import POOLED
from convert.layers import tflite_op
from convert.modes import INT8_LEVELS
from convert.quantize import range_quantizers, tapped
from convert.xnnpack import GATE_INPUT
from keras_mixer.architecture import HEAD

if TYPE_CHECKING:
    import keras


class _ErrorTap:
    """The quantised graph, measuring what each int8 tensor's own quantiser
    changes over the values calibration samples (``convert.calibrate.sampled``):
    how many, the sum of their squared differences, and how many it moved by
    more than half a step (those outside the range: clipped)."""

    quantise_weights = True

    def __init__(self):
        self.outputs = {}

    def __call__(self, quantizer, tensor, quantised):
        error = sampled(quantised) - sampled(tensor)
        low, high = quantizer.range_tensors()
        moved = tf.abs(error) * (2 * INT8_LEVELS / 1.001) > high - low  # by over half a step
        self.outputs[quantizer.name] = tf.stack(
            [
                tf.cast(tf.size(error), tf.float32),
                tf.reduce_sum(tf.square(error)),
                tf.reduce_sum(tf.cast(moved, tf.float32)),
            ]
        )
        return quantised


# The per-layer error runs eagerly, in batches of ERROR_BATCH: tracing its
# graph of ~10^4 ops (5-9 s for a Mixer-S/16) costs more than the eager
# overhead of the few batches it measures (~0.5 s each); at batch 16 a
# Mixer-B/16 holds 0.33 GB more. Measuring sampled values, not all: S/16, 16
# images, 4.6 -> 3.1 s. The other images' scores come from one trace of the
# plain fake-quantised graph (1,000 MNIST images: 7 s, 35 s eagerly).
ERROR_BATCH = 16


def quantised_pass(
    quantised: tf_keras.Model,
    images: np.ndarray,
    error_images: int = 0,
    batch_size: int = ERROR_BATCH,
) -> tuple[np.ndarray, list[dict]]:
    """The fake-quantised graph's scores on ``images`` (raw pixels) and, over
    the first ``error_images`` of them, the per-layer error: one row per
    int8 tensor, worst first (``layer_rows``)."""
    error_images = min(error_images, len(images))
    tap, scores, totals = _ErrorTap(), [], {}
    for start in range(0, error_images, batch_size):
        batch = np.asarray(images[start : min(start + batch_size, error_images)], np.float32)
        with tapped(quantised, tap):
            scores.append(quantised(batch, training=False).numpy())
        for name, values in tap.outputs.items():
            totals[name] = totals.get(name, 0) + values.numpy().astype(np.float64)
    if error_images < len(images):
        scores.append(scores_of(quantised, images[error_images:]))
    return np.concatenate(scores), layer_rows(quantised, totals)


def keep_float_candidates(quantised: tf_keras.Model) -> list[str]:
    """The layers of a quantised graph that ``--keep-float`` can leave in
    float: its int8 tensors but the GELU gate's input (clamped by design) and
    MEANs (left unquantised, the converter gives a MEAN its input's int8
    range instead of keeping it in float)."""
    layers = {
        layer.layer.name: layer.layer for layer in quantised.layers if hasattr(layer, "layer")
    }
    return [
        name
        for name in range_quantizers(quantised)
        if not name.endswith(GATE_INPUT) and tflite_op(layers[name]) != "MEAN"
    ]


def layer_rows(quantised: tf_keras.Model, totals: dict) -> list[dict]:
    """Per-layer error rows, worst first, from the accumulated ``_ErrorTap`` sums.

    ``rmse_per_scale``: the RMSE the tensor's own quantisation adds (the op
    fed the quantised graph's inputs, before and after its int8 rounding and
    clipping), in steps of its scale: ~0.29 is pure rounding, above ~1 the
    range clips (``clipped``: the share of values outside it). The XNNPACK
    GELU's sigmoid input is left out: it is clamped where the sigmoid
    saturates, by design."""
    quantizers = range_quantizers(quantised)
    layers = {
        layer.layer.name: layer.layer for layer in quantised.layers if hasattr(layer, "layer")
    }
    rows = []
    for name, (count, squares, clipped) in totals.items():
        if name.endswith(GATE_INPUT):
            continue
        low, high = quantizers[name].range
        scale = (high - low) / INT8_LEVELS
        rows.append(
            {
                "layer": name,
                "op": tflite_op(layers[name]),
                "rmse_per_scale": float(np.sqrt(squares / count) / scale),
                "clipped": float(clipped / count),
                "scale": float(scale),
            }
        )
    return sorted(rows, key=lambda row: -row["rmse_per_scale"])


def scores_of(
    graph: tf_keras.Model | keras.Model, images: np.ndarray, batch_size: int = 16
) -> np.ndarray:
    """A Keras model's outputs on ``images`` (what its input takes: raw pixels
    for the deployment graphs), in batches, through one traced function
    (``predict`` costs 1.5 s more on a Mixer-S/16 for 50 images)."""
    function = tf.function(
        lambda x: graph(x, training=False),
        input_signature=[tf.TensorSpec((None, *graph.input_shape[1:]))],
    )
    return np.concatenate(
        [
            function(np.asarray(images[i : i + batch_size], np.float32)).numpy()
            for i in range(0, len(images), batch_size)
        ]
    )


def fidelity(
    tflite_scores: np.ndarray, graph_scores: np.ndarray, output_scale: float, max_steps: int = 2
) -> dict:
    """How faithfully a TFLite model computes the fake-quantised graph it
    came from: top-1 agreement (also counting as agreeing a TFLite top-1
    within one output step of the graph's top score: a tie at int8
    resolution, which one step of rounding decides either way), and the
    share of images whose every output lies within ``max_steps`` output
    quantisation steps of the graph's."""
    tflite_scores, graph_scores = np.asarray(tflite_scores), np.asarray(graph_scores)
    steps = np.abs(tflite_scores - graph_scores).max(-1) / output_scale
    chosen = np.take_along_axis(graph_scores, tflite_scores.argmax(-1)[:, None], -1)[:, 0]
    tied = chosen >= graph_scores.max(-1) - output_scale * 1.001
    return {
        "top1_agreement": agreement(tflite_scores, graph_scores),
        "top1_agreement_up_to_ties": float(np.mean(tied)),
        f"within_{max_steps}_steps": float(np.mean(steps <= max_steps + 1e-3)),
        "max_steps": float(steps.max()),
        "median_steps": float(np.median(steps)),
    }


def logits_quantisation(quantised: tf_keras.Model) -> tuple[float, int]:
    """(scale, zero point) of a quantised graph's int8 logits, as TFLite
    derives them from its range (the converter nudges zero onto a step)."""
    low, high = range_quantizers(quantised)["head"].range
    scale = (high - low) / INT8_LEVELS
    return scale, int(np.clip(np.round(-128 - low / scale), -128, 127))


def output_floor(
    reference_logits: np.ndarray,
    scale: float,
    zero_point: int,
    levels: tuple[int, int] = (-128, 127),
) -> dict:
    """How well an int8 output of (``scale``, ``zero_point``) can agree with
    the float model at best: the top-1 agreement of the model's own logits
    rounded to that output's steps (ties go to the first class, as argmax
    breaks them), and how many images their top two logits leave within one
    step of each other."""
    reference_logits = np.asarray(reference_logits, np.float64)
    rounded = np.clip(np.floor(reference_logits / scale + zero_point + 0.5), *levels)
    top_two = np.sort(reference_logits, -1)[:, -2:]
    return {
        "top1_agreement": agreement(rounded, reference_logits),
        "within_one_step": int(np.sum(top_two[:, 1] - top_two[:, 0] < scale)),
        "rounded": "logits",
        "step": float(scale),
    }


def span_step(logits: np.ndarray) -> float:
    """The step of an int8 range spanning ``logits`` (and zero): the unit
    ``fidelity`` measures float32 logits in, where the file has no output step."""
    logits = np.asarray(logits, np.float64)
    span = max(float(logits.max()), 0.0) - min(float(logits.min()), 0.0)
    return span / INT8_LEVELS if span > 0 else 1.0


class _PooledTap:
    """The float graph (no tensor rounded, float weights), keeping the pooled
    features before and after their own int8 rounding."""

    quantise_weights = False

    def __init__(self):
        self.pooled = None

    def __call__(self, quantizer, tensor, quantised):
        if quantizer.name == POOLED:
            self.pooled = (tensor, quantised)
        return tensor


def pooled_floor(quantised: tf_keras.Model, images: np.ndarray, batch_size: int = 64) -> dict:
    """What a file with float32 logits (a float head, ``--logits float32``)
    can agree with float at best: its last int8 tensor is the pooled
    features, so the floor is the top-1 agreement of the float graph's
    logits with the same graph's where only the pooled features are rounded
    to their int8 steps (``step``), and that rounding's ``relative_l2``."""
    tap = _PooledTap()

    def pooled(x):
        with tapped(quantised, tap):
            quantised(x, training=False)
        return tap.pooled

    function = tf.function(
        pooled, input_signature=[tf.TensorSpec((None, *quantised.input_shape[1:]))]
    )
    exact, rounded = (
        np.concatenate(parts)
        for parts in zip(
            *(
                [t.numpy() for t in function(np.asarray(images[i : i + batch_size], np.float32))]
                for i in range(0, len(images), batch_size)
            )
        )
    )
    kernel, bias = quantised.get_layer(HEAD).get_weights()
    logits, floor = exact @ kernel + bias, rounded @ kernel + bias
    low, high = range_quantizers(quantised)[POOLED].range
    return {
        "top1_agreement": agreement(floor, logits),
        "rounded": POOLED,
        "step": (high - low) / INT8_LEVELS,
        "relative_l2": relative_l2(floor, logits),
    }


def agreement(scores: np.ndarray, reference: np.ndarray) -> float:
    """Share of images where two models' top-1 classes agree."""
    return float(np.mean(np.argmax(scores, -1) == np.argmax(reference, -1)))


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of scores against class indices."""
    return float(np.mean(np.argmax(scores, -1) == labels))


def relative_l2(scores: np.ndarray, reference: np.ndarray) -> float | None:
    """||scores - reference|| / ||reference|| over all images and classes;
    None when the reference is all zeros (a fresh model's zero head: no scale
    to measure against)."""
    reference = np.asarray(reference, np.float64)
    scale = np.linalg.norm(reference)
    if scale == 0:
        return None
    return float(np.linalg.norm(np.asarray(scores) - reference) / scale)


def l2_text(distance: float | None, digits: int = 4) -> str:
    """A ``relative_l2`` for a log line: "n/a" when the reference was all zeros."""
    return (
        "n/a (the Keras model's scores are all zero)"
        if distance is None
        else f"{distance:.{digits}f}"
    )
