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
- LayerNorm and GELU are written out op by op, in a form
  (``convert.forms``): "plain", TFLite's own ops (RSQRT,
  SQUARED_DIFFERENCE, GELU), or "xnnpack" (``convert.xnnpack``), ops
  XNNPACK runs in int8, with LayerNorm affines folded into the next Dense
  where one follows over channels and logits out;
- int8 graphs end at the logits: the app applies the softmax (an int8
  softmax would only add error at a fixed 1/256 resolution, outside XNNPACK).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf
import tf_keras

import keras_mixer
from convert.forms import Form, PlainForm, Wrap, unwrapped
from convert.layers import Activation, Pixels
from keras_mixer.architecture import HEAD
from keras_mixer.layers import LAYER_NORM_EPSILON, patch_grid

PIXEL_RANGE = (0.0, 255.0)  # the input: int8 scale 1, raw pixels exactly
POOLED = "avg_pool"  # the mean over tokens, the head's input


def mixer_spec(model: keras.Model) -> dict:
    """What the deployment graph needs of a keras_mixer model: its
    architecture (``keras_mixer.architecture``), input and head."""
    found = keras_mixer.architecture(model)  # a ValueError for other models
    known = {
        "InputLayer",
        "PatchEmbedding",
        "MixerBlock",
        "LayerNormalization",
        "GlobalAveragePooling1D",
        "GlobalMaxPooling1D",
        "Dropout",
        "Dense",
    }
    for layer in model.layers:
        if type(layer).__name__ not in known:
            raise ValueError(
                f"Cannot convert layer {layer.name!r} ({type(layer).__name__}): the deployment "
                f"graph (and QAT) knows only the layers of keras_mixer models "
                f"({', '.join(sorted(known))})."
            )
    activation = None
    if found.classes is not None:
        activation = tf_keras.activations.serialize(
            tf_keras.activations.get(model.get_layer(HEAD).get_config()["activation"])
        )
    return {
        **dataclasses.asdict(found),
        "name": model.name,
        "image_shape": tuple(model.input_shape[1:]),
        "grid": patch_grid(model.input_shape[1:3], found.patch_size),
        "layer_norm_epsilon": LAYER_NORM_EPSILON,
        "classifier_activation": None if activation == "linear" else activation,
    }


def layer_norm_names(num_blocks: int) -> list[str]:
    """The LayerNorms of a Mixer, by their names in the graph."""
    return [f"block{i}_norm{j}" for i in range(num_blocks) for j in (0, 1)] + [
        "pre_head_layer_norm"
    ]


def build_graph(
    spec: dict,
    values: dict,
    form: Form | None = None,
    batch_size: int | None = 1,
    wrap: Wrap | None = None,
    logits: bool = False,
) -> tf_keras.Model:
    """The tf_keras twin of a Mixer, with its weights.

    Args:
        spec: ``mixer_spec`` of the model (it must have a head).
        values: its weights by official path (``model_values``).
        form: how LayerNorm and GELU are written (``convert.forms.form``);
            default the plain form.
        batch_size: 1 to convert, None to calibrate and train (the converter
            traces any graph at batch 1: ``convert.tflite``).
        wrap: applied to every layer before it is called: how
            ``convert.quantize`` puts fake quantisation on each (default:
            none, the float graph).
        logits: end at the head's logits, leaving the model's classifier
            activation to the app (always so where the form says).
    """
    if spec["classes"] is None:
        raise ValueError("Conversion needs a classifier: build the model with include_top=True.")
    form = form or PlainForm()
    wrap = wrap or unwrapped
    L = tf_keras.layers
    tokens = spec["grid"][0] * spec["grid"][1]

    def norm(x, name, affine):
        return form.layer_norm(x, name, spec["layer_norm_epsilon"], affine, wrap)

    def mlp(x, name, hidden_units, units):
        x = wrap(L.Dense(hidden_units, name=f"{name}_dense0"))(x)
        x = form.gelu(x, f"{name}_gelu", spec["gelu_approximate"], wrap)
        return wrap(L.Dense(units, name=f"{name}_dense1"))(x)

    images = tf_keras.Input(spec["image_shape"], batch_size=batch_size, name="images")
    x = wrap(Pixels(PIXEL_RANGE, name="pixels"))(images)
    x = wrap(
        L.Conv2D(spec["hidden_size"], spec["patch_size"], strides=spec["patch_size"], name="stem")
    )(x)
    x = L.Reshape((tokens, spec["hidden_size"]), name="tokens")(x)
    for i in range(spec["num_blocks"]):
        y = L.Permute((2, 1), name=f"block{i}_to_channels")(norm(x, f"block{i}_norm0", True))
        y = mlp(y, f"block{i}_token", spec["tokens_mlp_dim"], tokens)
        y = L.Permute((2, 1), name=f"block{i}_to_tokens")(y)
        x = wrap(L.Add(name=f"block{i}_token_residual"))([x, y])
        y = mlp(
            norm(x, f"block{i}_norm1", not form.folds_affines),
            f"block{i}_channel",
            spec["channels_mlp_dim"],
            spec["hidden_size"],
        )
        x = wrap(L.Add(name=f"block{i}_channel_residual"))([x, y])
    x = norm(x, "pre_head_layer_norm", not form.folds_affines)
    x = wrap(L.GlobalAveragePooling1D(name=POOLED))(x)
    x = wrap(L.Dense(spec["classes"], name="head"))(x)
    activation = spec["classifier_activation"]
    if activation and not (logits or form.logits_only):
        x = wrap(Activation(activation, name="scores"))(x)
    graph = tf_keras.Model(images, x, name=spec["name"])
    folded = deployment_values(values, spec["num_blocks"], form)
    variables = {variable.name: variable for variable in graph.weights}
    for name, keys in weight_table(spec["num_blocks"], form):
        for key in keys:  # by variable name: a quantisation wrapper hides the layer's own list
            variables[f"{name}/{key.rsplit('/', 1)[1]}:0"].assign(folded[key])
    return graph


