"""timm state dicts (keras_mixer.weights.timm), against timm itself where installed."""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

import keras_mixer
from tests import numpy_mixer
from tests.weights_helpers import ATOL, images, official_params, save_safetensors, tiny, to_timm


def test_timm_safetensors_reproduces_numpy_forward(rng, tmp_path):
    params = official_params(rng)
    model = tiny(weights=save_safetensors(tmp_path / "model.safetensors", to_timm(params)))
    assert model.get_layer("MixerBlock_0").gelu_approximate is False  # follows timm
    x = images(rng)
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               numpy_mixer.forward(params, x, 2, approximate=False), atol=ATOL)


TIMM_PEER = """
import sys, numpy as np, torch, timm.models.mlp_mixer
from safetensors.numpy import save_file
out = sys.argv[1]
torch.manual_seed(0)
peer = timm.models.mlp_mixer.MlpMixer(num_classes=5, img_size=16, patch_size=4, num_blocks=2,
                                      embed_dim=16, mlp_ratio=(0.5, 2.0)).eval()
with torch.no_grad():
    for p in peer.parameters():
        p.normal_(0, 0.3)
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    np.save(f"{out}/x.npy", x.permute(0, 2, 3, 1).numpy())
    np.save(f"{out}/y.npy", peer(x).numpy())
state = {k: v.contiguous().numpy() for k, v in peer.state_dict().items()}
save_file(state, f"{out}/timm.safetensors")
torch.save(peer.state_dict(), f"{out}/timm.pth")
"""


def test_timm_model_outputs_reproduced(tmp_path):
    """Against timm itself, where installed (the bench extra). torch runs in its
    own process: it does not share one with TensorFlow."""
    if importlib.util.find_spec("timm") is None:
        pytest.skip("timm is not installed")
    subprocess.run([sys.executable, "-c", TIMM_PEER, str(tmp_path)], check=True,
                   capture_output=True)
    x, expected = np.load(tmp_path / "x.npy"), np.load(tmp_path / "y.npy")
    for name in ("timm.safetensors", "timm.pth"):
        model = tiny(weights=str(tmp_path / name))
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
