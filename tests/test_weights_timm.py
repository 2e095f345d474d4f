"""timm state dicts (keras_mixer.weights.timm), against timm itself."""

import os

import numpy as np
import pytest

import keras_mixer
from tests import numpy_mixer
from tests.weights_helpers import (
    ATOL,
    PEERS,
    images,
    official_params,
    peer_case,
    save_safetensors,
    tiny,
    to_timm,
)


def test_timm_safetensors_reproduces_numpy_forward(rng, tmp_path):
    params = official_params(rng)
    model = tiny(weights=save_safetensors(tmp_path / "model.safetensors", to_timm(params)))
    assert model.get_layer("MixerBlock_0").gelu_approximate is False  # follows timm
    x = images(rng)
    np.testing.assert_allclose(
        model.predict(x, verbose=0), numpy_mixer.forward(params, x, 2, approximate=False), atol=ATOL
    )


@pytest.mark.parametrize("name", ["timm_mixer.safetensors", "timm_mixer.pth"])
def test_timm_model_outputs_reproduced(name):
    """Against timm itself: a tiny timm Mixer's state_dict and the logits timm
    computed (tools/make_peer_fixtures.py), not our reading of its layout."""
    x, expected = peer_case("timm")
    model = tiny(weights=os.path.join(PEERS, name))
    assert model.get_layer("MixerBlock_0").gelu_approximate is False  # timm's exact GELU
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=ATOL)


def test_timm_errors_use_timm_key_names(rng, tmp_path):
    state = to_timm(official_params(rng))
    state["blocks.0.mlp_tokens.fc1.weight"] = np.zeros((9, 16), np.float32)
    state["blocks.0.gamma"] = np.ones(3, np.float32)
    path = save_safetensors(tmp_path / "m.safetensors", state)
    with pytest.raises(ValueError, match=r"unexpected key 'blocks\.0\.gamma' with shape \(3,\)"):
        tiny(weights=path)
    del state["blocks.0.gamma"]
    path = save_safetensors(tmp_path / "m.safetensors", state)
    with pytest.raises(ValueError, match=r"cannot adapt MixerBlock_0/token_mixing"):
        tiny(tokens_mlp_dim=7, weights=path)


def test_pth_without_torch_says_what_to_install(rng, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch":
            raise ImportError("no torch")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    (tmp_path / "m.pth").write_bytes(b"")
    with pytest.raises(ValueError, match=r"needs torch \(pip install torch\)"):
        keras_mixer.load_weights(tiny(), str(tmp_path / "m.pth"))
