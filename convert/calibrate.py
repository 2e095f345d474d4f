"""Calibration in TensorFlow: the int8 range of every tensor of a quantised
graph (``convert.quantize``) from calibration images, run in batches.

One pass over the float graph records each tensor's minimum and maximum;
for the histogram estimators it also fills a ``BINS``-bin histogram of each
tensor, over the span the first batch showed widened 2x (values beyond land
in the edge bins), from the batches after it, and the range is chosen from
it. Their statistics, span included, come from every ``SAMPLE_STRIDE``-th
value of the large tensors (``sampled``; ``minmax`` sees every value):

- ``minmax``: the whole span (never clips);
- ``percentile``: the ``PERCENTILE``-th and (100 - ``PERCENTILE``)-th
  percentiles (clips the rarest outliers);
- ``mse``: the range with the least expected squared error, clipping plus
  rounding (step^2 / 12), over a grid of shrunken spans.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tf_keras

from convert.modes import ESTIMATORS, INT8_LEVELS
from convert.quantize import range_quantizers, set_ranges, tapped

BINS = 2048
PERCENTILE = 99.99
# Histograms of tensors of at least SAMPLED_SIZE values per image sample every
# 17th value (a stride prime to the layer widths, so no channel is left out):
# 1/17 of the cost, and still ~10^4 values past the 99.99th percentile over
# 200 Mixer-B/16 images. Smaller tensors (the logits) are counted whole.
SAMPLE_STRIDE = 17
SAMPLED_SIZE = 4096


class _Observer:
    """A ``convert.quantize`` tap: the float graph runs (nothing quantised)
    and the span of every calibrated tensor is recorded, with its histogram
    over ``self.bins[name]`` when ``histograms``."""

    quantise_weights = False

    def __init__(self, histograms):
        self.histograms, self.bins, self.outputs = histograms, {}, {}

    def __call__(self, quantizer, tensor, quantised):
        if quantizer.fixed_range is not None:
            return tensor
        if not self.histograms:
            self.outputs[quantizer.name] = {"span": _span(tensor)}
            return tensor
        sample = sampled(tensor)
        self.outputs[quantizer.name] = {
            "span": _span(sample),
            "counts": (tf.histogram_fixed_width(sample, self.bins[quantizer.name], nbins=BINS)),
        }
        return tensor


def sampled(tensor: tf.Tensor) -> tf.Tensor:
    """The values of ``tensor`` that its statistics are taken from, flat: every
    ``SAMPLE_STRIDE``-th of a tensor of at least ``SAMPLED_SIZE`` values an
    image, all of a smaller one."""
    stride = SAMPLE_STRIDE if np.prod(tensor.shape[1:]) >= SAMPLED_SIZE else 1
    return tf.reshape(tensor, [-1])[::stride]


def _span(tensor):
    return tf.stack([tf.reduce_min(tensor), tf.reduce_max(tensor)])


def observer(
    quantised: tf_keras.Model, histograms: bool
) -> tuple[list[str], Callable[[np.ndarray, dict], dict]]:
    """``run(batch, bins)``: the float graph of ``quantised`` on a batch of
    raw pixels, giving {tensor name: {"span": (min, max), "counts": its
    histogram over bins[name]}} as numpy. Traced once: the bins are an input."""
    names = [name for name, q in range_quantizers(quantised).items() if q.fixed_range is None]
    tap = _Observer(histograms)

    @tf.function(
        input_signature=[
            tf.TensorSpec((None, *quantised.input_shape[1:])),
            {name: tf.TensorSpec([2]) for name in names},
        ]
    )
    def traced(batch, bins):
        tap.bins = bins
        with tapped(quantised, tap):
            quantised(batch, training=False)
        return dict(tap.outputs)

    def run(batch, bins):
        found = traced(np.asarray(batch, np.float32), bins)
        return tf.nest.map_structure(lambda value: value.numpy(), found)

    return names, run


def calibrate(
    quantised: tf_keras.Model, images: np.ndarray, estimator: str = "minmax", batch_size: int = 16
) -> dict[str, tuple[float, float]]:
    """Sets every trainable range of ``quantised`` from ``images`` (raw
    pixels) with ``estimator``; returns {tensor name: (min, max)}."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"Calibration must be one of {', '.join(ESTIMATORS)}; got {estimator!r}.")
    if len(images) == 0:
        raise ValueError("Calibration needs at least one image.")
    choose = {"percentile": percentile_range, "mse": mse_range}.get(estimator)
    names, run = observer(quantised, histograms=choose is not None)
    bins = {name: np.array([0.0, 1.0], np.float32) for name in names}
    spans, histograms, counted_from = {}, {}, 0
    if choose:  # histograms over the span the first batch shows, widened 2x
        for name, values in run(images[:batch_size], bins).items():
            spans[name] = values["span"]
            low, high = _with_zero(*values["span"])
            bins[name] = np.array(
                [low - (high - low) / 2 if low < 0 else 0.0, high + (high - low) / 2], np.float32
            )
        # The histograms count the other batches (the first one if it is all there is).
        counted_from = batch_size if len(images) > batch_size else 0
    for start in range(counted_from, len(images), batch_size):
        for name, values in run(images[start : start + batch_size], bins).items():
            low, high = values["span"]
            old = spans.get(name, (np.inf, -np.inf))
            spans[name] = (min(old[0], low), max(old[1], high))
            if choose:
                histograms[name] = histograms.get(name, 0) + values["counts"].astype(np.int64)
    chosen = {name: _with_zero(low, high) for name, (low, high) in spans.items()}
    if choose:
        for name, (low, high) in list(chosen.items()):
            found = choose(histograms[name], *bins[name])
            chosen[name] = _with_zero(max(found[0], low), min(found[1], high))
    chosen.update(
        {
            name: q.fixed_range
            for name, q in range_quantizers(quantised).items()
            if q.fixed_range is not None
        }
    )
    set_ranges(quantised, chosen)
    return chosen


