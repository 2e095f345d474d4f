import importlib.util
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

import keras
import keras_mixer
from keras_mixer import weights as weights_lib
from tests import numpy_mixer
from tests.conftest import SQUARE_TINY, tiny_mixer
ATOL = 1e-4  # the bound; measured differences are ~2e-7


def tiny(**overrides):
    return tiny_mixer(**{**SQUARE_TINY, "classifier_activation": None, **overrides})


def official_params(rng, classes=5, num_blocks=2):
    return numpy_mixer.random_params(rng, patch=4, channels=3, hidden=16, tokens=16,
                                     tokens_mlp=8, channels_mlp=32,
                                     num_blocks=num_blocks, classes=classes)


def images(rng, batch=3, size=16):
    return rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)


def save_npz(path, params):
    np.savez(path, **params)
    return str(path)


def to_timm(params):
    """The same arrays in timm's state_dict layout (timm/models/mlp_mixer.py's names)."""
    names = {"LayerNorm_0": "norm1", "LayerNorm_1": "norm2",
             "token_mixing": "mlp_tokens", "channel_mixing": "mlp_channels",
             "Dense_0": "fc1", "Dense_1": "fc2", "scale": "weight", "kernel": "weight"}
    state = {}
    for key, value in params.items():
        parts = key.split("/")
        if parts[0] == "stem":
            state[f"stem.proj.{names.get(parts[1], parts[1])}"] = (
                value.transpose(3, 2, 0, 1) if parts[1] == "kernel" else value)
            continue
        if parts[0] == "pre_head_layer_norm":
            parts = ["norm", parts[1]]
        elif parts[0].startswith("MixerBlock_"):
            parts = ["blocks", parts[0].split("_")[1]] + parts[1:]
        timm_key = ".".join(names.get(p, p) for p in parts)
        state[timm_key] = value.T.copy() if parts[-1] == "kernel" else value
    return state


def save_safetensors(path, state):
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v, np.float32) for k, v in state.items()}, str(path))
    return str(path)


# ------------------------------------------------------------------ parity


def test_official_npz_reproduces_numpy_forward(rng, tmp_path):
    params = official_params(rng)
    model = tiny(weights=save_npz(tmp_path / "Mixer-T_4.npz", params))
    assert model.get_layer("MixerBlock_0").gelu_approximate is True
    x = images(rng)
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               numpy_mixer.forward(params, x, 2, approximate=True), atol=ATOL)


def test_timm_safetensors_reproduces_numpy_forward(rng, tmp_path):
    params = official_params(rng)
    model = tiny(weights=save_safetensors(tmp_path / "model.safetensors", to_timm(params)))
    assert model.get_layer("MixerBlock_0").gelu_approximate is False  # follows timm
    x = images(rng)
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               numpy_mixer.forward(params, x, 2, approximate=False), atol=ATOL)


def test_gelu_form_can_be_set_by_the_caller(rng, tmp_path):
    path = save_safetensors(tmp_path / "m.safetensors", to_timm(official_params(rng)))
    assert tiny(weights=path, gelu_approximate=True).get_layer("MixerBlock_1").gelu_approximate


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
save_file({k: v.contiguous().numpy() for k, v in peer.state_dict().items()}, f"{out}/timm.safetensors")
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


def test_keras_weights_h5_round_trip_into_new_head(rng, tmp_path, caplog):
    source = tiny()
    keras_mixer.load_weights(source, save_npz(tmp_path / "a.npz", official_params(rng)))
    path = str(tmp_path / "trained.weights.h5")
    source.save_weights(path)
    same = tiny(weights=path)
    x = images(rng)
    np.testing.assert_array_equal(same.predict(x, verbose=0), source.predict(x, verbose=0))
    features = tiny(weights=path, include_top=False, pooling="avg")
    np.testing.assert_allclose(
        features.predict(x, verbose=0),
        keras.Model(source.input, source.get_layer("avg_pool").output).predict(x, verbose=0),
        atol=1e-6)


