"""The deployable graph of a keras_mixer model, in tf_keras (Keras 2).

TFMOT's quantisation-aware training accepts only tf_keras functional models,
so the conversion stage rebuilds the same Mixer in tf_keras from the Keras 3
model (its layers are the single source of truth for the architecture) and
copies the weights across; ``convert.quantize`` then marks the layers TFMOT
does not know.

The graph differs from the Keras 3 model in two deliberate ways:
- a static batch of 1 (what phones run, and what the int8 converter needs:
  REFERENCE.md §7);
- ``pixel_input=True`` folds ``preprocess_input`` into a first Rescaling
  layer, so the app feeds raw 0-255 pixels and a uint8 input tensor
  represents them exactly (scale 1, zero point 0).
Given ``xnnpack_variances`` it is also written in the XNNPACK form: GELU
and LayerNorm in ops XNNPACK runs in int8, LayerNorm affines folded into the
next Dense where one follows over channels, and logits out.
"""

import os

import numpy as np
import tensorflow as tf
import tf_keras


class Gelu(tf_keras.layers.Layer):
    """GELU in the form the Mixer was trained with (tanh approximation or exact).

    ``xnnpack=True`` is the form XNNPACK runs whole in int8 (TFLite's own GELU
    op falls back to LiteRT's builtin kernel). It takes ``y = SCALE * x`` (the
    Dense before it is scaled: ``xnnpack_values``) and returns
    ``SCALE * gelu(x)`` (the Dense after it divides), as

        y * sigmoid(v),   v = y * (OFFSET + y * tanh(y))

    in TANH, MUL, ADD, MUL, LOGISTIC, MUL. v follows the tanh form's
    2 sqrt(2/pi) (x + 0.044715 x^3) where the sigmoid is not saturated, with
    y tanh(y) standing in for y^2 (the cube would overflow int8 ranges, and
    XNNPACK's int8 MUL of a tensor by itself is several times slower than of
    two tensors); SCALE and OFFSET minimise the largest error, 0.0013 against
    either GELU form. v is fake-quantised to +-CLAMP, where the sigmoid is
    saturated, so int8 resolves it in steps of 0.08 whatever the calibration
    (the op computing v is named ``GATE_INPUT``: its int8 output saturates by
    design)."""

    SCALE, OFFSET, CLAMP = 0.4656563583704978, 3.3690024973585513, 10.0
    GATE_INPUT = "gate_input"

    def __init__(self, approximate=True, xnnpack=False, **kwargs):
        super().__init__(**kwargs)
        self.approximate, self.xnnpack = approximate, xnnpack

    def call(self, x):
        if self.xnnpack:
            v = tf.multiply(x, self.OFFSET + x * tf.tanh(x), name=self.GATE_INPUT)
            v = tf.quantization.fake_quant_with_min_max_args(v, -self.CLAMP, self.CLAMP)
            return x * tf.sigmoid(v)
        return tf.nn.gelu(x, approximate=self.approximate)

    def get_config(self):
        return {**super().get_config(), "approximate": self.approximate,
                "xnnpack": self.xnnpack}


class Centre(tf_keras.layers.Layer):
    """x - mean(x) over the last axis (MEAN, SUB: int8 in XNNPACK)."""

    def call(self, x):
        return x - tf.reduce_mean(x, -1, keepdims=True)


class MeanSquare(tf_keras.layers.Layer):
    """mean(x * x) over the last axis (MUL, MEAN: int8 in XNNPACK); on centred
    input, the variance."""

    def call(self, x):
        return tf.reduce_mean(x * x, -1, keepdims=True)


class Normalise(tf_keras.layers.Layer):
    """LayerNorm's last step: centred * inverse_std, then * gamma + beta when
    ``affine`` (without, the next Dense holds them: ``xnnpack_values``)."""

    def __init__(self, affine=True, **kwargs):
        super().__init__(**kwargs)
        self.affine = affine

    def build(self, input_shape):
        if self.affine:
            channels = input_shape[0][-1]
            self.gamma = self.add_weight("gamma", (channels,), initializer="ones")
            self.beta = self.add_weight("beta", (channels,), initializer="zeros")

    def call(self, inputs):
        centred, inverse_std = inputs
        normalised = centred * inverse_std
        return normalised * self.gamma + self.beta if self.affine else normalised

    def get_config(self):
        return {**super().get_config(), "affine": self.affine}