def _with_zero(low, high):
    """A range holding zero (int8 represents it exactly) and not empty."""
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    return low, max(high, low + 1e-6)


def percentile_range(
    counts: np.ndarray, low: float, high: float, percentile: float = PERCENTILE
) -> tuple[float, float]:
    """The (100 - percentile, percentile) percentiles of a histogram over [low, high]."""
    edges = np.linspace(low, high, len(counts) + 1)
    cumulative = np.cumsum(counts) / max(counts.sum(), 1)
    tail = 1 - percentile / 100
    first = edges[np.searchsorted(cumulative, tail, side="right")]
    last = edges[min(np.searchsorted(cumulative, 1 - tail, side="left") + 1, len(counts))]
    return _with_zero(max(first, low), min(last, high))


def mse_range(
    counts: np.ndarray, low: float, high: float, candidates: int = 24
) -> tuple[float, float]:
    """The range, among [a * low, b * high] for a and b on a grid from 0.1
    to 1, with the least expected squared int8 error over a histogram on
    [low, high]: clipping error plus rounding noise (step^2 / 12)."""
    centres = low + (np.arange(len(counts)) + 0.5) * (high - low) / len(counts)
    weights = counts / max(counts.sum(), 1)
    shrink = np.linspace(0.1, 1.0, candidates)
    lows, highs = low * shrink[:, None], high * shrink[None, :]  # (a, 1), (1, b)
    errors = np.empty((candidates, candidates))
    for i, candidate_low in enumerate(lows[:, 0]):
        clipped = np.clip(centres[None, :], candidate_low, highs.T)  # (b, bins)
        steps = (highs[0] - candidate_low) / INT8_LEVELS
        errors[i] = ((centres - clipped) ** 2 @ weights) + steps**2 / 12
    i, j = np.unravel_index(np.argmin(errors), errors.shape)
    return _with_zero(lows[i, 0], highs[0, j])
