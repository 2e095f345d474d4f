"""Loading a checkpoint into a model: read it (whatever its source), plan
every assignment - keys, shapes, the head, the token grid - and only then
assign, so that a failed load leaves the model as it was."""

from __future__ import annotations

import logging
import os
import re

import keras
import numpy as np

from keras_mixer import preprocessing
from keras_mixer.architecture import architecture
from keras_mixer.layers import patch_grid
from keras_mixer.presets import RELEASES, variant_named
from keras_mixer.weights.checkpoint import Checkpoint, official_key
from keras_mixer.weights.keras_h5 import read_keras_h5
from keras_mixer.weights.official import fetch_release, read_official
from keras_mixer.weights.resolution import adapt_token_mixing
from keras_mixer.weights.timm import TIMM_EXTENSIONS, read_timm

logger = logging.getLogger("keras_mixer")


def read_checkpoint(
    source: str | os.PathLike | Checkpoint, variant: str | None = None
) -> Checkpoint:
    """Reads ``source`` into a Checkpoint.

    Args:
        source: a release name (see ``RELEASES``; needs ``variant``), or the
            path of an official ``.npz``, a timm ``.safetensors``/``.pth``/
            ``.bin``, or a Keras ``.weights.h5`` file.
        variant: e.g. "B/16", to pick the file of a release.
    """
    if isinstance(source, Checkpoint):
        return source
    source = os.fspath(source)
    if source in RELEASES:
        checkpoint = read_official(fetch_release(source, variant), label=f"{source} {variant}")
        checkpoint.preprocessing = RELEASES[source].preprocessing
        return checkpoint
    if not os.path.exists(source):
        raise ValueError(
            f"Weights {source!r}: no such file, and not a release name "
            f"({', '.join(sorted(RELEASES))})."
        )
    if source.endswith(".npz"):
        return read_official(source)
    if source.endswith(".weights.h5"):
        return read_keras_h5(source)
    if source.endswith(TIMM_EXTENSIONS):
        return read_timm(source)
    raise ValueError(
        f"Weights {source!r}: unknown format; expected .npz (official), "
        f".safetensors/.pth/.bin (timm) or .weights.h5 (Keras)."
    )


def load_weights(
    model: keras.Model, source: str | os.PathLike | Checkpoint, variant: str | None = None
) -> keras.Model:
    """Loads weights into a model built by ``keras_mixer``.

    Args:
        model: a Mixer from ``keras_mixer.MlpMixer`` or a variant constructor.
        source: a release name, a checkpoint path (see ``read_checkpoint``) or
            a ``Checkpoint``.
        variant: the variant for a release name, e.g. "B/16"; by default the
            one the model's configuration matches.

    A head whose class count differs from the model's is not loaded (the
    model's head stays as it is; one log line says so); ``include_top=False``
    models ignore the head. A checkpoint with S tokens loads into a model with
    more or fewer tokens by adapting its token-mixing weights (see
    ``adapt_token_mixing``). Where the source says how its publisher
    evaluates images (a release; a timm file with its ``config.json``), the
    model records it (``keras_mixer.preprocessing.of_model``). Any other
    mismatch raises ValueError naming the key and both shapes, and leaves the
    model untouched.
    """
    if isinstance(source, str) and source in RELEASES and variant is None:
        variant = variant_of(model)
    checkpoint = read_checkpoint(source, variant)
    model_gelu_approximate = architecture(model).gelu_approximate
    targets = _model_variables(model)
    values = _plan(checkpoint, targets, model)
    if checkpoint.gelu_approximate != model_gelu_approximate:
        logger.warning(
            "%s was trained with %s GELU but the model uses %s GELU: outputs will differ "
            "(build the model with gelu_approximate=%s to reproduce them).",
            checkpoint.source,
            "tanh-approximate" if checkpoint.gelu_approximate else "exact",
            "tanh-approximate" if model_gelu_approximate else "exact",
            checkpoint.gelu_approximate,
        )
    backup = {key: targets[key].numpy() for key in values}
    try:
        for key, value in values.items():
            targets[key].assign(value)
    except BaseException:
        for key, value in backup.items():
            targets[key].assign(value)
        raise
    recorded = preprocessing.of_model(model)
    if checkpoint.preprocessing is None and recorded is not None:
        logger.warning(
            "%s does not say how its images are prepared: the model no longer carries the "
            "preprocessing of %s (set it with keras_mixer.preprocessing.set_on_model).",
            checkpoint.source,
            recorded.source or "its earlier weights",
        )
    preprocessing.set_on_model(model, checkpoint.preprocessing)  # the weights' own, or none
    return model