def layer_norm_variances(
    plain_graph: tf_keras.Model, images: np.ndarray, batch_size: int = 32
) -> dict:
    """{LayerNorm name: (min, max)} of the per-token variance each LayerNorm
    of a plain-form graph (``batch_size=None``) sees on ``images``: what the
    XNNPACK form's 1/sqrt interpolation is fitted to."""
    names = [name for name in layer_norm_names(block_count(plain_graph))]
    probe = tf.function(
        tf_keras.Model(
            plain_graph.inputs,
            [tf.reduce_min(plain_graph.get_layer(f"{n}_variance").output) for n in names]
            + [tf.reduce_max(plain_graph.get_layer(f"{n}_variance").output) for n in names],
        )
    )
    low = np.full(len(names), np.inf)
    high = np.zeros(len(names))
    for start in range(0, len(images), batch_size):
        found = np.array(
            [v.numpy() for v in probe(np.asarray(images[start : start + batch_size], np.float32))]
        )
        low = np.minimum(low, found[: len(names)])
        high = np.maximum(high, found[len(names) :])
    return {name: (float(lo), float(hi)) for name, lo, hi in zip(names, low, high)}


def block_count(graph: tf_keras.Model) -> int:
    """The number of Mixer blocks of a deployment graph."""
    return sum(1 for layer in graph.layers if layer.name.endswith("_token_residual"))


def model_values(model: keras.Model) -> dict:
    """A keras_mixer model's weights by official path (``stem/kernel``, ...)."""
    return {w.path: np.asarray(w.numpy()) for w in model.weights}


def weight_table(num_blocks: int, form: Form | None = None) -> list:
    """[(graph layer name, the official paths of its weights)] for every
    layer with weights. A form that folds affines has no channel-mixing and
    pre-head LayerNorm weights (``deployment_values``)."""
    folds = (form or PlainForm()).folds_affines
    table = [("stem", ["stem/kernel", "stem/bias"])]

    def affine(name, path):
        table.extend([(f"{name}_gamma", [f"{path}/gamma"]), (name, [f"{path}/beta"])])

    for i in range(num_blocks):
        src = f"MixerBlock_{i}"
        for j in (0, 1):
            if not (folds and j == 1):
                affine(f"block{i}_norm{j}", f"{src}/LayerNorm_{j}")
            for mlp, name in (("token_mixing", "token"), ("channel_mixing", "channel")):
                table.append(
                    (
                        f"block{i}_{name}_dense{j}",
                        [f"{src}/{mlp}/Dense_{j}/kernel", f"{src}/{mlp}/Dense_{j}/bias"],
                    )
                )
    if not folds:
        affine("pre_head_layer_norm", "pre_head_layer_norm")
    return [*table, ("head", ["head/kernel", "head/bias"])]


def deployment_values(values: dict, num_blocks: int, form: Form | None = None) -> dict:
    """Official-path weights rewritten for the deployment graph, computing the
    same function: ``preprocess_input``, (x - 127.5) / 127.5, folded into the
    stem (its kernel divided by 127.5, its bias less the kernel's sum over a
    patch), then whatever ``form`` moves (``Form.values``)."""
    values = dict(values)
    kernel = values["stem/kernel"]
    values["stem/kernel"] = kernel / 127.5
    values["stem/bias"] = values["stem/bias"] - kernel.sum(axis=(0, 1, 2))
    return (form or PlainForm()).values(values, num_blocks)
