import json
import zipfile

import keras
import numpy as np
import pytest

import keras_mixer
from keras_mixer.layers import DropPath, MixerBlock, MlpBlock, PatchEmbedding
from tests import numpy_mixer
from tests.conftest import TINY
from tests.conftest import tiny_mixer as tiny


def assign_official_params(model, params):
    """Writes official-layout arrays into the model by weight path
    (Keras' gamma/beta are the checkpoint's scale/bias)."""
    for variable in model.weights:
        key = variable.path.replace("/gamma", "/scale").replace("/beta", "/bias")
        variable.assign(params[key])


def tiny_params(rng, classes=TINY["classes"]):
    return numpy_mixer.random_params(
        rng,
        patch=4,
        channels=3,
        hidden=16,
        tokens=24,
        tokens_mlp=8,
        channels_mlp=32,
        num_blocks=2,
        classes=classes,
    )


def images(rng, batch=3, shape=TINY["input_shape"]):
    return rng.uniform(-1, 1, (batch, *shape)).astype(np.float32)


# float32 model vs float64 reference (measured up to 4.4e-7): a LayerNorm epsilon
# of 1e-5 instead of 1e-6 moves the outputs 4e-6 on these inputs, 8e-5 on faint ones.
PARITY_ATOL = 2e-6

# Table 1 of the paper: parameters in millions, heads excluded.
PAPER_PARAMS_M = {
    "S/32": 19,
    "S/16": 18,
    "B/32": 60,
    "B/16": 59,
    "L/32": 206,
    "L/16": 207,
    "H/14": 431,
}


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(v, marks=pytest.mark.slow if PAPER_PARAMS_M[v] > 60 else [])
        for v in sorted(PAPER_PARAMS_M)
    ],
)  # L and H: 200-430M parameters to build
def test_parameter_counts_match_paper_table_1(variant):
    model = getattr(keras_mixer, "Mixer" + variant.replace("/", ""))()
    without_head = model.count_params() - model.get_layer("head").count_params()
    assert round(without_head / 1e6) == PAPER_PARAMS_M[variant]
    if variant == "B/16":
        assert model.count_params() == 59_880_472
    keras.backend.clear_session()


@pytest.mark.parametrize("approximate", [True, False])
def test_forward_matches_numpy_reference(rng, approximate):
    model = tiny(classifier_activation=None, gelu_approximate=approximate)
    params = tiny_params(rng)
    assign_official_params(model, params)
    x = images(rng)
    expected = numpy_mixer.forward(params, x, num_blocks=2, approximate=approximate)
    actual = model.predict(x, verbose=0)
    np.testing.assert_allclose(actual, expected, atol=PARITY_ATOL, rtol=0)
    faint = x * 1e-3  # tokens of tiny variance: the LayerNorm epsilon shows
    expected = numpy_mixer.forward(params, faint, num_blocks=2, approximate=approximate)
    np.testing.assert_allclose(model.predict(faint, verbose=0), expected, atol=PARITY_ATOL, rtol=0)
    # The tolerance is tight enough to tell the two GELU forms apart.
    other_form = numpy_mixer.forward(params, x, num_blocks=2, approximate=not approximate)
    assert np.abs(actual - other_form).max() > 5 * PARITY_ATOL


def test_official_initialisation():
    model = tiny()
    assert not np.any(model.get_layer("head").kernel.numpy())
    assert not np.any(model.get_layer("head").bias.numpy())
    block = model.get_layer("MixerBlock_0")
    assert block.norm_0.epsilon == 1e-6
    assert model.get_layer("pre_head_layer_norm").epsilon == 1e-6
    assert not np.any(block.token_mixing.dense_0.bias.numpy())
    # lecun_normal: variance 1 / fan_in (fan_in = 24 tokens for token mixing).
    big = keras_mixer.MlpMixer(16, 64, 1, 1024, 512, input_shape=(64, 64, 3))
    kernel = big.get_layer("MixerBlock_0").channel_mixing.dense_0.kernel.numpy()
    assert kernel.std() == pytest.approx(1 / np.sqrt(64), rel=0.05)
    token_kernel = big.get_layer("MixerBlock_0").token_mixing.dense_0.kernel.numpy()
    assert token_kernel.shape == (16, 1024)
    assert token_kernel.std() == pytest.approx(1 / np.sqrt(16), rel=0.05)


def test_weight_paths_follow_official_layout():
    paths = {w.path for w in tiny().weights}
    assert "stem/kernel" in paths
    assert "MixerBlock_1/token_mixing/Dense_0/kernel" in paths
    assert "MixerBlock_1/LayerNorm_1/gamma" in paths
    assert "pre_head_layer_norm/beta" in paths
    assert "head/bias" in paths


