"""Single-op tf_keras layers for the deployment graph.

Each layer computes what one TFLite op computes, so each int8 tensor of the
converted model is the output of exactly one layer, where
``convert.quantize`` puts its fake-quantisation. ``output_range`` fixes a
layer's int8 range (its quantiser then never changes): a clamp by design, or
the fixed output scale TFLite gives an op.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tf_keras

# TFLite's fixed int8 output ranges: TANH scale 1/128, zero point 0;
# LOGISTIC and SOFTMAX scale 1/256, zero point -128.
TANH_RANGE = (-1.0, 127 / 128)
PROBABILITY_RANGE = (0.0, 255 / 256)


class OpLayer(tf_keras.layers.Layer):
    """A layer of one op; ``output_range`` (min, max) fixes its int8 range."""

    def __init__(self, output_range: tuple[float, float] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.output_range = None if output_range is None else tuple(output_range)

    def get_config(self) -> dict:
        return {**super().get_config(), "output_range": self.output_range}


class Pixels(OpLayer):
    """The input as it is (no op): where the input's int8 range is set."""

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return x


class Mean(OpLayer):
    """Mean over the last axis, kept (MEAN)."""

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(x, -1, keepdims=True)


class Difference(OpLayer):
    """a - b, broadcasting (SUB)."""

    def call(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        return inputs[0] - inputs[1]


class Product(OpLayer):
    """a * b, broadcasting (MUL)."""

    def call(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        return inputs[0] * inputs[1]


class SquaredDifference(OpLayer):
    """(a - b)^2 (SQUARED_DIFFERENCE)."""

    def call(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        return tf.math.squared_difference(inputs[0], inputs[1])


class AddConstant(OpLayer):
    """x + constant (ADD)."""

    def __init__(self, constant: float, **kwargs: Any):
        super().__init__(**kwargs)
        self.constant = float(constant)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return x + self.constant

    def get_config(self) -> dict:
        return {**super().get_config(), "constant": self.constant}


class Rsqrt(OpLayer):
    """1 / sqrt(x) (RSQRT)."""

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return tf.math.rsqrt(x)


class Gelu(OpLayer):
    """GELU as TFLite's own op (GELU), in the form the Mixer was trained with."""

    def __init__(self, approximate: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self.approximate = bool(approximate)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return tf.nn.gelu(x, approximate=self.approximate)

    def get_config(self) -> dict:
        return {**super().get_config(), "approximate": self.approximate}


class Activation(OpLayer):
    """A Keras activation by name ("tanh": TANH, "sigmoid": LOGISTIC,
    "softmax": SOFTMAX, ...)."""

    def __init__(
        self,
        activation: str,
        output_range: tuple[float, float] | None = None,
        **kwargs: Any,
    ):
        super().__init__(output_range, **kwargs)
        self.activation = activation
        self._function = tf_keras.activations.get(activation)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return self._function(x)

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": self.activation}


class ChannelScale(OpLayer):
    """x * weight over the last axis (MUL by a constant); LayerNorm's gamma."""

    def build(self, input_shape: tf.TensorShape) -> None:
        self.weight = self.add_weight("gamma", (input_shape[-1],), initializer="ones")

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return x * self.weight


class ChannelShift(OpLayer):
    """x + weight over the last axis (ADD of a constant); LayerNorm's beta."""

    def build(self, input_shape: tf.TensorShape) -> None:
        self.weight = self.add_weight("beta", (input_shape[-1],), initializer="zeros")

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return x + self.weight


# The TFLite op each layer becomes (for reports).
_TFLITE_OPS = {
    "Mean": "MEAN",
    "Difference": "SUB",
    "Product": "MUL",
    "SquaredDifference": "SQUARED_DIFFERENCE",
    "AddConstant": "ADD",
    "Rsqrt": "RSQRT",
    "Gelu": "GELU",
    "ChannelScale": "MUL",
    "ChannelShift": "ADD",
    "Dense": "FULLY_CONNECTED",
    "Conv2D": "CONV_2D",
    "Add": "ADD",
    "GlobalAveragePooling1D": "MEAN",
}
_ACTIVATION_OPS = {"tanh": "TANH", "sigmoid": "LOGISTIC", "softmax": "SOFTMAX"}


def tflite_op(layer: tf_keras.layers.Layer) -> str:
    """The name of the TFLite op a graph layer becomes."""
    if isinstance(layer, Activation):
        return _ACTIVATION_OPS.get(layer.activation, layer.activation.upper())
    return _TFLITE_OPS.get(type(layer).__name__, type(layer).__name__)
