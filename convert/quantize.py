"""The fake-quantised graph, put together from tensorflow-model-optimization
(TFMOT) parts.

``quantised_graph`` builds the deployment graph (``convert.graph``) with
every layer wrapped, as it is made, in TFMOT's ``QuantizeWrapperV2`` with a
``LayerQuantizeConfig`` of ours (building it directly saves the several
model clones ``quantize_apply`` makes: minutes for a Mixer-B/16):

- weights (Dense and Conv2D kernels, LayerNorm gamma and beta) are
  fake-quantised from their own values (``WeightQuantizer``: symmetric,
  per output channel for convolutions, per tensor for Dense, which is what
  TFLite's int8 FULLY_CONNECTED takes from a QAT graph);
- each layer's output, the one int8 tensor it makes, gets a
  ``RangeQuantizer``: a [min, max] range fixed where TFLite fixes it (TANH,
  LOGISTIC, SOFTMAX, the relu6 ramps, the clamped GELU gate, the pixel
  input), otherwise set by calibration (``convert.calibrate``) and trained
  with the weights (``convert.qat``);
- Reshape and Permute stay unwrapped: TFLite passes their input's range through.

The TFLite converter then takes every range from the graph: no
representative dataset, so the file holds exactly the ranges calibrated and
trained here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator

import tensorflow as tf
import tf_keras

from convert.forms import Form
from convert.graph import build_graph
from convert.layers import ChannelScale, ChannelShift

RELU6_RANGE = (0.0, 6.0)
# XNNPACK runs an int8 ADD only while each input's scale is at least 2^-10 of
# its output's; the constant of a ChannelShift (a LayerNorm's beta) is given
# at least SHIFT_SPAN of its output's span, so an all-zero or tiny beta (an
# untrained model, a LayerNorm without bias) does not leave XNNPACK. Its values
# then round to steps of 1/512 of the output's, a quarter of the output's own rounding.
SHIFT_SPAN = 2.0**-9
PASS_THROUGH = (tf_keras.layers.Reshape, tf_keras.layers.Permute)


@contextlib.contextmanager
def tfmot_imported() -> Iterator[object]:
    """Imports TFMOT without leaking its side effect: it sets
    TF_USE_LEGACY_KERAS=1, which would switch later ``tf.keras`` users to Keras 2."""
    before = os.environ.get("TF_USE_LEGACY_KERAS")
    tf.keras.layers  # noqa: B018  resolves tf.keras to Keras 3 before TFMOT sets the variable
    import tensorflow_model_optimization as tfmot

    if before is None:
        os.environ.pop("TF_USE_LEGACY_KERAS", None)
    else:
        os.environ["TF_USE_LEGACY_KERAS"] = before
    yield tfmot


class TapSlot:
    """Where a quantised graph's quantizers find the tap they report to
    (``tapped``): one per ``wrapper``, shared by the quantizers it makes."""

    def __init__(self):
        self.tap = None
        self.kernels_on_grid = False  # see ``kernels_on_grid``


@contextlib.contextmanager
def tapped(quantised: tf_keras.Model, tap: Callable) -> Iterator[Callable]:
    """While tracing ``quantised`` (a ``quantised_graph``) in this context,
    each of its ``RangeQuantizer``s returns ``tap(quantizer, float_tensor,
    quantised_tensor)`` instead of the quantised tensor, and weights stay
    float unless ``tap.quantise_weights``: how calibration and the per-layer
    error observe every int8 tensor."""
    slots = _slots(quantised)
    previous = {key: slot.tap for key, slot in slots.items()}
    for slot in slots.values():
        slot.tap = tap
    try:
        yield tap
    finally:
        for key, slot in slots.items():
            slot.tap = previous[key]


def _slots(quantised):
    """{id: TapSlot} of the quantizers of a quantised graph."""
    return {
        id(layer.quantize_config.slot): layer.quantize_config.slot
        for layer in quantised.layers
        if isinstance(getattr(layer, "quantize_config", None), LayerQuantizeConfig)
    }


@contextlib.contextmanager
def kernels_on_grid(quantised: tf_keras.Model) -> Iterator[None]:
    """While converting ``quantised``: each Dense kernel quantised per output
    unit holds its values on its int8 grid, and its rounding ops
    (``quantised_weight``) stay out of the traced graph. The converter
    quantises a plain kernel onto that same grid (one scale per output row,
    max |w| / 127, which rounding leaves in place), so the file is the same;
    constant-folding the rounding ops over every kernel instead raised a
    Mixer-B/16 conversion's peak from 3.5 to 4.5 GB. The kernels are
    restored afterwards."""
    layers = [
        layer
        for layer in weight_layers(quantised)
        if layer.quantize_config.per_axis and isinstance(layer.layer, tf_keras.layers.Dense)
    ]
    kernels = [kernel_and_bias(layer)[0] for layer in layers]
    saved = [kernel.numpy() for kernel in kernels]
    for kernel in kernels:
        kernel.assign(quantised_weight(tf.convert_to_tensor(kernel), per_axis=True))
    slots = _slots(quantised).values()
    for slot in slots:
        slot.kernels_on_grid = True
    try:
        yield
    finally:
        for slot in slots:
            slot.kernels_on_grid = False
        for kernel, value in zip(kernels, saved):
            kernel.assign(value)


def _fake_quant(x, low, high, narrow_range=False):
    return tf.quantization.fake_quant_with_min_max_vars(x, low, high, narrow_range=narrow_range)


def quantised_weight(
    weight: tf.Tensor, per_axis: bool, symmetric: bool = True, least_span: tf.Tensor | float = 1e-12
) -> tf.Tensor:
    """A weight as the int8 file holds it: symmetric (int8 -127..127) for the
    kernels of FULLY_CONNECTED and CONV_2D, per output unit (the last axis)
    when ``per_axis``; the constant operand of a MUL or ADD
    (``symmetric=False``) over [min, max] with zero in it, at least
    ``least_span`` wide, the range the converter quantises such constants to
    whatever the graph says."""
    if not symmetric:
        low = tf.minimum(tf.reduce_min(weight), 0.0)
        high = tf.maximum(tf.reduce_max(weight), low + least_span)
        return _fake_quant(weight, low, tf.maximum(high, 0.0))
    if per_axis and len(weight.shape) == 2:
        # A Dense kernel per output unit: the per-channel fake-quant op on it
        # fails conversion (TF 2.21: "'tfl.transpose' op has mismatched
        # quantized axes"), so it is rounded onto the grid the converter
        # quantises an unmarked kernel to - one scale per output row, max |w|
        # / 127 (tested) - with the gradient passing straight through.
        step = tf.maximum(tf.reduce_max(tf.abs(weight), axis=0), 1e-12) / 127.0
        return weight + tf.stop_gradient(tf.round(weight / step) * step - weight)
    if per_axis:
        bound = tf.reduce_max(tf.abs(weight), axis=list(range(len(weight.shape) - 1)))
        bound = tf.maximum(bound, 1e-12)
        return tf.quantization.fake_quant_with_min_max_vars_per_channel(
            weight, -bound, bound, narrow_range=True
        )
    bound = tf.maximum(tf.reduce_max(tf.abs(weight)), 1e-12)
    return _fake_quant(weight, -bound, bound, narrow_range=True)


with tfmot_imported() as _tfmot:
    _keras_quantize = _tfmot.quantization.keras

    class RangeQuantizer(_keras_quantize.quantizers.Quantizer):
        """Fake-quantises a layer's output to int8 over [min, max]: fixed
        (``fixed_range``) or two trainable variables. ``name`` is the layer's."""

        def __init__(self, fixed_range=None, slot=None):
            self.fixed_range = None if fixed_range is None else tuple(fixed_range)
            self.slot = slot or TapSlot()
            self.name, self.min, self.max = None, None, None

        def build(self, tensor_shape, name, layer):
            self.name = layer.layer.name
            if self.fixed_range is not None:
                return {}
            constant = tf_keras.initializers.Constant
            self.min = layer.add_weight(f"{name}_min", (), initializer=constant(-6.0))
            self.max = layer.add_weight(f"{name}_max", (), initializer=constant(6.0))
            return {"min": self.min, "max": self.max}

        def range_tensors(self):
            """(min, max) as constants or the variables."""
            if self.fixed_range is not None:
                return tuple(tf.constant(bound) for bound in self.fixed_range)
            return self.min, self.max

        @property
        def range(self):
            """The current (min, max) as floats."""
            if self.fixed_range is not None:
                return self.fixed_range
            return float(self.min.numpy()), float(self.max.numpy())

        def __call__(self, inputs, training, weights, **kwargs):
            if self.fixed_range is not None:
                quantised = tf.quantization.fake_quant_with_min_max_args(inputs, *self.fixed_range)
            else:
                quantised = _fake_quant(inputs, weights["min"], weights["max"])
            tap = self.slot.tap
            return quantised if tap is None else tap(self, inputs, quantised)

        def get_config(self):
            return {"fixed_range": self.fixed_range}

    class WeightQuantizer(_keras_quantize.quantizers.Quantizer):
        """Fake-quantises a weight over its own range, as TFLite stores it
        (``quantised_weight``). Stateless: the range always follows the
        weight, during training too."""

        def __init__(self, per_axis=False, symmetric=True, slot=None, output_share=None):
            self.per_axis, self.symmetric = per_axis, symmetric
            self.slot = slot or TapSlot()
            # (a LayerQuantizeConfig, share): span at least share of its output range's
            self.output_share = output_share

        def build(self, tensor_shape, name, layer):
            return {}

        def __call__(self, weight, training, weights, **kwargs):
            tap = self.slot.tap
            if tap is not None and not tap.quantise_weights:
                return weight
            if self.slot.kernels_on_grid and self.per_axis and len(weight.shape) == 2:
                return weight  # already on its grid (``kernels_on_grid``)
            least_span = 1e-12
            if self.output_share is not None:
                config, share = self.output_share
                low, high = config.output_quantizer.range_tensors()
                least_span = tf.maximum((high - low) * share, least_span)
            return quantised_weight(weight, self.per_axis, self.symmetric, least_span)

        def get_config(self):
            return {"per_axis": self.per_axis, "symmetric": self.symmetric}

    class QuantizeWrapper(_keras_quantize.QuantizeWrapperV2):
        """TFMOT's wrapper, its ``call`` run as plain Python: nothing in it
        needs autograph's conversion, and without it a Mixer-S/16 graph
        builds and traces in half the time."""

        call = tf.autograph.experimental.do_not_convert(_keras_quantize.QuantizeWrapperV2.call)

    class LayerQuantizeConfig(_keras_quantize.QuantizeConfig):
        """Quantises the named weights of a layer, and its output (range fixed
        to ``output_range`` when given)."""

        def __init__(self, weights=(), per_axis=False, output_range=None, slot=None):
            self.weights, self.per_axis, self.output_range = tuple(weights), per_axis, output_range
            self.slot = slot or TapSlot()
            self.output_quantizer = None

        def get_weights_and_quantizers(self, layer):
            symmetric = isinstance(layer, (tf_keras.layers.Dense, tf_keras.layers.Conv2D))
            share = (self, SHIFT_SPAN) if isinstance(layer, ChannelShift) else None
            return [
                (getattr(layer, name), WeightQuantizer(self.per_axis, symmetric, self.slot, share))
                for name in self.weights
            ]

        def set_quantize_weights(self, layer, quantize_weights):
            for name, value in zip(self.weights, quantize_weights):
                setattr(layer, name, value)

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            self.output_quantizer = RangeQuantizer(self.output_range, self.slot)
            return [self.output_quantizer]

        def get_config(self):
            return {
                "weights": self.weights,
                "per_axis": self.per_axis,
                "output_range": self.output_range,
            }