def rsqrt_free_layer_norm(x, variance_range, epsilon, name, affine=True):
    """LayerNorm without RSQRT (XNNPACK has no int8 RSQRT): 1/sqrt(variance +
    eps) is interpolated piecewise-linearly over the variances seen in
    calibration (``variance_range``, widened 2x each way), as two
    1x1 convolutions: segment k's clamped ramp relu6(6 (v - t_k) / (t_k+1 - t_k))
    (every ramp spans the same 0..6, so one int8 scale suits all), then the
    sum of the ramps weighted by each segment's rise / 6 (all of similar size,
    so int8 weights hold them). ``name`` goes to the layer holding gamma and
    beta (``affine=False``: none, the next Dense holds them)."""
    knots = np.geomspace(variance_range[0] / 2, variance_range[1] * 2, RSQRT_SEGMENTS + 1)
    values = 1 / np.sqrt(knots + epsilon)
    widths, rises = np.diff(knots), np.diff(values)
    init = tf_keras.initializers.Constant
    L = tf_keras.layers
    centred = Centre(name=f"{name}_centre")(x)
    variance = MeanSquare(name=f"{name}_variance")(centred)
    # 1x1 convolutions rather than Dense: the converter fuses their bias and
    # relu6, where a Dense on 3-D input leaves an int8 tensor before the bias.
    tokens = x.shape[1]
    variance = L.Reshape((tokens, 1, 1), name=f"{name}_variance_4d")(variance)
    ramps = L.Conv2D(
        RSQRT_SEGMENTS, 1, activation=tf.nn.relu6, kernel_initializer=init(6 / widths),
        bias_initializer=init(-6 * knots[:-1] / widths), trainable=False,
        name=f"{name}_rsqrt_ramps")(variance)
    inverse_std = L.Conv2D(
        1, 1, kernel_initializer=init(rises / 6), bias_initializer=init(values[:1]),
        trainable=False, name=f"{name}_rsqrt")(ramps)
    inverse_std = L.Reshape((tokens, 1), name=f"{name}_inverse_std")(inverse_std)
    return Normalise(affine, name=name)([centred, inverse_std])


def layer_norm(x, name, epsilon, variances=None, affine=True):
    """A LayerNorm named ``name`` on ``x``: tf_keras' own, or, given
    ``variances`` ({LayerNorm name: (min, max) variance}), the XNNPACK form
    (``rsqrt_free_layer_norm``; ``affine=False`` leaves gamma and beta to the
    next Dense)."""
    if variances is None:
        return tf_keras.layers.LayerNormalization(epsilon=epsilon, name=name)(x)
    return rsqrt_free_layer_norm(x, variances[name], epsilon, name, affine)


# Geometric knots over the widened range: 48 segments keep the interpolation
# within 0.4% of 1/sqrt for variances spanning 1000x in calibration (0.06% for 10x).
RSQRT_SEGMENTS = 48


CUSTOM_OBJECTS = {"Gelu": Gelu, "Centre": Centre, "MeanSquare": MeanSquare,
                  "Normalise": Normalise}


def mixer_spec(model):
    """The architecture of a keras_mixer model, read from its layers."""
    try:
        stem = model.get_layer("stem")
        blocks = [layer for layer in model.layers if layer.name.startswith("MixerBlock_")]
        first = blocks[0]
    except (ValueError, IndexError):
        raise ValueError(f"Model {model.name!r} is not a keras_mixer Mixer (it has no 'stem' "
                         "and 'MixerBlock_N' layers).") from None
    known = {"InputLayer", "PatchEmbedding", "MixerBlock", "LayerNormalization",
             "GlobalAveragePooling1D", "GlobalMaxPooling1D", "Dropout", "Dense"}
    for layer in model.layers:
        if type(layer).__name__ not in known:
            raise ValueError(
                f"Cannot convert layer {layer.name!r} ({type(layer).__name__}): the deployment "
                f"graph (and QAT) knows only the layers of keras_mixer models "
                f"({', '.join(sorted(known))}).")
    head = next((layer for layer in model.layers if layer.name == "head"), None)
    activation = None
    if head is not None:
        activation = tf_keras.activations.serialize(
            tf_keras.activations.get(head.get_config()["activation"]))
    return {
        "image_shape": tuple(model.input_shape[1:]),
        "patch_size": stem.patch_size,
        "hidden_size": stem.hidden_size,
        "grid": stem.grid_size,
        "num_blocks": len(blocks),
        "tokens_mlp_dim": first.tokens_mlp_dim,
        "channels_mlp_dim": first.channels_mlp_dim,
        "gelu_approximate": first.gelu_approximate,
        "layer_norm_epsilon": first.layer_norm_epsilon,
        "classes": None if head is None else head.units,
        "classifier_activation": activation,
    }


