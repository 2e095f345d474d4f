"""Keras ``.weights.h5`` files saved from keras_mixer models."""

from __future__ import annotations

import re

import numpy as np

from keras_mixer.weights.checkpoint import Checkpoint


def read_keras_h5(path: str) -> Checkpoint:
    """A .weights.h5 saved from one of our models. Keras names its groups
    after the layer classes (``mixer_block_3``) and our attributes
    (``token_mixing/dense_0``); translate them to the official keys."""
    import h5py

    top = {"patch_embedding": "stem", "layer_normalization": "pre_head_layer_norm", "dense": "head"}
    inner = {
        "norm_0": "LayerNorm_0",
        "norm_1": "LayerNorm_1",
        "dense_0": "Dense_0",
        "dense_1": "Dense_1",
    }
    params, file_keys = {}, {}

    def visit(name, item):
        if not isinstance(item, h5py.Dataset):
            return
        parts = name.split("/")
        if parts[0] != "layers" or parts[-2] != "vars":
            return
        layer, *path, _, index = parts[1:]
        block = re.fullmatch(r"mixer_block(?:_(\d+))?", layer)
        if block:
            path = [f"MixerBlock_{block.group(1) or 0}"] + [inner.get(p, p) for p in path]
        elif layer in top and not path:
            path = [top[layer]]
        else:
            path = [layer, *path]
        is_norm = path[-1].startswith("LayerNorm") or path[-1] == "pre_head_layer_norm"
        leaf = ("scale" if is_norm else "kernel") if index == "0" else "bias"
        key = "/".join([*path, leaf])
        params[key], file_keys[key] = np.asarray(item), name

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except OSError as error:
        raise ValueError(
            f"Weights {path!r}: unreadable or truncated .weights.h5 ({error})."
        ) from error
    return Checkpoint(params, "keras", path, file_keys)
