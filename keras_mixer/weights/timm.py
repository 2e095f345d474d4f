"""timm checkpoints (``timm/models/mlp_mixer.py`` state dicts): safetensors,
or PyTorch pickles read with ``weights_only=True`` (nothing in them runs)."""

from __future__ import annotations

import re

import numpy as np

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
    return Checkpoint(params, "timm", path, file_keys)


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
