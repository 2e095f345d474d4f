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


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory):
    """A tiny Mixer trained on the digits (to ~85% held-out top-1: decisions
    clear enough that int8 conversion rarely flips them), as ``python -m
    training`` writes it: run folder with config.json and model.keras."""
    from tests.training_helpers import write_config
    from training import load_config, train

    folder = tmp_path_factory.mktemp("digits")
    config = load_config(write_config(folder / "tiny.yaml",
                                      train={"epochs": 6, "steps_per_epoch": 30}))
    train(config, str(folder / "run"), verbose=0)
    return folder / "run" / "model.keras"
