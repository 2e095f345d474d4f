"""Checkpoint files for the weight tests: a tiny square Mixer, its official
arrays, and the same arrays written in each source's format."""

import dataclasses
import os

import numpy as np

from keras_mixer import presets
from tests import numpy_mixer
from tests.conftest import SQUARE_TINY, tiny_mixer

ATOL = 2e-6  # parity bound, references and peers alike; measured differences: 1-3e-7


def tiny(**overrides):
    return tiny_mixer(**{**SQUARE_TINY, "classifier_activation": None, **overrides})


def official_params(rng, classes=5, num_blocks=2):
    return numpy_mixer.random_params(
        rng,
        patch=4,
        channels=3,
        hidden=16,
        tokens=16,
        tokens_mlp=8,
        channels_mlp=32,
        num_blocks=num_blocks,
        classes=classes,
    )


def serve_tiny_as(monkeypatch, release, variant, classes=5):
    """Gives ``release``'s ``variant`` the sizes of ``official_params``' arrays,
    so a test can serve them as that release's file (downloads check the
    sizes of what they fetch)."""
    monkeypatch.setitem(presets.VARIANTS, variant, presets.Variant(4, 16, 2, 8, 32))
    release_with_tiny_head = dataclasses.replace(presets.RELEASES[release], classes=classes)
    monkeypatch.setitem(presets.RELEASES, release, release_with_tiny_head)


def images(rng, batch=3, size=16):
    return rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)


def save_npz(path, params):
    np.savez(path, **params)
    return str(path)


def to_timm(params):
    """The same arrays in timm's state_dict layout (timm/models/mlp_mixer.py's names)."""
    names = {
        "LayerNorm_0": "norm1",
        "LayerNorm_1": "norm2",
        "token_mixing": "mlp_tokens",
        "channel_mixing": "mlp_channels",
        "Dense_0": "fc1",
        "Dense_1": "fc2",
        "scale": "weight",
        "kernel": "weight",
    }
    state = {}
    for key, value in params.items():
        parts = key.split("/")
        if parts[0] == "stem":
            state[f"stem.proj.{names.get(parts[1], parts[1])}"] = (
                value.transpose(3, 2, 0, 1) if parts[1] == "kernel" else value
            )
            continue
        if parts[0] == "pre_head_layer_norm":
            parts = ["norm", parts[1]]
        elif parts[0].startswith("MixerBlock_"):
            parts = ["blocks", parts[0].split("_")[1], *parts[1:]]
        timm_key = ".".join(names.get(p, p) for p in parts)
        state[timm_key] = value.T.copy() if parts[-1] == "kernel" else value
    return state


def save_safetensors(path, state):
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v, np.float32) for k, v in state.items()}, str(path))
    return str(path)


def mutated(params, **changes):
    out = dict(params)
    for key, value in changes.items():
        key = key.replace("__", "/")
        if value is None:
            out.pop(key)
        else:
            out[key] = value
    return out


# Tiny Mixers made by the peers themselves, with their inputs and outputs
# (tools/make_peer_fixtures.py: timm on PyTorch, the official Flax code).
PEERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "peers")


def peer_case(peer):
    """(inputs, the peer's logits) of a peer fixture ("timm" or "official")."""
    return (
        np.load(os.path.join(PEERS, f"{peer}_inputs.npy")),
        np.load(os.path.join(PEERS, f"{peer}_outputs.npy")),
    )
