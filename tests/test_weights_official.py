"""Official .npz checkpoints and the releases (keras_mixer.weights.official)."""

import os

import numpy as np
import pytest

import keras_mixer
from keras_mixer import weights as weights_lib
from tests import numpy_mixer
from tests.weights_helpers import (
    ATOL,
    PEERS,
    images,
    official_params,
    peer_case,
    save_npz,
    save_safetensors,
    serve_tiny_as,
    tiny,
    to_timm,
)


def test_official_npz_reproduces_numpy_forward(rng, tmp_path):
    params = official_params(rng)
    model = tiny(weights=save_npz(tmp_path / "Mixer-T_4.npz", params))
    assert model.get_layer("MixerBlock_0").gelu_approximate is True
    x = images(rng)
    np.testing.assert_allclose(
        model.predict(x, verbose=0), numpy_mixer.forward(params, x, 2, approximate=True), atol=ATOL
    )


def test_official_flax_model_outputs_reproduced():
    """Against the official Flax code itself: its parameters, flattened as the
    releases are, and the logits it computed (tools/make_peer_fixtures.py)."""
    x, expected = peer_case("official")
    model = tiny(weights=os.path.join(PEERS, "official_mixer.npz"))
    assert model.get_layer("MixerBlock_0").gelu_approximate is True  # flax's nn.gelu
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=ATOL)


def test_gelu_form_can_be_set_by_the_caller(rng, tmp_path):
    path = save_safetensors(tmp_path / "m.safetensors", to_timm(official_params(rng)))
    assert tiny(weights=path, gelu_approximate=True).get_layer("MixerBlock_1").gelu_approximate


@pytest.fixture
def release_cache(tmp_path, monkeypatch):
    """A file:// origin and an empty Keras cache."""
    origin = tmp_path / "origin"
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv(weights_lib.ORIGIN_ENV, origin.as_uri())
    return origin


def test_release_fetched_from_origin_then_reused_from_cache(rng, release_cache, monkeypatch):
    serve_tiny_as(monkeypatch, "imagenet21k", "B/16")
    params = official_params(rng)
    (release_cache / "imagenet21k").mkdir(parents=True)
    save_npz(release_cache / "imagenet21k" / "Mixer-B_16.npz", params)
    model = tiny()
    keras_mixer.load_weights(model, "imagenet21k", variant="B/16")
    cached = os.path.join(
        os.environ["KERAS_HOME"], "models", "mixer", "imagenet21k", "Mixer-B_16.npz"
    )
    assert os.path.exists(cached)
    x = images(rng)
    np.testing.assert_allclose(
        model.predict(x, verbose=0), numpy_mixer.forward(params, x, 2), atol=ATOL
    )
    (release_cache / "imagenet21k" / "Mixer-B_16.npz").unlink()  # origin gone: cache serves
    keras_mixer.load_weights(tiny(), "imagenet21k", variant="B/16")


def test_release_from_prefilled_cache(rng, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv(weights_lib.ORIGIN_ENV, "http://127.0.0.1:9/unreachable")
    serve_tiny_as(monkeypatch, "gsam", "S/32")
    cache = tmp_path / "models" / "mixer" / "gsam"
    cache.mkdir(parents=True)
    params = official_params(rng)
    save_npz(cache / "Mixer-S_32.npz", params)
    model = tiny()
    keras_mixer.load_weights(model, "gsam", variant="S/32")  # the origin cannot answer
    x = images(rng)
    np.testing.assert_allclose(
        model.predict(x, verbose=0), numpy_mixer.forward(params, x, 2), atol=ATOL
    )
    assert sorted(os.listdir(cache)) == ["Mixer-S_32.npz", "Mixer-S_32.npz.sha256"]


def test_release_errors(release_cache):
    with pytest.raises(
        ValueError,
        match=r"No 'imagenet1k' release of Mixer-S/16\. Released: "
        r"imagenet1k: B/16/L/16",
    ):
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


def test_an_origin_that_is_a_folder_not_a_url_says_how_to_write_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv(weights_lib.ORIGIN_ENV, str(tmp_path / "mirror"))
    with pytest.raises(ValueError, match=rf"is not a URL; for a folder write .*=file://{tmp_path}"):
        keras_mixer.load_weights(tiny(), "gsam", variant="S/32")
