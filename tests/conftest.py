import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

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
# The same, square (the releases are): 16x16 images -> 4x4 = 16 tokens.
SQUARE_TINY = {**TINY, "input_shape": (16, 16, 3)}


def tiny_mixer(**overrides):
    """A Mixer of ``TINY`` sizes, with ``overrides``."""
    import keras_mixer

    return keras_mixer.MlpMixer(**{**TINY, **overrides})


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory):
    """A tiny Mixer trained on the digits (to 87% held-out top-1 here; training
    is deterministic: decisions clear enough that int8 conversion rarely flips
    them), as ``python -m training`` writes it: run folder with config.json
    and model.keras."""
    from tests.training_helpers import write_config
    from training import load_config, train

    folder = tmp_path_factory.mktemp("digits")
    config = load_config(
        write_config(
            folder / "tiny.yaml",
            train={"epochs": 6, "steps_per_epoch": 30},
            optimizer={"learning_rate": 0.005},
        )
    )
    train(config, str(folder / "run"), verbose=0)
    return folder / "run" / "model.keras"


# The files that take longest (seconds measured 2026-12-03 on 2 cores), run
# first: pytest-xdist hands each worker whole files in collection order, so a
# long file collected last leaves the other worker idle at the end.
LONGEST_FIRST = (
    "test_convert_cli.py",
    "test_distributed.py",
    "test_commands.py",
    "test_training.py",
    "test_run_folder.py",
    "test_web_demo.py",
    "test_convert_fidelity.py",
    "test_convert_quantize.py",
)


def pytest_collection_modifyitems(items):
    """``LONGEST_FIRST`` files ahead of the others, each file's tests in order."""

    def rank(item):
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within a file stays


def missing(what: str, install: str) -> None:
    """A test's prerequisite is missing: under CI (``CI=true``, as ``.ci/run``
    runs) a failure naming the install line, since CI never passes by
    skipping; elsewhere a skip that says why."""
    message = f"{what} is missing: {install}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