def test_load_weights_into_existing_model(rng, tmp_path):
    params = official_params(rng)
    model = tiny()
    assert keras_mixer.load_weights(model, save_npz(tmp_path / "a.npz", params)) is model
    x = images(rng)
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               numpy_mixer.forward(params, x, 2), atol=ATOL)


# ------------------------------------------------------------------ heads


def test_other_head_is_skipped_with_one_log_line(rng, tmp_path, caplog):
    params = official_params(rng, classes=21)
    with caplog.at_level(logging.WARNING, logger="keras_mixer"):
        model = tiny(weights=save_npz(tmp_path / "in21k.npz", params), classes=10)
    head_lines = [r.getMessage() for r in caplog.records if "head not loaded" in r.getMessage()]
    assert len(head_lines) == 1 and "21 classes, the model 10" in head_lines[0]
    assert not np.any(model.get_layer("head").kernel.numpy())
    x = images(rng)
    features = keras.Model(model.input, model.get_layer("avg_pool").output)
    np.testing.assert_allclose(features.predict(x, verbose=0),
                               numpy_mixer.forward(params, x, 2, include_head=False), atol=ATOL)


def test_include_top_false_ignores_head(rng, tmp_path, caplog):
    params = official_params(rng, classes=21)
    with caplog.at_level(logging.WARNING, logger="keras_mixer"):
        model = tiny(weights=save_npz(tmp_path / "a.npz", params), include_top=False,
                     pooling="avg")
    assert not caplog.records
    x = images(rng)
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               numpy_mixer.forward(params, x, 2, include_head=False), atol=ATOL)


# ------------------------------------------------------------------ errors


def mutated(params, **changes):
    out = dict(params)
    for key, value in changes.items():
        key = key.replace("__", "/")
        if value is None:
            out.pop(key)
        else:
            out[key] = value
    return out


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: mutated(p, MixerBlock_1__LayerNorm_1__bias=None),
         "missing key 'MixerBlock_1/LayerNorm_1/bias'; the model expects shape (16,)"),
        (lambda p: {**p, "MixerBlock_1/extra/kernel": np.zeros((2, 3), np.float32)},
         "unexpected key 'MixerBlock_1/extra/kernel' with shape (2, 3)"),
        (lambda p: mutated(p, MixerBlock_1__channel_mixing__Dense_1__kernel=np.zeros((32, 17), np.float32)),
         "'MixerBlock_1/channel_mixing/Dense_1/kernel' has shape (32, 17), the model expects (32, 16)"),
        (lambda p: mutated(p, stem__kernel=np.zeros((4, 4, 1, 16), np.float32)),
         "'stem/kernel' has shape (4, 4, 1, 16), the model expects (4, 4, 3, 16)"),
        (lambda p: {k: v for k, v in p.items() if not k.startswith("MixerBlock_1/")},
         "the checkpoint has 1 Mixer blocks, the model has 2"),
    ],
    ids=["missing", "extra", "shape", "stem-shape", "blocks"],
)
def test_mismatches_name_key_and_shapes_and_load_nothing(rng, tmp_path, change, message):
    model = tiny()
    before = [w.copy() for w in model.get_weights()]
    path = save_npz(tmp_path / "bad.npz", change(official_params(rng)))
    with pytest.raises(ValueError) as error:
        keras_mixer.load_weights(model, path)
    assert message in str(error.value) and "bad.npz" in str(error.value)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


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