def layer_quantize_config(
    layer: tf_keras.layers.Layer, per_channel: bool = True, slot: TapSlot | None = None
) -> LayerQuantizeConfig:
    """The ``LayerQuantizeConfig`` of a deployment-graph layer (module
    docstring), its quantizers reporting to ``slot``'s tap."""
    weights = ()
    if isinstance(layer, (tf_keras.layers.Dense, tf_keras.layers.Conv2D)):
        weights = ("kernel",)
    elif isinstance(layer, (ChannelScale, ChannelShift)):
        weights = ("weight",)
    output_range = getattr(layer, "output_range", None)
    if isinstance(layer, tf_keras.layers.Conv2D) and layer.get_config()["activation"] == "relu6":
        output_range = RELU6_RANGE
    per_axis = isinstance(layer, tf_keras.layers.Conv2D) or (
        per_channel and isinstance(layer, tf_keras.layers.Dense)
    )
    return LayerQuantizeConfig(weights, per_axis=per_axis, output_range=output_range, slot=slot)


def wrapper(float_layers: Iterable[str] = (), per_channel: bool = True) -> Callable:
    """The ``wrap`` of ``convert.graph.build_graph`` that fake-quantises each
    layer it is given (Reshape and Permute, and layers named in
    ``float_layers``, stay as they are), its quantizers sharing one
    ``TapSlot``."""
    slot = TapSlot()

    def wrap(layer):
        if isinstance(layer, PASS_THROUGH) or layer.name in float_layers:
            return layer
        return QuantizeWrapper(
            layer, layer_quantize_config(layer, per_channel, slot), name_prefix=""
        )

    return wrap