def variant_of(model: keras.Model) -> str:
    """The released variant ("B/16") whose configuration the model has."""
    found = architecture(model)
    return release_variant(
        found.patch_size, found.hidden_size, found.num_blocks, found.channels_mlp_dim
    )


def release_variant(
    patch_size: int, hidden_size: int, num_blocks: int, channels_mlp_dim: int
) -> str:
    """The variant name of a configuration, for picking a release's file."""
    name = variant_named(patch_size, hidden_size, num_blocks, channels_mlp_dim)
    if name is None:
        raise ValueError(
            "Release weights exist only for the released variants; this configuration "
            f"(patch {patch_size}, hidden {hidden_size}, {num_blocks} blocks, channel MLP "
            f"{channels_mlp_dim}) matches none. Pass a checkpoint path instead."
        )
    return name


def _model_variables(model):
    """official key -> variable, for the model's Mixer weights."""
    names = ("stem", "pre_head_layer_norm", "head")
    targets = {}
    for variable in model.weights:
        root = variable.path.split("/")[0]
        if root in names or re.fullmatch(r"MixerBlock_\d+", root):
            targets[official_key(variable.path)] = variable
    if "stem/kernel" not in targets:
        raise ValueError("load_weights needs a model built by keras_mixer (no 'stem' layer).")
    return targets


HEAD_KEYS = {"head/kernel", "head/bias"}


def _plan(checkpoint, targets, model):
    """official key -> array to assign, after checking everything."""
    found = architecture(model)
    if checkpoint.num_blocks != found.num_blocks:
        raise ValueError(
            f"Weights {checkpoint.source}: the checkpoint has {checkpoint.num_blocks} Mixer "
            f"blocks, the model has {found.num_blocks}."
        )
    params = _loadable_head(checkpoint, targets)
    _check_keys(checkpoint, params, targets)
    model_tokens = targets["MixerBlock_0/token_mixing/Dense_0/kernel"].shape
    if params["MixerBlock_0/token_mixing/Dense_0/kernel"].shape != tuple(model_tokens):
        grid = patch_grid(model.input_shape[1:3], found.patch_size)
        for i in range(found.num_blocks):
            params.update(
                adapt_token_mixing(
                    params, f"MixerBlock_{i}/token_mixing", grid, model_tokens[1], checkpoint.source
                )
            )
        logger.info(
            "%s: token-mixing weights adapted from %d to %d tokens.",
            checkpoint.source,
            checkpoint.tokens,
            model_tokens[0],
        )
    for key, value in params.items():
        expected = tuple(targets[key].shape)
        if value.shape != expected:
            raise ValueError(
                f"Weights {checkpoint.source}: {checkpoint.name(key)!r} has shape "
                f"{value.shape}, the model expects {expected}."
            )
    return params


def _loadable_head(checkpoint, targets):
    """The checkpoint's arrays without a head the model cannot take: none
    (``include_top=False``) or one of another class count (one log line)."""
    source, params = checkpoint.source, dict(checkpoint.params)
    if not HEAD_KEYS & targets.keys():
        for key in HEAD_KEYS:
            params.pop(key, None)
    elif HEAD_KEYS & params.keys():
        model_classes = targets["head/bias"].shape[0]
        classes = params.get("head/bias", np.zeros(0)).shape[0]
        if classes != model_classes:
            logger.warning(
                "%s: head not loaded: the checkpoint has %d classes, the model %d; the "
                "model's head stays as it is (zero-initialised when new).",
                source,
                classes,
                model_classes,
            )
            for key in HEAD_KEYS:
                params.pop(key, None)
    else:
        logger.warning("%s has no head; the model's head stays as it is.", source)
    return params


def _check_keys(checkpoint, params, targets):
    """Refuses a key the model lacks, or a weight of the model (not its head)
    the checkpoint lacks, naming the first and counting the others."""
    unexpected = sorted(params.keys() - targets.keys())
    if unexpected:
        key = unexpected[0]
        raise ValueError(
            f"Weights {checkpoint.source}: unexpected key {checkpoint.name(key)!r} with shape "
            f"{params[key].shape}; the model has no such weight{_and_more(unexpected)}"
        )
    missing = sorted(targets.keys() - params.keys() - HEAD_KEYS)
    if missing:
        key = missing[0]
        raise ValueError(
            f"Weights {checkpoint.source}: missing key {checkpoint.name(key)!r}; the model "
            f"expects shape {tuple(targets[key].shape)}{_and_more(missing, ' missing')}"
        )


def _and_more(keys, what=""):
    """Sentence end after naming keys[0]: " (and 3 more missing)." or "."."""
    return f" (and {len(keys) - 1} more{what})." if len(keys) > 1 else "."
