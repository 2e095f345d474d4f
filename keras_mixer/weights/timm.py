"""timm checkpoints (``timm/models/mlp_mixer.py`` state dicts): safetensors,
or PyTorch pickles read with ``weights_only=True`` (nothing in them runs)."""

from __future__ import annotations

import json
import os
import re

import numpy as np

from keras_mixer.preprocessing import ImagePreprocessing
from keras_mixer.weights.checkpoint import Checkpoint

TIMM_EXTENSIONS = (".safetensors", ".pth", ".pt", ".bin")
TIMM_BLOCK_NAMES = {
    "norm1.weight": "LayerNorm_0/scale",
    "norm1.bias": "LayerNorm_0/bias",
    "norm2.weight": "LayerNorm_1/scale",
    "norm2.bias": "LayerNorm_1/bias",
    "mlp_tokens.fc1.weight": "token_mixing/Dense_0/kernel",
    "mlp_tokens.fc1.bias": "token_mixing/Dense_0/bias",
    "mlp_tokens.fc2.weight": "token_mixing/Dense_1/kernel",
    "mlp_tokens.fc2.bias": "token_mixing/Dense_1/bias",
    "mlp_channels.fc1.weight": "channel_mixing/Dense_0/kernel",
    "mlp_channels.fc1.bias": "channel_mixing/Dense_0/bias",
    "mlp_channels.fc2.weight": "channel_mixing/Dense_1/kernel",
    "mlp_channels.fc2.bias": "channel_mixing/Dense_1/bias",
}
TIMM_TOP_NAMES = {
    "stem.proj.weight": "stem/kernel",
    "stem.proj.bias": "stem/bias",
    "norm.weight": "pre_head_layer_norm/scale",
    "norm.bias": "pre_head_layer_norm/bias",
    "head.weight": "head/kernel",
    "head.bias": "head/bias",
}


def read_timm(path: str) -> Checkpoint:
    """A timm state dict, its keys and layouts turned into the official ones."""
    state = _read_torch_state(path)
    params, file_keys = {}, {}
    for timm_key, value in state.items():
        match = re.fullmatch(r"blocks\.(\d+)\.(.+)", timm_key)
        if match and match.group(2) in TIMM_BLOCK_NAMES:
            key = f"MixerBlock_{match.group(1)}/{TIMM_BLOCK_NAMES[match.group(2)]}"
        elif timm_key in TIMM_TOP_NAMES:
            key = TIMM_TOP_NAMES[timm_key]
        else:
            key = timm_key  # reported as an unexpected key when loading
        value = np.asarray(value, np.float32)
        if key == "stem/kernel" and value.ndim == 4:
            value = value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
        elif key.endswith("/kernel") and value.ndim == 2:
            value = value.T  # torch Linear (out, in) -> (in, out)
        params[key], file_keys[key] = value, timm_key
    return Checkpoint(params, "timm", path, file_keys, pretrained_preprocessing(path))


# timm's interpolation names -> tf.image.resize's (keras_mixer.preprocessing.RESIZE_METHODS)
TIMM_INTERPOLATIONS = {"bilinear": "bilinear", "bicubic": "bicubic", "nearest": "nearest"}


def pretrained_preprocessing(path: str) -> ImagePreprocessing | None:
    """The evaluation preprocessing in the ``pretrained_cfg`` of the Hugging
    Face ``config.json`` beside a timm weights file (``crop_pct``,
    ``interpolation``, ``mean``, ``std``), or None when there is none. A
    ``crop_mode`` other than "center" or an interpolation we lack raises
    ValueError: the model could not be evaluated as published."""
    config_path = os.path.join(os.path.dirname(os.path.abspath(path)), "config.json")
    try:
        with open(config_path) as f:
            found = json.load(f).get("pretrained_cfg")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(found, dict) or "crop_pct" not in found:
        return None
    where = f"the pretrained_cfg of {config_path}"
    if found.get("crop_mode", "center") != "center":
        raise ValueError(
            f"{where}: crop_mode {found['crop_mode']!r}; keras-mixer evaluates with "
            "centre crops only."
        )
    interpolation = TIMM_INTERPOLATIONS.get(found.get("interpolation", "bilinear"))
    if interpolation is None:
        raise ValueError(
            f"{where}: interpolation {found['interpolation']!r}; keras-mixer resizes with "
            f"{', '.join(TIMM_INTERPOLATIONS)}."
        )
    return ImagePreprocessing(
        float(found["crop_pct"]),
        interpolation,
        mean=found.get("mean", (0.5,) * 3),
        std=found.get("std", (0.5,) * 3),
        source=where,
    )


def _read_torch_state(path):
    if path.endswith(".safetensors"):
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            return load_file(path)
        except (SafetensorError, OSError, ValueError) as error:
            raise ValueError(
                f"Weights {path!r}: unreadable or truncated .safetensors ({error})."
            ) from error
    try:
        import torch
    except ImportError:
        raise ValueError(
            f"Weights {path!r}: reading PyTorch pickles needs torch "
            "(pip install torch), or convert the file to .safetensors."
        ) from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"Weights {path!r}: unreadable PyTorch file ({error}).") from error
    for wrapper in ("state_dict", "model", "state_dict_ema"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    return {k: v.float().numpy() for k, v in state.items()}
