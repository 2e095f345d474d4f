"""A model knows what it is: the presets, ``keras_mixer.architecture`` on
saved and reloaded models, and a ``.keras`` file written before both."""

import json
import os
import zipfile

import keras
import numpy as np
import pytest

import keras_mixer
from convert import cli
from keras_mixer import Architecture, architecture, presets
from tests.test_models import PAPER_PARAMS_M
from tests.training_helpers import run_main

# A .keras file's config.json as keras_mixer wrote it before the presets and
# ``architecture`` existed: MlpMixer(4, 16, 2, 8, 32, input_shape=(16, 16, 3),
# classes=10, gelu_approximate=False, drop_path_rate=0.1).
BEFORE_PRESETS = os.path.join(os.path.dirname(__file__), "data", "keras_file_before_presets.json")
SMALL = [name for name, v in presets.VARIANTS.items() if (v.params_millions or 20) <= 60]


def saved_and_loaded(model, folder):
    path = os.path.join(folder, "model.keras")
    model.save(path)
    return keras_mixer.load_model(path)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=[] if name in SMALL else pytest.mark.slow)
        for name in presets.VARIANTS
    ],
)
def test_every_variant_reads_back_as_its_preset(name, tmp_path):
    preset = presets.VARIANTS[name]
    side = 2 * preset.patch_size  # the sizes do not depend on the resolution without weights
    model = keras_mixer.models.CONSTRUCTORS[name](input_shape=(side, side, 3), classes=7)
    found = architecture(saved_and_loaded(model, tmp_path))
    assert found == Architecture(**preset.sizes, gelu_approximate=True, classes=7)
    assert found.variant == name


def test_architecture_of_custom_and_headless_models(tmp_path):
    model = keras_mixer.MlpMixer(
        4,
        16,
        3,
        8,
        32,
        input_shape=(16, 24, 3),
        include_top=False,
        pooling="avg",
        gelu_approximate=False,
    )
    found = architecture(saved_and_loaded(model, tmp_path))
    assert found == Architecture(4, 16, 3, 8, 32, gelu_approximate=False, classes=None)
    assert found.variant is None
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="is not a keras_mixer Mixer"):
        architecture(plain)


def test_presets_match_the_papers_table_and_the_constructors():
    assert keras_mixer.MixerS8.__name__ == "MixerS8"
    assert set(presets.VARIANTS) == set(keras_mixer.models.CONSTRUCTORS)
    for release in presets.RELEASES.values():
        assert set(release.variants) <= set(presets.VARIANTS) and release.classes >= 1000
    assert presets.release_url("gsam", "S/8") == (
        "https://storage.googleapis.com/mixer_models/gsam/Mixer-S_8.npz"
    )
    # The table's counts are the paper's (the models' own: tests/test_models.py).
    for name, millions in PAPER_PARAMS_M.items():
        assert presets.VARIANTS[name].params_millions == millions


def write_keras_file_before_presets(path, rng):
    """A .keras file with the old config.json verbatim and weights saved from
    the model Keras revives from it."""
    with open(BEFORE_PRESETS) as f:
        config_text = f.read()
    model = keras.saving.deserialize_keras_object(json.loads(config_text))
    for variable in model.weights:
        variable.assign(rng.normal(0, 0.3, variable.shape))
    weights = str(path) + ".weights.h5"
    model.save_weights(weights)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", '{"keras_version": "3.15.1"}')
        archive.writestr("config.json", config_text)
        archive.write(weights, "model.weights.h5")
    os.remove(weights)
    return model


def test_keras_file_written_before_presets_loads_and_converts(rng, tmp_path):
    path = tmp_path / "before.keras"
    written = write_keras_file_before_presets(path, rng)
    loaded = keras_mixer.load_model(path)
    assert architecture(loaded) == Architecture(4, 16, 2, 8, 32, gelu_approximate=False, classes=10)
    x = rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_array_equal(written.predict(x, verbose=0), loaded.predict(x, verbose=0))
    result = run_main(
        cli.main,
        path,
        "--ptq",
        "--data",
        "digits",
        "--eval-images",
        "20",
        "--debug-images",
        "0",
        "-o",
        tmp_path / "before.tflite",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "before.json").read_text())
    assert report["mode"] == "ptq" and (tmp_path / "before.tflite").stat().st_size > 0