def test_unreadable_and_truncated_files(rng, tmp_path):
    good = save_npz(tmp_path / "good.npz", official_params(rng))
    data = open(good, "rb").read()
    for name, content in (("truncated.npz", data[: len(data) // 2]), ("junk.npz", b"not a zip"),
                          ("junk.safetensors", b"\x00" * 7), ("junk.weights.h5", b"junk")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=f"{name}'?: unreadable"):
            keras_mixer.load_weights(tiny(), str(tmp_path / name))
    (tmp_path / "weights.ckpt").write_bytes(b"")
    with pytest.raises(ValueError, match="unknown format"):
        keras_mixer.load_weights(tiny(), str(tmp_path / "weights.ckpt"))
    with pytest.raises(ValueError, match="no such file"):
        keras_mixer.load_weights(tiny(), str(tmp_path / "absent.npz"))


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


# ------------------------------------------------------------------ releases


@pytest.fixture
def release_cache(tmp_path, monkeypatch):
    """A file:// origin and an empty Keras cache."""
    origin = tmp_path / "origin"
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv(weights_lib.ORIGIN_ENV, origin.as_uri())
    return origin


def test_release_fetched_from_origin_then_reused_from_cache(rng, release_cache):
    params = official_params(rng)
    (release_cache / "imagenet21k").mkdir(parents=True)
    save_npz(release_cache / "imagenet21k" / "Mixer-B_16.npz", params)
    model = tiny()
    keras_mixer.load_weights(model, "imagenet21k", variant="B/16")
    cached = os.path.join(os.environ["KERAS_HOME"], "models", "mixer", "imagenet21k",
                          "Mixer-B_16.npz")
    assert os.path.exists(cached)
    x = images(rng)
    np.testing.assert_allclose(model.predict(x, verbose=0), numpy_mixer.forward(params, x, 2),
                               atol=ATOL)
    (release_cache / "imagenet21k" / "Mixer-B_16.npz").unlink()  # origin gone: cache serves
    keras_mixer.load_weights(tiny(), "imagenet21k", variant="B/16")


def test_release_from_prefilled_cache(rng, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv(weights_lib.ORIGIN_ENV, "http://127.0.0.1:9/unreachable")
    cache = tmp_path / "models" / "mixer" / "gsam"
    cache.mkdir(parents=True)
    save_npz(cache / "Mixer-S_32.npz", official_params(rng))
    keras_mixer.load_weights(tiny(), "gsam", variant="S/32")


def test_release_errors(release_cache):
    with pytest.raises(ValueError, match=r"No 'imagenet1k' release of Mixer-S/16\. Released: "
                                         r"imagenet1k: B/16/L/16"):
        keras_mixer.MixerS16(weights="imagenet1k")
    with pytest.raises(ValueError, match="Could not fetch imagenet1k Mixer-B/16"):
        keras_mixer.MixerB16(weights="imagenet1k")
    with pytest.raises(ValueError, match="matches none"):
        tiny(weights="sam")


@pytest.mark.slow
def test_whole_b16_release_into_ten_classes(release_cache):
    """The real-size path: an ImageNet-21k B/16 file into a 10-class model."""
    rng = np.random.default_rng(0)
    params = numpy_mixer.random_params(rng, 16, 3, 768, 196, 384, 3072, 12, 21843)
    (release_cache / "imagenet21k").mkdir(parents=True)
    save_npz(release_cache / "imagenet21k" / "Mixer-B_16.npz", params)
    model = keras_mixer.MixerB16(weights="imagenet21k", classes=10)
    assert model.get_layer("MixerBlock_11").token_mixing.dense_0.kernel.shape == (196, 384)
    np.testing.assert_array_equal(model.get_layer("stem").kernel.numpy(), params["stem/kernel"])


# ------------------------------------------------------------------ resolution


def tile(parts, rows, cols):
    """Image made of rows x cols tiles, parts listed row by row."""
    return np.concatenate([np.concatenate(parts[r * cols:(r + 1) * cols], axis=2)
                           for r in range(rows)], axis=1)


@pytest.mark.parametrize("tiles", [(2, 2), (2, 3)])
def test_tiled_resolution_runs_original_model_per_tile(rng, tmp_path, tiles):
    params = official_params(rng)
    path = save_npz(tmp_path / "a.npz", params)
    rows, cols = tiles
    big = tiny(weights=path, input_shape=(16 * rows, 16 * cols, 3))
    assert big.get_layer("MixerBlock_0").tokens_mlp_dim == 8 * rows * cols  # paper: D_S' = K^2 D_S
    parts = [images(rng, batch=2) for _ in range(rows * cols)]
    logits = big.predict(tile(parts, rows, cols), verbose=0)
    per_tile = [numpy_mixer.forward(params, p, 2) for p in parts]
    np.testing.assert_allclose(logits, np.mean(per_tile, axis=0), atol=ATOL)

    # Token features too: each tile's tokens, in row-major order, are the original's.
    features = tiny(weights=path, input_shape=(16 * rows, 16 * cols, 3), include_top=False)
    tokens = features.predict(tile(parts, rows, cols), verbose=0).reshape(2, 4 * rows, 4 * cols, 16)
    original = tiny(weights=path, include_top=False)
    for i, part in enumerate(parts):
        r, c = divmod(i, cols)
        np.testing.assert_allclose(tokens[:, 4 * r:4 * r + 4, 4 * c:4 * c + 4].reshape(2, 16, 16),
                                   original.predict(part, verbose=0), atol=ATOL)


def test_resampled_resolution_for_other_sizes(rng, tmp_path):
    params = official_params(rng)
    model = tiny(weights=save_npz(tmp_path / "a.npz", params), input_shape=(20, 24, 3))
    kernel = model.get_layer("MixerBlock_0").token_mixing.dense_0.kernel.numpy()
    assert kernel.shape == (30, 8)  # 5x6 tokens, width kept
    # A token-independent kernel stays token-independent, scaled by sqrt(S / S').
    flat = {"t/Dense_0/kernel": np.ones((16, 8)), "t/Dense_0/bias": np.zeros(8),
            "t/Dense_1/kernel": np.ones((8, 16)), "t/Dense_1/bias": np.full(16, 2.0)}
    adapted = weights_lib.adapt_token_mixing(flat, "t", (5, 6), 8)
    np.testing.assert_allclose(adapted["t/Dense_0/kernel"], np.sqrt(16 / 30), rtol=1e-6)
    np.testing.assert_allclose(adapted["t/Dense_1/kernel"], 1.0)
    np.testing.assert_allclose(adapted["t/Dense_1/bias"], 2.0)


def test_resampling_to_same_grid_is_identity(rng):
    params = official_params(rng)
    adapted = weights_lib.adapt_token_mixing(params, "MixerBlock_0/token_mixing", (4, 4), 8)
    for key, value in adapted.items():
        np.testing.assert_allclose(value, params[key], atol=1e-6)


# ------------------------------------------------------------------ labels


def test_decode_predictions_with_shipped_imagenet_labels():
    preds = np.zeros((2, 1000), np.float32)
    preds[0, 1], preds[0, 0] = 0.9, 0.1
    preds[1, 999] = 1.0
    first, second = keras_mixer.decode_predictions(preds, top=2)
    assert first == [("n01443537", "goldfish", pytest.approx(0.9)),
                     ("n01440764", "tench", pytest.approx(0.1))]
    assert second[0][:2] == ("n15075141", "toilet tissue")
    wide = np.zeros((1, 21843))
    wide[0, 0] = 1
    assert keras_mixer.decode_predictions(wide, top=1)[0][0][:2] == ("n00004475", "organism")
    with pytest.raises(ValueError, match=r"\(batch, 1000\) or \(batch, 21843\); got shape \(2, 10\)"):
        keras_mixer.decode_predictions(np.zeros((2, 10)))


def test_labels_helper():
    assert len(keras_mixer.labels()) == 1000
    names = keras_mixer.labels("imagenet21k")
    assert len(names) == 21843 and len(set(names)) > 20000
    assert keras_mixer.labels(full=True)[0] == "tench, Tinca tinca"
    with pytest.raises(ValueError, match="Unknown label set 'jft'"):
        keras_mixer.labels("jft")
