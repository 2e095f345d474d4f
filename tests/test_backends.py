"""The layers use keras.ops only: a model saved under TensorFlow loads and gives
the same outputs under the JAX and PyTorch backends, where they are installed."""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import keras_mixer
from tests.conftest import TINY, missing

RUN_SAVED_MODEL = """
import sys, numpy as np, keras, keras_mixer  # registers the layers
model = keras.saving.load_model(sys.argv[1])
np.save(sys.argv[3], keras.ops.convert_to_numpy(model(np.load(sys.argv[2]))))
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_saved_model_runs_on_other_backends(backend, tmp_path, rng):
    if importlib.util.find_spec(backend) is None:
        missing(backend, "python3 run.py test installs it (run.py's OTHER_BACKENDS)")
    model = keras_mixer.MlpMixer(**TINY, classifier_activation=None)
    for variable in model.weights:  # non-trivial weights, including the zero head
        variable.assign(rng.normal(0, 0.2, variable.shape))
    x = rng.uniform(-1, 1, (2,) + TINY["input_shape"]).astype(np.float32)
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", x)
    env = {**os.environ, "KERAS_BACKEND": backend}
    subprocess.run(
        [
            sys.executable,
            "-c",
            RUN_SAVED_MODEL,
            str(tmp_path / "m.keras"),
            str(tmp_path / "x.npy"),
            str(tmp_path / "y.npy"),
        ],
        env=env,
        check=True,
        capture_output=True,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model.predict(x, verbose=0), atol=1e-5)