def build_tf_keras(model, pixel_input=True, batch_size=1, xnnpack_variances=None,
                   values=None):
    """The tf_keras twin of a keras_mixer classifier, with its weights.

    Args:
        model: a keras_mixer model with a head (``include_top=True``).
        pixel_input: take raw 0-255 pixels (preprocessing folded in) instead of
            ``preprocess_input`` output.
        batch_size: 1 for conversion; None to train (QAT) on batches.
        xnnpack_variances: build the XNNPACK form instead (``Gelu``'s XNNPACK
            form, LayerNorm without RSQRT, the affine of every LayerNorm but
            the token-mixing ones folded into the next Dense, logits out: the
            softmax is the app's), given {LayerNorm name: (min, max) variance}
            from ``layer_norm_variances`` on calibration images.
        values: the weights by official path (``model_values``); default the
            model's own.
    """
    spec = mixer_spec(model)
    if spec["classes"] is None:
        raise ValueError("Conversion needs a classifier: build the model with include_top=True.")
    L = tf_keras.layers
    tokens = spec["grid"][0] * spec["grid"][1]
    eps = spec["layer_norm_epsilon"]
    xnnpack = xnnpack_variances is not None

    def norm(x, name, folded=False):
        return layer_norm(x, name, eps, xnnpack_variances, affine=not folded)

    def gelu(name):
        return Gelu(spec["gelu_approximate"], xnnpack=xnnpack, name=name)

    images = tf_keras.Input(spec["image_shape"], batch_size=batch_size, name="images")
    x = images
    if pixel_input:
        x = L.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")(x)
    x = L.Conv2D(spec["hidden_size"], spec["patch_size"], strides=spec["patch_size"],
                 name="stem")(x)
    x = L.Reshape((tokens, spec["hidden_size"]), name="tokens")(x)
    for i in range(spec["num_blocks"]):
        y = norm(x, f"block{i}_norm0")
        y = L.Permute((2, 1), name=f"block{i}_to_channels")(y)
        y = L.Dense(spec["tokens_mlp_dim"], name=f"block{i}_token_dense0")(y)
        y = gelu(f"block{i}_token_gelu")(y)
        y = L.Dense(tokens, name=f"block{i}_token_dense1")(y)
        y = L.Permute((2, 1), name=f"block{i}_to_tokens")(y)
        x = L.Add(name=f"block{i}_token_residual")([x, y])
        y = norm(x, f"block{i}_norm1", folded=True)
        y = L.Dense(spec["channels_mlp_dim"], name=f"block{i}_channel_dense0")(y)
        y = gelu(f"block{i}_channel_gelu")(y)
        y = L.Dense(spec["hidden_size"], name=f"block{i}_channel_dense1")(y)
        x = L.Add(name=f"block{i}_channel_residual")([x, y])
    x = norm(x, "pre_head_layer_norm", folded=True)
    x = L.GlobalAveragePooling1D(name="avg_pool")(x)
    activation = None if xnnpack else spec["classifier_activation"]
    x = L.Dense(spec["classes"], activation=activation, name="head")(x)
    twin = tf_keras.Model(images, x, name=model.name)
    values = model_values(model) if values is None else values
    if xnnpack:
        values = xnnpack_values(values, spec["num_blocks"])
    for layer, keys in weight_table(spec["num_blocks"], xnnpack):
        twin.get_layer(layer).set_weights([values[key] for key in keys])
    return twin