def quantised_graph(
    spec: dict,
    values: dict,
    form: Form | None = None,
    batch_size: int | None = None,
    float_layers: Iterable[str] = (),
    per_channel: bool = True,
) -> tf_keras.Model:
    """The deployment graph (``convert.graph.build_graph``, same arguments),
    ending at the logits, with fake quantisation on every int8 tensor, its
    trainable ranges at a placeholder [-6, 6] until calibrated. Layers named
    in ``float_layers`` are left in float: neither their weights nor their
    outputs quantised (selective quantisation). ``per_channel``: Dense
    weights with one scale per output unit (else one per matrix)."""
    return build_graph(
        spec, values, form, batch_size, wrapper(float_layers, per_channel), logits=True
    )


def weight_layers(quantised: tf_keras.Model) -> list:
    """The wrapped layers of a quantised graph whose kernels are quantised
    (Dense and Conv2D), in graph order."""
    return [
        layer
        for layer in quantised.layers
        if isinstance(
            getattr(layer, "layer", None), (tf_keras.layers.Dense, tf_keras.layers.Conv2D)
        )
    ]


def kernel_and_bias(wrapped: tf_keras.layers.Layer) -> tuple[tf.Variable, tf.Variable]:
    """The kernel and bias variables of a wrapped Dense or Conv2D (the
    wrapper swaps the layer's own attributes for quantised tensors)."""
    found = {variable.name.rsplit("/", 1)[-1]: variable for variable in wrapped.weights}
    return found["kernel:0"], found["bias:0"]


