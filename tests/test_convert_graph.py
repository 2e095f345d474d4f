import math

import keras
import numpy as np
import pytest
import tf_keras

import keras_mixer
from convert.forms import PlainForm, form
from convert.graph import (
    build_graph,
    deployment_values,
    layer_norm_variances,
    mixer_spec,
    model_values,
)
from convert.xnnpack import GELU_OFFSET, GELU_SCALE, XnnpackForm
from tests.conftest import SQUARE_TINY, tiny_mixer


def trained_like(rng, **overrides):
    """A tiny Mixer with non-trivial weights (the head too)."""
    model = tiny_mixer(**{**SQUARE_TINY, **overrides})
    for variable in model.weights:
        variable.assign(rng.normal(0, 0.3, variable.shape) + (1 if "gamma" in variable.path else 0))
    return model


def graph_of(model, form_name="plain", pixels=None, batch_size=1):
    """The deployment graph of a keras_mixer model (XNNPACK form: fitted on ``pixels``)."""
    spec, values = mixer_spec(model), model_values(model)
    variances = None
    if pixels is not None:
        variances = layer_norm_variances(build_graph(spec, values, batch_size=None), pixels)
    return build_graph(spec, values, form(form_name, variances), batch_size)


@pytest.mark.parametrize("approximate", [True, False])
def test_plain_graph_computes_the_model_outputs_from_raw_pixels(rng, approximate):
    model = trained_like(rng, gelu_approximate=approximate, classifier_activation=None)
    pixels = rng.integers(0, 256, (3, 16, 16, 3)).astype(np.float32)
    expected = model.predict(keras_mixer.preprocess_input(pixels), verbose=0)
    graph = graph_of(model, batch_size=None)  # preprocessing folded into the stem
    np.testing.assert_allclose(graph(pixels).numpy(), expected, atol=1e-5)


def test_graph_keeps_softmax_and_static_batch(rng):
    graph = graph_of(trained_like(rng))
    assert graph.input_shape == (1, 16, 16, 3)
    out = graph(rng.integers(0, 256, (1, 16, 16, 3)).astype(np.float32)).numpy()
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
        graph_of(trained_like(rng, include_top=False))


def test_xnnpack_gelu_follows_both_forms():
    x = np.linspace(-30, 30, 60001)
    exact = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    tanh = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    # The form itself (scaled input, scaled output), in NumPy ...
    y = GELU_SCALE * x
    form = y * (1 / (1 + np.exp(-y * (GELU_OFFSET + y * np.tanh(y))))) / GELU_SCALE
    assert np.abs(form - tanh).max() < 1.3e-3 and np.abs(form - exact).max() < 1.4e-3
    # ... and as the graph's layers.
    inputs = tf_keras.Input((len(x),))
    layers = tf_keras.Model(inputs, XnnpackForm({}).gelu(inputs, "gelu", True))
    ours = layers(y[None].astype(np.float32)).numpy()[0] / GELU_SCALE
    assert np.abs(ours - tanh).max() < 1.4e-3 and np.abs(ours - exact).max() < 1.5e-3


def test_deployment_values_fold_preprocessing_and_affines(rng):
    model = trained_like(rng)
    values = model_values(model)
    folded = deployment_values(values, 2, XnnpackForm({}))
    # The stem takes raw pixels: the same output as on preprocess_input's.
    pixels = rng.integers(0, 256, (1, 4, 4, 3)).astype(np.float32)
    patch = lambda x, kernel, bias: np.einsum("bhwc,hwcd->bd", x, kernel) + bias  # noqa: E731
    np.testing.assert_allclose(
        patch(pixels, folded["stem/kernel"], folded["stem/bias"]),
        patch((pixels - 127.5) / 127.5, values["stem/kernel"], values["stem/bias"]),
        rtol=1e-5,
        atol=1e-4,
    )
    assert "MixerBlock_0/LayerNorm_1/gamma" not in folded
    assert "pre_head_layer_norm/beta" not in folded
    assert "MixerBlock_0/LayerNorm_0/gamma" in folded  # token mixing keeps its LayerNorm affine
    # A Dense after a LayerNorm's affine: the same output with the affine folded in.
    normalised = rng.normal(size=(3, 16))
    key = "MixerBlock_1/channel_mixing/Dense_0"
    gamma, beta = values["MixerBlock_1/LayerNorm_1/gamma"], values["MixerBlock_1/LayerNorm_1/beta"]
    np.testing.assert_allclose(
        normalised @ folded[f"{key}/kernel"] + folded[f"{key}/bias"],
        GELU_SCALE
        * ((normalised * gamma + beta) @ values[f"{key}/kernel"] + values[f"{key}/bias"]),
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize("variance_range", [None, (0.01, 10.0), (3.0, 22.0)])
def test_layer_norm_forms_match_layer_norm(rng, variance_range):
    low, high = variance_range or (0.01, 10.0)
    inputs = tf_keras.Input((7, 64))
    norm_form = XnnpackForm({"norm": variance_range}) if variance_range else PlainForm()
    model = tf_keras.Model(inputs, norm_form.layer_norm(inputs, "norm", 1e-6, affine=False))
    std = np.sqrt(np.geomspace(low, high, 7))[:, None]  # one variance per token
    x = rng.normal(3.0, 1.0, (5, 7, 64)) * std
    x = (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True) * std + 3.0
    expected = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-6)
    tolerance = 4e-3 if variance_range else 1e-5  # the XNNPACK form interpolates 1/sqrt
    np.testing.assert_allclose(model(x).numpy(), expected, atol=tolerance * np.abs(expected).max())


def test_xnnpack_graph_keeps_the_model_outputs(rng):
    model = trained_like(rng)  # softmax head
    pixels = rng.integers(0, 256, (32, 16, 16, 3)).astype(np.float32)
    expected = model.predict(keras_mixer.preprocess_input(pixels), verbose=0)
    plain = build_graph(mixer_spec(model), model_values(model), batch_size=None)
    variances = layer_norm_variances(plain, pixels)
    assert set(variances) == {
        "block0_norm0",
        "block0_norm1",
        "block1_norm0",
        "block1_norm1",
        "pre_head_layer_norm",
    }
    for name, (low, high) in variances.items():  # against NumPy on the plain graph's inputs
        probe = tf_keras.Model(plain.inputs, plain.get_layer(f"{name}_mean").input)
        variance = np.var(probe(pixels).numpy(), axis=-1)
        np.testing.assert_allclose([low, high], [variance.min(), variance.max()], rtol=1e-4)
    graph = graph_of(model, "xnnpack", pixels, batch_size=None)
    logits = graph(pixels).numpy()  # no softmax in the graph
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(probs, expected, atol=0.005)
    assert np.mean(probs.argmax(-1) == expected.argmax(-1)) >= 0.95
