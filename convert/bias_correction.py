"""Bias correction (Nagel et al., 2019, "Data-Free Quantization Through Weight
Equalization and Bias Correction", its empirical form): rounding a layer's
weights to int8 moves the mean of its outputs by E[x] (W_q - W); that shift,
measured on the calibration images with every activation in float, is taken
off the layer's bias, which the file keeps in int32 (finer than any int8
tensor)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras

from convert.quantize import kernel_and_bias, quantised_kernel, tapped, weight_layers


class _FloatTap:
    """A ``convert.quantize`` tap that leaves every tensor and weight in float."""

    quantise_weights = False

    def __call__(self, quantizer, tensor, quantised):
        return tensor


def correct_biases(quantised: tf_keras.Model, images: np.ndarray, batch_size: int = 16) -> dict:
    """Takes the shift quantising its kernel gives each trainable Dense and
    Conv2D layer of ``quantised`` off its bias, measured on ``images`` (raw
    pixels). Returns what it did: the layers corrected and the largest shift
    relative to the RMS of its layer's bias and shift."""
    layers = [layer for layer in weight_layers(quantised) if layer.layer.trainable]
    means = input_means(quantised, layers, images, batch_size)
    largest = 0.0
    for layer, mean in zip(layers, means):
        kernel, bias = kernel_and_bias(layer)
        error = quantised_kernel(layer).numpy() - kernel.numpy()
        shift = _output_shift(layer.layer, mean, error)
        scale = float(np.sqrt(np.mean(np.square(bias.numpy())) + np.mean(np.square(shift))))
        largest = max(largest, float(np.abs(shift).max()) / max(scale, 1e-12))
        bias.assign(bias.numpy() - shift)
    return {"layers": len(layers), "largest_relative_shift": largest}


def input_means(
    quantised: tf_keras.Model,
    layers: list[tf_keras.layers.Layer],
    images: np.ndarray,
    batch_size: int = 16,
) -> list[np.ndarray]:
    """The float mean of each layer's input over ``images``: over every axis
    but the last for Dense, over the batch for Conv2D (a mean image)."""
    probe = tf_keras.Model(quantised.inputs, [layer.input for layer in layers])
    axes = [
        tuple(range(len(layer.input.shape) - 1))
        if isinstance(layer.layer, tf_keras.layers.Dense)
        else (0,)
        for layer in layers
    ]
    tap = _FloatTap()

    @tf.function(input_signature=[tf.TensorSpec((None, *quantised.input_shape[1:]))])
    def sums(batch):
        with tapped(quantised, tap):
            found = probe(batch, training=False)
        found = found if isinstance(found, list) else [found]
        return [tf.reduce_sum(value, axis) for value, axis in zip(found, axes)]

    totals, counts = None, [0] * len(layers)
    for start in range(0, len(images), batch_size):
        batch = np.asarray(images[start : start + batch_size], np.float32)
        found = [value.numpy().astype(np.float64) for value in sums(batch)]
        totals = found if totals is None else [a + b for a, b in zip(totals, found)]
        for i, layer in enumerate(layers):
            counts[i] += len(batch) * int(np.prod([layer.input.shape[a] or 1 for a in axes[i][1:]]))
    return [total / count for total, count in zip(totals, counts)]


def _output_shift(layer, mean, kernel_error):
    """The mean output change of ``layer`` when its kernel changes by
    ``kernel_error``, for an input of mean ``mean``."""
    if isinstance(layer, tf_keras.layers.Dense):
        return mean @ kernel_error
    shifted = tf.nn.conv2d(
        mean[None].astype(np.float32),
        kernel_error.astype(np.float32),
        layer.strides,
        layer.padding.upper(),
    )
    return tf.reduce_mean(shifted, axis=(0, 1, 2)).numpy()