def layer_norm_variances(twin, images):
    """{LayerNorm name: (min, max)} of the per-token variance each LayerNorm of
    ``twin`` sees on ``images`` (what ``rsqrt_free_layer_norm`` is fitted to)."""
    norms = [layer for layer in twin.layers
             if isinstance(layer, (tf_keras.layers.LayerNormalization, Centre))]
    probe = tf_keras.Model(twin.inputs, [layer.input for layer in norms])
    found = {layer.name.removesuffix("_centre"): [np.inf, 0.0] for layer in norms}
    for image in images:
        for name, x in zip(found, probe(np.asarray(image, np.float32)[None])):
            variance = np.var(x.numpy(), axis=-1)
            found[name] = [min(found[name][0], variance.min()), max(found[name][1], variance.max())]
    return {name: (float(low), float(high)) for name, (low, high) in found.items()}


def model_values(model):
    """A keras_mixer model's weights by official path (``stem/kernel``, ...)."""
    return {w.path: np.asarray(w.numpy()) for w in model.weights}


def twin_values(variables, num_blocks):
    """Official-path weights from the variables of a plain twin (or its QAT
    model), given as {variable name: value}, e.g. ``block0_token_dense0/kernel:0``."""
    names = {key: f"{layer}/{key.rsplit('/', 1)[1]}:0"
             for layer, keys in weight_table(num_blocks) for key in keys}
    missing = [name for name in names.values() if name not in variables]
    if missing:
        raise ValueError(f"The twin's variables lack {', '.join(missing)}.")
    return {key: variables[name] for key, name in names.items()}


def weight_table(num_blocks, xnnpack=False):
    """[(twin layer name, the official paths of its weights)] for every twin
    layer with weights. The XNNPACK form's channel-mixing and pre-head
    LayerNorms have none (``xnnpack_values`` folds them)."""
    table = [("stem", ["stem/kernel", "stem/bias"])]
    for i in range(num_blocks):
        src = f"MixerBlock_{i}"
        for j in (0, 1):
            if not (xnnpack and j == 1):
                table.append((f"block{i}_norm{j}",
                              [f"{src}/LayerNorm_{j}/gamma", f"{src}/LayerNorm_{j}/beta"]))
            for mlp, name in (("token_mixing", "token"), ("channel_mixing", "channel")):
                table.append((f"block{i}_{name}_dense{j}",
                              [f"{src}/{mlp}/Dense_{j}/kernel", f"{src}/{mlp}/Dense_{j}/bias"]))
    if not xnnpack:
        table.append(("pre_head_layer_norm",
                      ["pre_head_layer_norm/gamma", "pre_head_layer_norm/beta"]))
    return table + [("head", ["head/kernel", "head/bias"])]


def xnnpack_values(values, num_blocks):
    """Official-path weights rewritten for the XNNPACK form, computing the same
    function with fewer elementwise ops:
    - a LayerNorm followed by a Dense over channels (channel mixing, and the
      pre-head one through the mean over tokens) keeps only the normalisation;
      its gamma scales the Dense's kernel rows and beta @ kernel joins the bias;
    - every MLP's first Dense is scaled by ``Gelu.SCALE`` and its second
      Dense's kernel divided by it (``Gelu``'s XNNPACK form works scaled)."""
    values = dict(values)

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
            values[f"{first}/kernel"] = values[f"{first}/kernel"] * Gelu.SCALE
            values[f"{first}/bias"] = values[f"{first}/bias"] * Gelu.SCALE
            values[f"{second}/kernel"] = values[f"{second}/kernel"] / Gelu.SCALE
    fold_affine("pre_head_layer_norm", "head")
    return values


def load_keras_model(path):
    """A keras_mixer model from a .keras file, with errors that name the file."""
    import keras

    import keras_mixer  # noqa: F401  (registers the layers)

    if not os.path.exists(path):
        raise ValueError(f"Model file {path!r} does not exist.")
    try:
        return keras.saving.load_model(path)
    except Exception as error:
        raise ValueError(f"Model file {path!r} is not a readable Keras model ({error}).") from error
