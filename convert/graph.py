"""The deployable graph of a keras_mixer model, in tf_keras (Keras 2).

TFMOT's quantisation-aware training accepts only tf_keras functional models,
so the conversion stage rebuilds the Mixer in tf_keras from the Keras 3
model's architecture and weights. Every op that becomes an int8 tensor in
TFLite is a layer of its own (``convert.layers``), so ``convert.quantize``
can fake-quantise each one: the graph calibrated and trained is the graph
converted.

The graph differs from the Keras 3 model in deliberate ways:
- a static batch of 1 for conversion (what phones run, and what the int8
  converter needs with 3-D Dense inputs), ``batch_size=None`` to calibrate
  and train on batches;
- it takes raw 0-255 pixels: ``preprocess_input`` is folded into the stem's
  kernel and bias, so a uint8 input tensor represents them exactly;
- LayerNorm is written out op by op, in one of two forms (``FORMS``):
  "plain", TFLite's own ops (RSQRT, SQUARED_DIFFERENCE, GELU), or
  "xnnpack", ops XNNPACK runs in int8, with LayerNorm affines folded into
  the next Dense where one follows over channels and logits out;
- int8 graphs end at the logits: the app applies the softmax (an int8
  softmax would only add error at a fixed 1/256 resolution, outside XNNPACK).
"""

import dataclasses

import numpy as np
import tensorflow as tf
import tf_keras

import keras_mixer
from convert.layers import (
    PROBABILITY_RANGE,
    TANH_RANGE,
    Activation,
    AddConstant,
    ChannelScale,
    ChannelShift,
    Difference,
    Gelu,
    Mean,
    Pixels,
    Product,
    Rsqrt,
    SquaredDifference,
)
from convert.modes import FORMS
from keras_mixer.architecture import HEAD
from keras_mixer.layers import LAYER_NORM_EPSILON, patch_grid

# The XNNPACK GELU (``gelu``): y * sigmoid(y * (OFFSET + y * tanh(y))) on
# y = GELU_SCALE * x; its sigmoid input is clamped to +-GATE_CLAMP.
GELU_SCALE, GELU_OFFSET, GATE_CLAMP = 0.4656563583704978, 3.3690024973585513, 10.0
GATE_INPUT = "gate_input"
# Geometric knots over the widened range: 48 segments keep the interpolation
# within 0.4% of 1/sqrt for variances spanning 1000x in calibration (0.06% for 10x).
RSQRT_SEGMENTS = 48
PIXEL_RANGE = (0.0, 255.0)  # the input: int8 scale 1, raw pixels exactly


def mixer_spec(model):
    """What the deployment graph needs of a keras_mixer model: its
    architecture (``keras_mixer.architecture``), input and head."""
    found = keras_mixer.architecture(model)  # a ValueError for other models
    known = {"InputLayer", "PatchEmbedding", "MixerBlock", "LayerNormalization",
             "GlobalAveragePooling1D", "GlobalMaxPooling1D", "Dropout", "Dense"}
    for layer in model.layers:
        if type(layer).__name__ not in known:
            raise ValueError(
                f"Cannot convert layer {layer.name!r} ({type(layer).__name__}): the deployment "
                f"graph (and QAT) knows only the layers of keras_mixer models "
                f"({', '.join(sorted(known))}).")
    activation = None
    if found.classes is not None:
        activation = tf_keras.activations.serialize(tf_keras.activations.get(
            model.get_layer(HEAD).get_config()["activation"]))
    return {
        **dataclasses.asdict(found),
        "name": model.name,
        "image_shape": tuple(model.input_shape[1:]),
        "grid": patch_grid(model.input_shape[1:3], found.patch_size),
        "layer_norm_epsilon": LAYER_NORM_EPSILON,
        "classifier_activation": None if activation == "linear" else activation,
    }


def layer_norm_names(num_blocks):
    """The LayerNorms of a Mixer, by their names in the graph."""
    return [f"block{i}_norm{j}" for i in range(num_blocks) for j in (0, 1)] + [
        "pre_head_layer_norm"]


