"""MLP-Mixer models in the manner of ``keras.applications``.

``MlpMixer`` builds any configuration; ``MixerS32`` ... ``MixerH14`` are the
variants of the paper's Table 1 (Tolstikhin et al., 2021) and ``MixerS8`` the
released S/8, all read from ``keras_mixer.presets``.
"""

from __future__ import annotations

import os
import zipfile

import keras
import numpy as np
from keras import layers

from keras_mixer import weights as weights_lib
from keras_mixer.architecture import HEAD
from keras_mixer.layers import (
    LAYER_NORM_EPSILON,
    MixerBlock,
    PatchEmbedding,
    patch_grid,
)
from keras_mixer.presets import RELEASES, VARIANTS

DEFAULT_INPUT_SHAPE = (224, 224, 3)


def MlpMixer(
    patch_size: int,
    hidden_size: int,
    num_blocks: int,
    tokens_mlp_dim: int,
    channels_mlp_dim: int,
    input_shape: tuple[int, int, int] | None = DEFAULT_INPUT_SHAPE,
    include_top: bool = True,
    weights: str | os.PathLike | None = None,
    input_tensor=None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
    dropout_rate: float = 0.0,
    drop_path_rate: float = 0.0,
    gelu_approximate: bool | None = None,
    name: str = "mlp_mixer",
) -> keras.Model:
    """Builds an MLP-Mixer as a Keras functional model.

    Args:
        patch_size: side of the square patches (stem kernel and stride).
        hidden_size: channels C of every token.
        num_blocks: number of Mixer blocks.
        tokens_mlp_dim: hidden width D_S of the token-mixing MLPs.
        channels_mlp_dim: hidden width D_C of the channel-mixing MLPs.
        input_shape: (height, width, channels); height and width must be
            multiples of ``patch_size``. Ignored when ``input_tensor`` is given.
        include_top: whether to end with the classification head (pre-head
            LayerNorm, mean over tokens, Dense(classes)).
        weights: None (random initialisation, zero head); a release of the
            official checkpoints ("imagenet1k", "imagenet21k", "sam", "gsam",
            where published for this variant), downloaded once into the Keras
            cache; or the path of an official ``.npz``, a timm
            ``.safetensors``/``.pth``/``.bin`` or a Keras ``.weights.h5``. A
            head with another class count is not loaded. At another
            resolution the token-mixing weights are adapted (see
            ``keras_mixer.weights.adapt_token_mixing``): for an integer
            multiple of the checkpoint's token grid the token MLP is widened
            as in the paper's Appendix C, otherwise resampled.
        input_tensor: optional Keras tensor (output of ``keras.Input``) to use
            as the image input.
        pooling: when ``include_top=False``: None returns the normalised token
            features ``(batch, tokens, hidden_size)``, "avg" their mean over
            tokens and "max" their maximum.
        classes: number of classes of the head.
        classifier_activation: activation of the head, e.g. "softmax", or None
            for logits.
        dropout_rate: dropout before the head (training only).
        drop_path_rate: stochastic depth rate of the last block; it rises
            linearly from 0 at the first block.
        gelu_approximate: tanh-approximate GELU (official checkpoints) when
            True, exact erf GELU (timm checkpoints) when False; None follows
            the origin of ``weights`` (True without weights).
        name: model name.

    Returns:
        A ``keras.Model`` whose input is images already scaled by
        ``keras_mixer.preprocess_input``.
    """
    sizes = dict(
        patch_size=patch_size,
        hidden_size=hidden_size,
        num_blocks=num_blocks,
        tokens_mlp_dim=tokens_mlp_dim,
        channels_mlp_dim=channels_mlp_dim,
    )
    for size_name, size in sizes.items():
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"{size_name} must be a whole number of at least 1; got {size!r}.")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f'pooling must be None, "avg" or "max"; got {pooling!r}.')
    images = _image_input(input_shape, input_tensor)
    grid = patch_grid(images.shape[1:3], patch_size)  # validates the input size

    checkpoint = None
    if weights is not None:
        checkpoint = _read_weights(weights, patch_size, hidden_size, num_blocks, channels_mlp_dim)
        if tokens_mlp_dim == checkpoint.tokens_mlp_dim:
            tokens_mlp_dim = weights_lib.tiled_token_mlp_dim(checkpoint, grid)
    if gelu_approximate is None:
        gelu_approximate = checkpoint.gelu_approximate if checkpoint else True

    x = PatchEmbedding(patch_size, hidden_size, name="stem")(images)
    for i, rate in enumerate(np.linspace(0.0, drop_path_rate, num_blocks)):
        x = MixerBlock(
            tokens_mlp_dim,
            channels_mlp_dim,
            drop_path_rate=float(rate),
            gelu_approximate=gelu_approximate,
            name=f"MixerBlock_{i}",
        )(x)
    x = layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="pre_head_layer_norm")(x)

    x = _top(x, include_top, pooling, classes, classifier_activation, dropout_rate)
    inputs = keras.utils.get_source_inputs(input_tensor) if input_tensor is not None else images
    model = keras.Model(inputs, x, name=name)
    if checkpoint is not None:
        weights_lib.load_weights(model, checkpoint)
    return model


