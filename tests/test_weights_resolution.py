"""Official weights at another resolution (keras_mixer.weights.resolution)."""

import numpy as np
import pytest

from keras_mixer import weights as weights_lib
from tests import numpy_mixer
from tests.weights_helpers import ATOL, images, official_params, save_npz, tiny


def tile(parts, rows, cols):
    """Image made of rows x cols tiles, parts listed row by row."""
    return np.concatenate(
        [np.concatenate(parts[r * cols : (r + 1) * cols], axis=2) for r in range(rows)], axis=1
    )


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
        np.testing.assert_allclose(
            tokens[:, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4].reshape(2, 16, 16),
            original.predict(part, verbose=0),
            atol=ATOL,
        )


def test_resampled_resolution_for_other_sizes(rng, tmp_path):
    params = official_params(rng)
    model = tiny(weights=save_npz(tmp_path / "a.npz", params), input_shape=(20, 24, 3))
    kernel = model.get_layer("MixerBlock_0").token_mixing.dense_0.kernel.numpy()
    assert kernel.shape == (30, 8)  # 5x6 tokens, width kept
    # A token-independent kernel stays token-independent, scaled by sqrt(S / S').
    flat = {
        "t/Dense_0/kernel": np.ones((16, 8)),
        "t/Dense_0/bias": np.zeros(8),
        "t/Dense_1/kernel": np.ones((8, 16)),
        "t/Dense_1/bias": np.full(16, 2.0),
    }
    adapted = weights_lib.adapt_token_mixing(flat, "t", (5, 6), 8)
    np.testing.assert_allclose(adapted["t/Dense_0/kernel"], np.sqrt(16 / 30), rtol=1e-6)
    np.testing.assert_allclose(adapted["t/Dense_1/kernel"], 1.0)
    np.testing.assert_allclose(adapted["t/Dense_1/bias"], 2.0)


def test_resampling_to_same_grid_is_identity(rng):
    params = official_params(rng)
    adapted = weights_lib.adapt_token_mixing(params, "MixerBlock_0/token_mixing", (4, 4), 8)
    for key, value in adapted.items():
        np.testing.assert_allclose(value, params[key], atol=1e-6)