def build_graph(spec, values, form="plain", variances=None, batch_size=1, wrap=None,
                logits=False):
    """The tf_keras twin of a Mixer, with its weights.

    Args:
        spec: ``mixer_spec`` of the model (it must have a head).
        values: its weights by official path (``model_values``).
        form: "plain" or "xnnpack" (``FORMS``).
        variances: for "xnnpack", {LayerNorm name: (min, max)} of the
            variances each LayerNorm sees (``layer_norm_variances``).
        batch_size: 1 to convert, None to calibrate and train (the converter
            traces any graph at batch 1: ``convert.tflite``).
        wrap: applied to every layer before it is called: how
            ``convert.quantize`` puts fake quantisation on each (default:
            none, the float graph).
        logits: end at the head's logits, leaving the model's classifier
            activation to the app (always so in the XNNPACK form).
    """
    if spec["classes"] is None:
        raise ValueError("Conversion needs a classifier: build the model with include_top=True.")
    if form not in FORMS:
        raise ValueError(f"graph must be one of {', '.join(FORMS)}; got {form!r}.")
    xnnpack = form == "xnnpack"
    wrap = wrap or _unwrapped
    L = tf_keras.layers
    tokens = spec["grid"][0] * spec["grid"][1]

    def norm(x, name, affine):
        variance_range = variances[name] if xnnpack else None
        return layer_norm(x, name, spec["layer_norm_epsilon"], variance_range, affine, wrap)

    def mlp(x, name, hidden_units, units):
        x = wrap(L.Dense(hidden_units, name=f"{name}_dense0"))(x)
        x = gelu(x, f"{name}_gelu", spec["gelu_approximate"], xnnpack, wrap)
        return wrap(L.Dense(units, name=f"{name}_dense1"))(x)

    images = tf_keras.Input(spec["image_shape"], batch_size=batch_size, name="images")
    x = wrap(Pixels(PIXEL_RANGE, name="pixels"))(images)
    x = wrap(L.Conv2D(spec["hidden_size"], spec["patch_size"], strides=spec["patch_size"],
                      name="stem"))(x)
    x = L.Reshape((tokens, spec["hidden_size"]), name="tokens")(x)
    for i in range(spec["num_blocks"]):
        y = L.Permute((2, 1), name=f"block{i}_to_channels")(norm(x, f"block{i}_norm0", True))
        y = mlp(y, f"block{i}_token", spec["tokens_mlp_dim"], tokens)
        y = L.Permute((2, 1), name=f"block{i}_to_tokens")(y)
        x = wrap(L.Add(name=f"block{i}_token_residual"))([x, y])
        y = mlp(norm(x, f"block{i}_norm1", not xnnpack), f"block{i}_channel",
                spec["channels_mlp_dim"], spec["hidden_size"])
        x = wrap(L.Add(name=f"block{i}_channel_residual"))([x, y])
    x = norm(x, "pre_head_layer_norm", not xnnpack)
    x = wrap(L.GlobalAveragePooling1D(name="avg_pool"))(x)
    x = wrap(L.Dense(spec["classes"], name="head"))(x)
    activation = spec["classifier_activation"]
    if activation and not (logits or xnnpack):
        x = wrap(Activation(activation, name="scores"))(x)
    graph = tf_keras.Model(images, x, name=spec["name"])
    folded = deployment_values(values, spec["num_blocks"], xnnpack)
    variables = {variable.name: variable for variable in graph.weights}
    for name, keys in weight_table(spec["num_blocks"], xnnpack):
        for key in keys:  # by variable name: a quantisation wrapper hides the layer's own list
            variables[f"{name}/{key.rsplit('/', 1)[1]}:0"].assign(folded[key])
    return graph


def _unwrapped(layer):
    return layer


def gelu(x, name, approximate, xnnpack, wrap=_unwrapped):
    """GELU on ``x``: TFLite's own op (plain), or the form XNNPACK runs whole
    in int8, taking ``y = GELU_SCALE * x`` (the Dense before is scaled:
    ``deployment_values``) and returning ``GELU_SCALE * gelu(x)`` (the Dense
    after divides), as

        y * sigmoid(v),   v = y * (GELU_OFFSET + y * tanh(y))

    in TANH, MUL, ADD, MUL, LOGISTIC, MUL. v follows the tanh form's
    2 sqrt(2/pi) (x + 0.044715 x^3) where the sigmoid is not saturated, with
    y tanh(y) standing in for y^2 (the cube would overflow int8 ranges, and
    XNNPACK's int8 MUL of a tensor by itself is several times slower than of
    two tensors); GELU_SCALE and GELU_OFFSET minimise the largest error,
    0.0013 against either GELU form. v's int8 range is fixed to
    +-GATE_CLAMP, where the sigmoid is saturated, so int8 resolves it in steps
    of 0.08 whatever the calibration (the layer is named ``..._gate_input``:
    its int8 output saturates by design)."""
    if not xnnpack:
        return wrap(Gelu(approximate, name=name))(x)
    squash = wrap(Activation("tanh", TANH_RANGE, name=f"{name}_tanh"))(x)
    v = wrap(Product(name=f"{name}_square"))([x, squash])
    v = wrap(AddConstant(GELU_OFFSET, name=f"{name}_offset"))(v)
    v = wrap(Product((-GATE_CLAMP, GATE_CLAMP), name=f"{name}_{GATE_INPUT}"))([x, v])
    gate = wrap(Activation("sigmoid", PROBABILITY_RANGE, name=f"{name}_gate"))(v)
    return wrap(Product(name=name))([x, gate])


