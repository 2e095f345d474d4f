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
"""

import os

import numpy as np
import tensorflow as tf
import tf_keras


class Gelu(tf_keras.layers.Layer):
    """GELU in the form the Mixer was trained with (tanh approximation or exact)."""

    def __init__(self, approximate=True, **kwargs):
        super().__init__(**kwargs)
        self.approximate = approximate

    def call(self, x):
        return tf.nn.gelu(x, approximate=self.approximate)

    def get_config(self):
        return {**super().get_config(), "approximate": self.approximate}


CUSTOM_OBJECTS = {"Gelu": Gelu}


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


def build_tf_keras(model, pixel_input=True, batch_size=1):
    """The tf_keras twin of a keras_mixer classifier, with its weights.

    Args:
        model: a keras_mixer model with a head (``include_top=True``).
        pixel_input: take raw 0-255 pixels (preprocessing folded in) instead of
            ``preprocess_input`` output.
        batch_size: 1 for conversion; None to train (QAT) on batches.
    """
    spec = mixer_spec(model)
    if spec["classes"] is None:
        raise ValueError("Conversion needs a classifier: build the model with include_top=True.")
    L = tf_keras.layers
    tokens = spec["grid"][0] * spec["grid"][1]
    hidden, eps = spec["hidden_size"], spec["layer_norm_epsilon"]

    images = tf_keras.Input(spec["image_shape"], batch_size=batch_size, name="images")
    x = images
    if pixel_input:
        x = L.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")(x)
    x = L.Conv2D(hidden, spec["patch_size"], strides=spec["patch_size"], name="stem")(x)
    x = L.Reshape((tokens, hidden), name="tokens")(x)
    for i in range(spec["num_blocks"]):
        y = L.LayerNormalization(epsilon=eps, name=f"block{i}_norm0")(x)
        y = L.Permute((2, 1), name=f"block{i}_to_channels")(y)
        y = L.Dense(spec["tokens_mlp_dim"], name=f"block{i}_token_dense0")(y)
        y = Gelu(spec["gelu_approximate"], name=f"block{i}_token_gelu")(y)
        y = L.Dense(tokens, name=f"block{i}_token_dense1")(y)
        y = L.Permute((2, 1), name=f"block{i}_to_tokens")(y)
        x = L.Add(name=f"block{i}_token_residual")([x, y])
        y = L.LayerNormalization(epsilon=eps, name=f"block{i}_norm1")(x)
        y = L.Dense(spec["channels_mlp_dim"], name=f"block{i}_channel_dense0")(y)
        y = Gelu(spec["gelu_approximate"], name=f"block{i}_channel_gelu")(y)
        y = L.Dense(hidden, name=f"block{i}_channel_dense1")(y)
        x = L.Add(name=f"block{i}_channel_residual")([x, y])
    x = L.LayerNormalization(epsilon=eps, name="pre_head_layer_norm")(x)
    x = L.GlobalAveragePooling1D(name="avg_pool")(x)
    x = L.Dense(spec["classes"], activation=spec["classifier_activation"], name="head")(x)
    twin = tf_keras.Model(images, x, name=model.name)
    copy_weights(model, twin)
    return twin


def copy_weights(model, twin):
    """Keras 3 weights (official-layout paths) -> the tf_keras twin's layers."""
    values = {w.path: np.asarray(w.numpy()) for w in model.weights}

    def set_layer(name, *keys):
        twin.get_layer(name).set_weights([values[k] for k in keys])

    set_layer("stem", "stem/kernel", "stem/bias")
    blocks = sum(1 for layer in twin.layers if layer.name.endswith("_token_dense0"))
    for i in range(blocks):
        src = f"MixerBlock_{i}"
        for j in (0, 1):
            set_layer(f"block{i}_norm{j}", f"{src}/LayerNorm_{j}/gamma",
                      f"{src}/LayerNorm_{j}/beta")
            for mlp, name in (("token_mixing", "token"), ("channel_mixing", "channel")):
                set_layer(f"block{i}_{name}_dense{j}", f"{src}/{mlp}/Dense_{j}/kernel",
                          f"{src}/{mlp}/Dense_{j}/bias")
    set_layer("pre_head_layer_norm", "pre_head_layer_norm/gamma", "pre_head_layer_norm/beta")
    set_layer("head", "head/kernel", "head/bias")


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
