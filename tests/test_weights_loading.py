"""Planning and assigning a checkpoint (keras_mixer.weights.loading): heads, mismatches,
unreadable files; a failed load changes nothing."""

import logging

import keras
import numpy as np
import pytest

import keras_mixer
from tests import numpy_mixer
from tests.weights_helpers import ATOL, images, mutated, official_params, save_npz, tiny


def test_load_weights_into_existing_model(rng, tmp_path):
    # (that the loaded values compute the official forward: test_weights_official.py)
    path = save_npz(tmp_path / "a.npz", official_params(rng))
    model = tiny()
    assert keras_mixer.load_weights(model, path) is model
    built = tiny(weights=path)
    for loaded, constructed in zip(model.weights, built.weights):
        np.testing.assert_array_equal(loaded.numpy(), constructed.numpy())


def test_other_head_is_skipped_with_one_log_line(rng, tmp_path, caplog):
    params = official_params(rng, classes=21)
    with caplog.at_level(logging.WARNING, logger="keras_mixer"):
        model = tiny(weights=save_npz(tmp_path / "in21k.npz", params), classes=10)
    head_lines = [r.getMessage() for r in caplog.records if "head not loaded" in r.getMessage()]
    assert len(head_lines) == 1 and "21 classes, the model 10" in head_lines[0]
    assert not np.any(model.get_layer("head").kernel.numpy())
    x = images(rng)
    features = keras.Model(model.input, model.get_layer("avg_pool").output)
    np.testing.assert_allclose(
        features.predict(x, verbose=0),
        numpy_mixer.forward(params, x, 2, include_head=False),
        atol=ATOL,
    )


def test_include_top_false_ignores_head(rng, tmp_path, caplog):
    params = official_params(rng, classes=21)
    with caplog.at_level(logging.WARNING, logger="keras_mixer"):
        model = tiny(weights=save_npz(tmp_path / "a.npz", params), include_top=False, pooling="avg")
    assert not caplog.records
    x = images(rng)
    np.testing.assert_allclose(
        model.predict(x, verbose=0),
        numpy_mixer.forward(params, x, 2, include_head=False),
        atol=ATOL,
    )


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda p: mutated(p, MixerBlock_1__LayerNorm_1__bias=None),
            "missing key 'MixerBlock_1/LayerNorm_1/bias'; the model expects shape (16,)",
        ),
        (
            lambda p: {**p, "MixerBlock_1/extra/kernel": np.zeros((2, 3), np.float32)},
            "unexpected key 'MixerBlock_1/extra/kernel' with shape (2, 3)",
        ),
        (
            lambda p: mutated(
                p, MixerBlock_1__channel_mixing__Dense_1__kernel=np.zeros((32, 17), np.float32)
            ),
            "'MixerBlock_1/channel_mixing/Dense_1/kernel' has shape (32, 17), the model expects "
            "(32, 16)",
        ),
        (
            lambda p: mutated(p, stem__kernel=np.zeros((4, 4, 1, 16), np.float32)),
            "'stem/kernel' has shape (4, 4, 1, 16), the model expects (4, 4, 3, 16)",
        ),
        (
            lambda p: {k: v for k, v in p.items() if not k.startswith("MixerBlock_1/")},
            "the checkpoint has 1 Mixer blocks, the model has 2",
        ),
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


def test_unreadable_and_truncated_files(rng, tmp_path):
    good = save_npz(tmp_path / "good.npz", official_params(rng))
    data = open(good, "rb").read()
    for name, content in (
        ("truncated.npz", data[: len(data) // 2]),
        ("junk.npz", b"not a zip"),
        ("junk.safetensors", b"\x00" * 7),
        ("junk.weights.h5", b"junk"),
    ):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=f"{name}'?: unreadable"):
            keras_mixer.load_weights(tiny(), str(tmp_path / name))
    (tmp_path / "weights.ckpt").write_bytes(b"")
    with pytest.raises(ValueError, match="unknown format"):
        keras_mixer.load_weights(tiny(), str(tmp_path / "weights.ckpt"))
    with pytest.raises(ValueError, match="no such file"):
        keras_mixer.load_weights(tiny(), str(tmp_path / "absent.npz"))