def layer_norm(x, name, epsilon, variance_range=None, affine=True, wrap=_unwrapped):
    """LayerNorm on ``x``, op by op, its output layer named ``name``.

    Without ``variance_range``, TFLite's own decomposition: MEAN, SUB,
    SQUARED_DIFFERENCE, MEAN, ADD (epsilon), RSQRT, MUL. Given the (min, max)
    variance seen in calibration, the form XNNPACK runs in int8 (it has no
    int8 RSQRT): MEAN, SUB, MUL, MEAN for the variance, then 1/sqrt(variance
    + eps) interpolated piecewise-linearly over that range widened 2x each
    way, as two 1x1 convolutions: segment k's clamped ramp
    relu6(6 (v - t_k) / (t_k+1 - t_k)) (every ramp spans the same 0..6, so one
    int8 scale suits all), then the sum of the ramps weighted by each
    segment's rise / 6 (all of similar size, so int8 weights hold them).
    1x1 convolutions rather than Dense: the converter fuses their bias and
    relu6, where a Dense on 3-D input leaves an int8 tensor before the bias.

    ``affine=False`` leaves out gamma and beta (the next Dense holds them:
    ``deployment_values``); otherwise they are a MUL and an ADD."""
    mean = wrap(Mean(name=f"{name}_mean"))(x)
    centred = wrap(Difference(name=f"{name}_centre"))([x, mean])
    if variance_range is None:
        variance = wrap(SquaredDifference(name=f"{name}_squared_difference"))([x, mean])
        variance = wrap(Mean(name=f"{name}_variance"))(variance)
        variance = wrap(AddConstant(epsilon, name=f"{name}_variance_eps"))(variance)
        inverse_std = wrap(Rsqrt(name=f"{name}_inverse_std"))(variance)
    else:
        square = wrap(Product(name=f"{name}_square"))([centred, centred])
        variance = wrap(Mean(name=f"{name}_variance"))(square)
        inverse_std = _interpolated_rsqrt(variance, variance_range, epsilon, name, wrap)
    normalised = wrap(Product(name=name if not affine else f"{name}_normalised"))(
        [centred, inverse_std])
    if not affine:
        return normalised
    scaled = wrap(ChannelScale(name=f"{name}_gamma"))(normalised)
    return wrap(ChannelShift(name=name))(scaled)


def _interpolated_rsqrt(variance, variance_range, epsilon, name, wrap):
    knots = np.geomspace(variance_range[0] / 2, variance_range[1] * 2, RSQRT_SEGMENTS + 1)
    values = 1 / np.sqrt(knots + epsilon)
    widths, rises = np.diff(knots), np.diff(values)
    # Geometric knots give every ramp the same bias; TF 2.21's converter then
    # quantises that splat per-channel bias with the first channel's scale
    # only, for all: nudged apart by a millionth, they convert correctly.
    biases = -6 * knots[:-1] / widths * (1 + 1e-6 * np.arange(RSQRT_SEGMENTS))
    init = tf_keras.initializers.Constant
    L = tf_keras.layers
    tokens = variance.shape[1]
    variance = L.Reshape((tokens, 1, 1), name=f"{name}_variance_4d")(variance)
    ramps = wrap(L.Conv2D(
        RSQRT_SEGMENTS, 1, activation="relu6", kernel_initializer=init(6 / widths),
        bias_initializer=init(biases), trainable=False, name=f"{name}_rsqrt_ramps"))(variance)
    inverse_std = L.Conv2D(1, 1, kernel_initializer=init(rises / 6),
                           bias_initializer=init(values[:1]), trainable=False,
                           name=f"{name}_rsqrt")
    # Its int8 range is everything the interpolation can give: a variance
    # rounded below the calibrated ones must not clip its 1/sqrt.
    inverse_std.output_range = (0.0, float(values[0]))
    inverse_std = wrap(inverse_std)(ramps)
    return L.Reshape((tokens, 1), name=f"{name}_inverse_std")(inverse_std)


