import numpy as np
import pytest

import keras
import keras_mixer
from convert.graph import build_tf_keras, load_keras_model, mixer_spec


def trained_like(rng, **overrides):
    """A tiny Mixer with non-trivial weights (the head too)."""
    kwargs = dict(patch_size=4, hidden_size=16, num_blocks=2, tokens_mlp_dim=8,
                  channels_mlp_dim=32, input_shape=(16, 16, 3), classes=5)
    model = keras_mixer.MlpMixer(**{**kwargs, **overrides})
    for variable in model.weights:
        variable.assign(rng.normal(0, 0.3, variable.shape) + (1 if "gamma" in variable.path else 0))
    return model


@pytest.mark.parametrize("approximate", [True, False])
def test_tf_keras_twin_computes_the_same_outputs(rng, approximate):
    model = trained_like(rng, gelu_approximate=approximate, classifier_activation=None)
    pixels = rng.integers(0, 256, (1, 16, 16, 3)).astype(np.float32)
    expected = model.predict(keras_mixer.preprocess_input(pixels), verbose=0)
    twin = build_tf_keras(model)
    np.testing.assert_allclose(twin(pixels).numpy(), expected, atol=1e-5)
    unfolded = build_tf_keras(model, pixel_input=False)
    np.testing.assert_allclose(unfolded(keras_mixer.preprocess_input(pixels)).numpy(), expected,
                               atol=1e-5)


def test_twin_keeps_softmax_and_static_batch(rng):
    twin = build_tf_keras(trained_like(rng))
    assert twin.input_shape == (1, 16, 16, 3)
    out = twin(rng.integers(0, 256, (1, 16, 16, 3)).astype(np.float32)).numpy()
    np.testing.assert_allclose(out.sum(), 1.0, atol=1e-5)


def test_spec_and_errors(rng, tmp_path):
    spec = mixer_spec(trained_like(rng))
    assert (spec["grid"], spec["num_blocks"], spec["classes"]) == ((4, 4), 2, 5)
    with pytest.raises(ValueError, match="not a keras_mixer Mixer"):
        mixer_spec(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))
    mixer = trained_like(rng)
    extra = keras.layers.Activation("relu", name="extra")(mixer.output)
    with pytest.raises(ValueError, match=r"Cannot convert layer 'extra' \(Activation\)"):
        mixer_spec(keras.Model(mixer.input, extra))
    with pytest.raises(ValueError, match="include_top=True"):
        build_tf_keras(trained_like(rng, include_top=False))
    with pytest.raises(ValueError, match="does not exist"):
        load_keras_model(str(tmp_path / "none.keras"))
    (tmp_path / "junk.keras").write_bytes(b"junk")
    with pytest.raises(ValueError, match="is not a readable Keras model"):
        load_keras_model(str(tmp_path / "junk.keras"))


def test_xnnpack_gelu_stays_within_5e3_of_both_forms():
    import math

    import tensorflow as tf

    from convert.graph import Gelu

    x = np.linspace(-30, 30, 60001).astype(np.float32)
    ours = Gelu(xnnpack=True)(tf.constant(x)).numpy()
    exact = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(float)])
    tanh = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x.astype(float) ** 3)))
    assert np.abs(ours - tanh).max() < 5e-3 and np.abs(ours - exact).max() < 5e-3


@pytest.mark.parametrize("low, high", [(0.01, 10.0), (3.0, 22.0)])
def test_rsqrt_free_layer_norm_matches_layer_norm(rng, low, high):
    import tf_keras

    from convert.graph import rsqrt_free_layer_norm

    inputs = tf_keras.Input((7, 64))
    model = tf_keras.Model(inputs, rsqrt_free_layer_norm(inputs, (low, high), 1e-6, "norm"))
    std = np.sqrt(np.geomspace(low, high, 7))[:, None]  # one variance per token
    x = rng.normal(3.0, 1.0, (5, 7, 64)) * std
    x = (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True) * std + 3.0
    expected = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(model(x).numpy(), expected, atol=4e-3 * np.abs(expected).max())


def test_xnnpack_twin_keeps_the_model_outputs(rng):
    from convert.graph import layer_norm_variances

    model = trained_like(rng)  # softmax head
    pixels = rng.integers(0, 256, (32, 16, 16, 3)).astype(np.float32)
    expected = model.predict(keras_mixer.preprocess_input(pixels), verbose=0)
    variances = layer_norm_variances(build_tf_keras(model), pixels)
    assert set(variances) == {"block0_norm0", "block0_norm1", "block1_norm0", "block1_norm1",
                              "pre_head_layer_norm"}
    twin = build_tf_keras(model, xnnpack_variances=variances)
    logits = np.concatenate([twin(p[None]).numpy() for p in pixels])  # no softmax in the graph
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(probs, expected, atol=0.005)
    assert np.mean(probs.argmax(-1) == expected.argmax(-1)) >= 0.95
