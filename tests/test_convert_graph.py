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


def test_xnnpack_gelu_follows_both_forms():
    import math

    import tensorflow as tf

    from convert.graph import Gelu

    x = np.linspace(-30, 30, 60001)
    exact = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    tanh = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    # The form itself (scaled input, scaled output) ...
    y = Gelu.SCALE * x
    form = y * (1 / (1 + np.exp(-y * (Gelu.OFFSET + y * np.tanh(y))))) / Gelu.SCALE
    assert np.abs(form - tanh).max() < 1.3e-3 and np.abs(form - exact).max() < 1.4e-3
    # ... and the layer, whose sigmoid input is fake-quantised to int8 steps over +-CLAMP.
    ours = Gelu(xnnpack=True)(tf.constant(y, tf.float32)).numpy() / Gelu.SCALE
    assert np.abs(ours - tanh).max() < 7e-3 and np.abs(ours - exact).max() < 7e-3
    saturated = np.abs(x) > 4
    assert np.abs(ours - tanh)[saturated].max() < 2e-3


def test_xnnpack_values_fold_and_twin_values_round_trip(rng):
    from convert.graph import Gelu, model_values, twin_values, xnnpack_values

    model = trained_like(rng)
    values = model_values(model)
    variables = {w.name: w.numpy() for w in build_tf_keras(model).weights}
    read_back = twin_values(variables, 2)
    assert set(read_back) == set(values)
    for key, value in read_back.items():
        np.testing.assert_array_equal(value, values[key])
    with pytest.raises(ValueError, match="lack block0_norm0/gamma:0"):
        twin_values({k: v for k, v in variables.items() if k != "block0_norm0/gamma:0"}, 2)
    folded = xnnpack_values(values, 2)
    assert "MixerBlock_0/LayerNorm_1/gamma" not in folded and "pre_head_layer_norm/beta" not in folded
    assert "MixerBlock_0/LayerNorm_0/gamma" in folded  # token mixing keeps its LayerNorm affine
    # A Dense after a LayerNorm's affine: the same output with the affine folded in.
    normalised = rng.normal(size=(3, 16))
    key = "MixerBlock_1/channel_mixing/Dense_0"
    gamma, beta = values["MixerBlock_1/LayerNorm_1/gamma"], values["MixerBlock_1/LayerNorm_1/beta"]
    np.testing.assert_allclose(
        normalised @ folded[f"{key}/kernel"] + folded[f"{key}/bias"],
        Gelu.SCALE * ((normalised * gamma + beta) @ values[f"{key}/kernel"]
                      + values[f"{key}/bias"]), rtol=1e-5, atol=1e-5)


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
