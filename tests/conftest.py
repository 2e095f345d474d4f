import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# A tiny Mixer used across the tests: 16x24 images, 4x4 patches -> 4x6 = 24 tokens.
TINY = dict(
    patch_size=4,
    hidden_size=16,
    num_blocks=2,
    tokens_mlp_dim=8,
    channels_mlp_dim=32,
    input_shape=(16, 24, 3),
    classes=5,
)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