def layer_norm_variances(plain_graph, images, batch_size=32):
    """{LayerNorm name: (min, max)} of the per-token variance each LayerNorm
    of a plain-form graph (``batch_size=None``) sees on ``images``: what the
    XNNPACK form's 1/sqrt interpolation is fitted to."""
    names = [name for name in layer_norm_names(_num_blocks(plain_graph))]
    probe = tf.function(tf_keras.Model(
        plain_graph.inputs,
        [tf.reduce_min(plain_graph.get_layer(f"{n}_variance").output) for n in names]
        + [tf.reduce_max(plain_graph.get_layer(f"{n}_variance").output) for n in names]))
    low = np.full(len(names), np.inf)
    high = np.zeros(len(names))
    for start in range(0, len(images), batch_size):
        found = np.array([v.numpy() for v in probe(np.asarray(
            images[start:start + batch_size], np.float32))])
        low = np.minimum(low, found[:len(names)])
        high = np.maximum(high, found[len(names):])
    return {name: (float(lo), float(hi)) for name, lo, hi in zip(names, low, high)}


def _num_blocks(graph):
    return sum(1 for layer in graph.layers if layer.name.endswith("_token_residual"))


def model_values(model):
    """A keras_mixer model's weights by official path (``stem/kernel``, ...)."""
    return {w.path: np.asarray(w.numpy()) for w in model.weights}


def weight_table(num_blocks, xnnpack=False):
    """[(graph layer name, the official paths of its weights)] for every
    layer with weights. The XNNPACK form's channel-mixing and pre-head
    LayerNorms have none (``deployment_values`` folds them)."""
    table = [("stem", ["stem/kernel", "stem/bias"])]

    def affine(name, path):
        table.extend([(f"{name}_gamma", [f"{path}/gamma"]), (name, [f"{path}/beta"])])

    for i in range(num_blocks):
        src = f"MixerBlock_{i}"
        for j in (0, 1):
            if not (xnnpack and j == 1):
                affine(f"block{i}_norm{j}", f"{src}/LayerNorm_{j}")
            for mlp, name in (("token_mixing", "token"), ("channel_mixing", "channel")):
                table.append((f"block{i}_{name}_dense{j}",
                              [f"{src}/{mlp}/Dense_{j}/kernel", f"{src}/{mlp}/Dense_{j}/bias"]))
    if not xnnpack:
        affine("pre_head_layer_norm", "pre_head_layer_norm")
    return table + [("head", ["head/kernel", "head/bias"])]


def deployment_values(values, num_blocks, xnnpack=False):
    """Official-path weights rewritten for the deployment graph, computing the
    same function:
    - ``preprocess_input``, (x - 127.5) / 127.5, is folded into the stem: its
      kernel divided by 127.5, its bias less the kernel's sum over a patch;
    - in the XNNPACK form, a LayerNorm followed by a Dense over channels
      (channel mixing, and the pre-head one through the mean over tokens)
      keeps only the normalisation: its gamma scales the Dense's kernel rows
      and beta @ kernel joins the bias; every MLP's first Dense is scaled by
      ``GELU_SCALE`` and its second Dense's kernel divided by it (``gelu``
      works scaled)."""
    values = dict(values)
    kernel = values["stem/kernel"]
    values["stem/kernel"] = kernel / 127.5
    values["stem/bias"] = values["stem/bias"] - kernel.sum(axis=(0, 1, 2))
    if not xnnpack:
        return values

    def fold_affine(norm, dense):
        gamma, beta = values.pop(f"{norm}/gamma"), values.pop(f"{norm}/beta")
        kernel = values[f"{dense}/kernel"]
        values[f"{dense}/bias"] = values[f"{dense}/bias"] + beta @ kernel
        values[f"{dense}/kernel"] = gamma[:, None] * kernel

    for i in range(num_blocks):
        block = f"MixerBlock_{i}"
        fold_affine(f"{block}/LayerNorm_1", f"{block}/channel_mixing/Dense_0")
        for mlp in ("token_mixing", "channel_mixing"):
            first, second = f"{block}/{mlp}/Dense_0", f"{block}/{mlp}/Dense_1"
            values[f"{first}/kernel"] = values[f"{first}/kernel"] * GELU_SCALE
            values[f"{first}/bias"] = values[f"{first}/bias"] * GELU_SCALE
            values[f"{second}/kernel"] = values[f"{second}/kernel"] / GELU_SCALE
    fold_affine("pre_head_layer_norm", "head")
    return values
