"""Keras .weights.h5 files saved from our models (keras_mixer.weights.keras_h5)."""

import keras
import numpy as np

import keras_mixer
from tests.weights_helpers import images, official_params, save_npz, tiny


def test_keras_weights_h5_round_trip_into_new_head(rng, tmp_path):
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
        atol=1e-6,
    )