def quantised_kernel(wrapped: tf_keras.layers.Layer) -> tf.Tensor:
    """A wrapped layer's kernel as the int8 file holds it."""
    kernel, _ = kernel_and_bias(wrapped)
    return quantised_weight(tf.convert_to_tensor(kernel), wrapped.quantize_config.per_axis)


def range_quantizers(quantised: tf_keras.Model) -> dict:
    """{layer name: RangeQuantizer} of a quantised graph's int8 tensors."""
    found = {}
    for layer in quantised.layers:
        config = getattr(layer, "quantize_config", None)
        if isinstance(config, LayerQuantizeConfig) and config.output_quantizer is not None:
            found[config.output_quantizer.name] = config.output_quantizer
    return found


def ranges(quantised: tf_keras.Model) -> dict[str, tuple[float, float]]:
    """{layer name: (min, max)} of a quantised graph's int8 tensors."""
    return {name: q.range for name, q in range_quantizers(quantised).items()}


def set_ranges(quantised: tf_keras.Model, found: dict) -> None:
    """Sets the trainable ranges of a quantised graph from {layer name: (min, max)}."""
    for name, quantizer in range_quantizers(quantised).items():
        if quantizer.fixed_range is None:
            low, high = found[name]
            quantizer.min.assign(low)
            quantizer.max.assign(high)


def copy_variables(source: tf_keras.Model, target: tf_keras.Model) -> None:
    """Assigns ``target``'s variables from ``source``'s of the same name (graphs
    built by ``quantised_graph``: the weights ``stem/kernel:0``, ..., the
    ranges ``stem/output_min:0``, ...); those ``source`` lacks stay as they are."""
    found = {variable.name: variable for variable in source.weights}
    for variable in target.weights:
        if variable.name in found:
            variable.assign(found[variable.name])
