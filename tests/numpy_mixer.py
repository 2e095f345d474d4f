"""An independent NumPy MLP-Mixer, written from the paper's equations.

Parameters are a flat dict in the official checkpoint layout
(``stem/kernel``, ``MixerBlock_0/token_mixing/Dense_0/kernel``, ...), so the
same arrays can be written as an official ``.npz`` and checked against this
forward pass. Computes in float64.
"""

import math

import numpy as np

_erf = np.vectorize(math.erf)


def gelu(x, approximate=True):
    if approximate:
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def layer_norm(x, scale, bias, eps=1e-6):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * scale + bias


def mlp(x, params, prefix, approximate):
    h = x @ params[f"{prefix}/Dense_0/kernel"] + params[f"{prefix}/Dense_0/bias"]
    return (
        gelu(h, approximate) @ params[f"{prefix}/Dense_1/kernel"] + params[f"{prefix}/Dense_1/bias"]
    )


def patches(images, p):
    """(B, H, W, C) -> (B, S, p*p*C), patches in row-major order, each patch
    flattened in (row, col, channel) order like an HWIO kernel."""
    b, h, w, c = images.shape
    x = images.reshape(b, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // p) * (w // p), p * p * c)


def forward(params, images, num_blocks, approximate=True, include_head=True):
    """Logits (B, classes), or pooled features when include_head is False."""
    params = {k: np.asarray(v, np.float64) for k, v in params.items()}
    kernel = params["stem/kernel"]
    p = kernel.shape[0]
    x = patches(np.asarray(images, np.float64), p) @ kernel.reshape(-1, kernel.shape[-1])
    x = x + params["stem/bias"]
    for i in range(num_blocks):
        blk = f"MixerBlock_{i}"
        y = layer_norm(x, params[f"{blk}/LayerNorm_0/scale"], params[f"{blk}/LayerNorm_0/bias"])
        x = x + mlp(y.swapaxes(1, 2), params, f"{blk}/token_mixing", approximate).swapaxes(1, 2)
        y = layer_norm(x, params[f"{blk}/LayerNorm_1/scale"], params[f"{blk}/LayerNorm_1/bias"])
        x = x + mlp(y, params, f"{blk}/channel_mixing", approximate)
    x = layer_norm(x, params["pre_head_layer_norm/scale"], params["pre_head_layer_norm/bias"])
    x = x.mean(axis=1)
    if include_head:
        x = x @ params["head/kernel"] + params["head/bias"]
    return x


def random_params(
    rng, patch, channels, hidden, tokens, tokens_mlp, channels_mlp, num_blocks, classes
):
    """Random parameters (non-trivial LayerNorm affines and head) in the official layout."""

    def normal(*shape, scale=None):
        scale = scale if scale is not None else 1 / math.sqrt(shape[0])
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    params = {
        "stem/kernel": normal(
            patch, patch, channels, hidden, scale=1 / math.sqrt(patch * patch * channels)
        ),
        "stem/bias": normal(hidden, scale=0.1),
    }
    for i in range(num_blocks):
        blk = f"MixerBlock_{i}"
        for ln in ("LayerNorm_0", "LayerNorm_1"):
            params[f"{blk}/{ln}/scale"] = 1 + normal(hidden, scale=0.1)
            params[f"{blk}/{ln}/bias"] = normal(hidden, scale=0.1)
        for name, width, mlp_dim in (
            ("token_mixing", tokens, tokens_mlp),
            ("channel_mixing", hidden, channels_mlp),
        ):
            params[f"{blk}/{name}/Dense_0/kernel"] = normal(width, mlp_dim)
            params[f"{blk}/{name}/Dense_0/bias"] = normal(mlp_dim, scale=0.1)
            params[f"{blk}/{name}/Dense_1/kernel"] = normal(mlp_dim, width)
            params[f"{blk}/{name}/Dense_1/bias"] = normal(width, scale=0.1)
    params["pre_head_layer_norm/scale"] = 1 + normal(hidden, scale=0.1)
    params["pre_head_layer_norm/bias"] = normal(hidden, scale=0.1)
    params["head/kernel"] = normal(hidden, classes)
    params["head/bias"] = normal(classes, scale=0.1)
    return params