def _read_weights(weights, patch_size, hidden_size, num_blocks, channels_mlp_dim):
    """The checkpoint ``weights`` names (a release: the file of these sizes' variant)."""
    variant = None
    if isinstance(weights, str) and weights in RELEASES:
        variant = weights_lib.release_variant(patch_size, hidden_size, num_blocks, channels_mlp_dim)
    return weights_lib.read_checkpoint(weights, variant)


def _top(x, include_top, pooling, classes, classifier_activation, dropout_rate):
    """The classification head on the normalised tokens, or their pooling."""
    if include_top:
        x = layers.GlobalAveragePooling1D(name="avg_pool")(x)
        if dropout_rate:
            x = layers.Dropout(dropout_rate, name="head_dropout")(x)
        x = layers.Dense(
            classes,
            activation=classifier_activation,
            kernel_initializer="zeros",
            # Under mixed precision the head (and its softmax) computes in float32.
            dtype="float32" if keras.config.dtype_policy().name.startswith("mixed") else None,
            name=HEAD,
        )(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling1D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling1D(name="max_pool")(x)
    return x


def _image_input(input_shape, input_tensor):
    if input_tensor is not None:
        if not keras.backend.is_keras_tensor(input_tensor):
            raise ValueError(
                f"input_tensor must be a Keras tensor (from keras.Input); got "
                f"{type(input_tensor).__name__}."
            )
        shape = tuple(input_tensor.shape[1:])
        source = input_tensor
    else:
        shape = DEFAULT_INPUT_SHAPE if input_shape is None else tuple(input_shape)
        source = None
    if len(shape) != 3:
        raise ValueError(
            f"MLP-Mixer takes images of shape (height, width, channels); got "
            f"a {len(shape)}-D input shape {shape}."
        )
    if source is None:
        source = keras.Input(shape=shape, name="images")
    return source


def _variant(variant):
    code = variant.replace("/", "")
    default_name = f"mixer_{code.lower()}"
    preset = VARIANTS[variant]

    def constructor(
        include_top: bool = True,
        weights: str | os.PathLike | None = None,
        input_shape: tuple[int, int, int] | None = None,
        input_tensor=None,
        pooling: str | None = None,
        classes: int = 1000,
        classifier_activation: str | None = "softmax",
        dropout_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        name: str | None = None,
        **kwargs,
    ) -> keras.Model:
        return MlpMixer(
            **preset.sizes,
            input_shape=input_shape,
            include_top=include_top,
            weights=weights,
            input_tensor=input_tensor,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            dropout_rate=dropout_rate,
            drop_path_rate=drop_path_rate,
            name=name or default_name,
            **kwargs,
        )

    constructor.__name__ = constructor.__qualname__ = f"Mixer{code}"
    constructor.__doc__ = (
        f"Mixer-{variant}: patch {preset.patch_size}, hidden {preset.hidden_size}, "
        f"{preset.num_blocks} blocks, token MLP {preset.tokens_mlp_dim}, channel MLP "
        f"{preset.channels_mlp_dim}.\n\n"
        "Arguments as for `keras_mixer.MlpMixer` (plus its `gelu_approximate` "
        "as a keyword); `input_shape` defaults to (224, 224, 3)."
    )
    return constructor


# One constructor per preset (keras_mixer.presets), by variant name.
CONSTRUCTORS = {variant: _variant(variant) for variant in VARIANTS}
MixerS32 = CONSTRUCTORS["S/32"]
MixerS16 = CONSTRUCTORS["S/16"]
MixerS8 = CONSTRUCTORS["S/8"]
MixerB32 = CONSTRUCTORS["B/32"]
MixerB16 = CONSTRUCTORS["B/16"]
MixerL32 = CONSTRUCTORS["L/32"]
MixerL16 = CONSTRUCTORS["L/16"]
MixerH14 = CONSTRUCTORS["H/14"]


def load_model(path: str | os.PathLike) -> keras.Model:
    """A saved model (.keras) with the keras_mixer layers and schedule known,
    or a ValueError naming the file and what is wrong with it."""
    from keras_mixer.files import check_input

    path = os.fspath(path)
    check_input(path)
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"Model file {path!r} is not a whole .keras file (not a readable zip "
            "archive: cut off, or a file of another kind)."
        )
    try:
        return keras.saving.load_model(path)
    except TypeError as error:
        raise ValueError(
            f"Model file {path!r} names a layer, class or function this process does not know: "
            "import the package that registers it before loading (Keras: "
            f"{' '.join(str(error).split())[:160]}...)."
        ) from error
    except Exception as error:
        raise ValueError(
            f"Model file {path!r} is not a readable Keras model "
            f"({' '.join(str(error).split())[:300]})."
        ) from error