@pytest.mark.parametrize(
    "include_top, pooling, shape",
    [
        (True, None, (2, 5)),
        (True, "avg", (2, 5)),
        (False, None, (2, 24, 16)),
        (False, "avg", (2, 16)),
        (False, "max", (2, 16)),
    ],
)
def test_output_shapes(rng, include_top, pooling, shape):
    model = tiny(include_top=include_top, pooling=pooling)
    assert model.predict(images(rng, 2), verbose=0).shape == shape


def test_features_are_normalised_tokens_and_pool_to_head_input(rng):
    params = tiny_params(rng)
    x = images(rng)
    features = tiny(include_top=False)
    assign_official_params(features, {k: v for k, v in params.items()})
    tokens = features.predict(x, verbose=0)
    pooled = numpy_mixer.forward(params, x, 2, include_head=False)
    np.testing.assert_allclose(tokens.mean(axis=1), pooled, atol=1e-4)


def test_softmax_head_by_default(rng):
    model = tiny()
    params = tiny_params(rng)
    assign_official_params(model, params)
    probs = model.predict(images(rng), verbose=0)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)


def test_variant_constructor_arguments(rng):
    model = keras_mixer.MixerS32(
        input_shape=(64, 96, 3), classes=7, classifier_activation=None, name="m"
    )
    assert model.name == "m"
    assert model.output_shape == (None, 7)
    assert model.get_layer("stem").grid_size == (2, 3)
    assert keras_mixer.MixerB16(include_top=False, pooling="avg").output_shape == (None, 768)
    assert keras_mixer.MixerS16().name == "mixer_s16"


def test_input_tensor(rng):
    inputs = keras.Input((32, 32, 3))
    model = keras_mixer.MlpMixer(8, 16, 1, 8, 16, input_tensor=inputs, classes=3)
    assert model.inputs[0] is inputs
    assert model.output_shape == (None, 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(input_shape=(18, 24, 3)), "height 18 is not a multiple of the patch size 4"),
        (dict(input_shape=(16, 25, 3)), "width 25 is not a multiple of the patch size 4"),
        (dict(input_shape=(16, 2, 3)), "width 2 is smaller than one patch (4 pixels)"),
        (dict(input_shape=(16, 24)), "got a 2-D input shape (16, 24)"),
        (dict(input_shape=(1, 16, 24, 3)), "got a 4-D input shape (1, 16, 24, 3)"),
        (dict(input_shape=(None, 24, 3)), "needs a fixed input height"),
        (dict(pooling="mean"), 'pooling must be None, "avg" or "max"'),
        (dict(weights="no/such/file.weights.h5"), "'no/such/file.weights.h5': no such file"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, message):
    with pytest.raises(ValueError) as error:
        tiny(**kwargs)
    assert message in str(error.value)


def test_from_config_round_trip(rng):
    model = tiny(drop_path_rate=0.1, dropout_rate=0.2)
    assign_official_params(model, tiny_params(rng))
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    x = images(rng)
    np.testing.assert_array_equal(model.predict(x, verbose=0), clone.predict(x, verbose=0))
    assert clone.get_layer("MixerBlock_1").drop_path_rate == pytest.approx(0.1)


def test_keras_file_round_trip(rng, tmp_path):
    model = tiny(gelu_approximate=False)
    assign_official_params(model, tiny_params(rng))
    path = tmp_path / "mixer.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = images(rng)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert loaded.get_layer("MixerBlock_0").gelu_approximate is False


def test_load_model_names_what_is_wrong_with_the_file(rng, tmp_path):
    model = keras_mixer.MlpMixer(**TINY)
    model.save(tmp_path / "ok.keras")
    data = (tmp_path / "ok.keras").read_bytes()
    x = images(rng)
    np.testing.assert_array_equal(
        keras_mixer.load_model(tmp_path / "ok.keras").predict(x, verbose=0),
        model.predict(x, verbose=0),
    )
    with pytest.raises(ValueError, match=r"Model file '.*none.keras' does not exist"):
        keras_mixer.load_model(tmp_path / "none.keras")
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(
        ValueError,
        match=r"'.*cut.keras' is not a whole .keras file \(not a "
        r"readable zip archive: cut off",
    ):
        keras_mixer.load_model(tmp_path / "cut.keras")
    with (
        zipfile.ZipFile(tmp_path / "ok.keras") as source,
        zipfile.ZipFile(tmp_path / "custom.keras", "w") as custom,
    ):
        for item in source.namelist():
            content = source.read(item)
            if item == "config.json":  # the head's softmax becomes a function of the user's
                content = content.replace(
                    b'"softmax"',
                    json.dumps(
                        {
                            "module": "my_package.activations",
                            "class_name": "function",
                            "config": "sharp_softmax",
                            "registered_name": "sharp_softmax",
                        }
                    ).encode(),
                )
            custom.writestr(item, content)
    with pytest.raises(
        ValueError,
        match=r"'.*custom.keras' names a layer, class or function "
        r"this process does not know: import the package",
    ):
        keras_mixer.load_model(tmp_path / "custom.keras")


@pytest.mark.parametrize(
    "layer",
    [
        PatchEmbedding(4, 8),
        MlpBlock(6, gelu_approximate=False),
        MlpBlock(6, axis=-2),
        MixerBlock(3, 5, drop_path_rate=0.2),
        DropPath(0.3, seed=1),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_layers_are_serialisable(layer):
    config = keras.saving.serialize_keras_object(layer)
    clone = keras.saving.deserialize_keras_object(config)
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()


def test_mlp_block_along_tokens_equals_transposed_dense(rng):
    x = rng.normal(size=(2, 7, 5)).astype(np.float32)
    along_tokens, along_channels = MlpBlock(3, axis=-2), MlpBlock(3)
    along_tokens.build(x.shape)
    along_channels.build((2, 5, 7))
    for variable in along_tokens.weights:
        variable.assign(rng.normal(size=variable.shape))
    along_channels.set_weights(along_tokens.get_weights())
    expected = np.swapaxes(along_channels(np.swapaxes(x, 1, 2)), 1, 2)
    np.testing.assert_allclose(along_tokens(x), expected, atol=1e-5)
    with pytest.raises(ValueError, match="axis must be -1 or -2; got 1"):
        MlpBlock(3, axis=1)


def test_layers_compose_in_user_models(rng):
    inputs = keras.Input((8, 8, 3))
    x = PatchEmbedding(2, 12)(inputs)
    x = MixerBlock(4, 24)(x)
    x = MlpBlock(6)(x)
    model = keras.Model(inputs, x)
    assert model.predict(images(rng, 2, (8, 8, 3)), verbose=0).shape == (2, 16, 12)


def test_drop_path_drops_whole_samples_only_in_training():
    layer = DropPath(0.25, seed=3)
    x = np.ones((4000, 3, 2), np.float32)
    np.testing.assert_array_equal(layer(x), x)
    y = keras.ops.convert_to_numpy(layer(x, training=True))
    per_sample = y.reshape(len(y), -1)
    assert set(np.unique(per_sample)) == {0.0, np.float32(1 / 0.75)}
    assert np.all(per_sample.min(1) == per_sample.max(1))  # all or nothing per sample
    assert (per_sample[:, 0] == 0).mean() == pytest.approx(0.25, abs=0.03)


def test_stochastic_depth_rises_linearly():
    model = keras_mixer.MlpMixer(4, 8, 5, 4, 8, input_shape=(8, 8, 3), drop_path_rate=0.2)
    rates = [model.get_layer(f"MixerBlock_{i}").drop_path_rate for i in range(5)]
    np.testing.assert_allclose(rates, [0.0, 0.05, 0.1, 0.15, 0.2])


def test_regularisation_only_in_training(rng):
    params = tiny_params(rng)
    plain, regularised = tiny(), tiny(dropout_rate=0.5, drop_path_rate=0.5)
    assign_official_params(plain, params)
    assign_official_params(regularised, params)
    x = images(rng, 16)
    np.testing.assert_allclose(regularised(x), plain(x), atol=1e-6)
    assert np.abs(regularised(x, training=True) - plain(x, training=True)).max() > 1e-3


def test_preprocess_input():
    pixels = np.array([[0, 127.5, 255]])
    np.testing.assert_allclose(keras_mixer.preprocess_input(pixels), [[-1, 0, 1]])
    uint8 = np.array([0, 51, 255], np.uint8)
    out = keras_mixer.preprocess_input(uint8)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, (uint8.astype(np.float64) - 127.5) / 127.5, rtol=1e-6)
    tensor = keras.ops.convert_to_tensor(uint8)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras_mixer.preprocess_input(tensor)), out
    )


@pytest.mark.parametrize("size", ["patch_size", "hidden_size", "num_blocks", "tokens_mlp_dim"])
def test_sizes_below_one_are_refused(size):
    sizes = dict(patch_size=4, hidden_size=16, num_blocks=1, tokens_mlp_dim=8, channels_mlp_dim=16)
    with pytest.raises(ValueError, match=f"{size} must be a whole number of at least 1; got 0"):
        keras_mixer.MlpMixer(**{**sizes, size: 0}, input_shape=(16, 16, 3))
