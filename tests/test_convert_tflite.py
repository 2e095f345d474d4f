import os

import numpy as np
import pytest
import tensorflow as tf

import keras
import keras_mixer
from convert import runtime, tflite
from convert.graph import build_tf_keras
from convert.quantize import qat_model
from tests.test_convert_graph import trained_like


def pixels(rng, n=1):
    return rng.integers(0, 256, (n, 16, 16, 3)).astype(np.float32)


def test_float32_tflite_matches_keras(rng, tmp_path):
    model = trained_like(rng, classifier_activation=None)
    path = str(tmp_path / "m.tflite")
    tflite.write(tflite.convert(build_tf_keras(model), "float32"), path)
    runner = runtime.interpreter(path)
    x = pixels(rng)
    expected = model.predict(keras_mixer.preprocess_input(x), verbose=0)[0]
    np.testing.assert_allclose(runtime.run(runner, x[0]), expected, atol=1e-4)
    census, float_ops = runtime.op_census(path)
    assert census["FULLY_CONNECTED"] == {"float32": 8 + 1}
    assert "FULLY_CONNECTED" in float_ops


def test_ptq_int8_takes_raw_uint8_pixels(rng):
    model = trained_like(rng)
    calibration = pixels(rng, 16)

    def representative():
        for x in calibration:
            yield [x[None]]

    flatbuffer = tflite.convert(build_tf_keras(model), "int8", representative)
    runner = runtime.interpreter(flatbuffer)
    inp = runner.get_input_details()[0]
    assert inp["dtype"] == np.uint8 and inp["quantization"] == (1.0, 0)  # raw pixels
    census, float_ops = runtime.op_census(flatbuffer)
    assert census["FULLY_CONNECTED"] == {"int8": 9}
    assert census["CONV_2D"] == {"int8": 1}
    for name in float_ops:  # every op reported as a float island has a float input
        assert "float32" in census[name]
    agree = [np.argmax(runtime.run(runner, x)) ==
             np.argmax(model.predict(keras_mixer.preprocess_input(x[None]), verbose=0))
             for x in pixels(rng, 20)]
    assert np.mean(agree) >= 0.8


def test_qat_model_trains_and_converts_without_leaking_legacy_keras(rng):
    model = trained_like(rng)
    qat = qat_model(model)
    assert os.environ.get("TF_USE_LEGACY_KERAS") is None
    assert keras.__version__.startswith("3")
    import tf_keras

    qat.compile(tf_keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    qat.fit(pixels(rng, 8), rng.integers(0, 5, 8), batch_size=1, epochs=1, verbose=0)
    flatbuffer = tflite.convert(qat, "int8")
    assert runtime.interpreter(flatbuffer).get_input_details()[0]["dtype"] == np.uint8
    census, _ = runtime.op_census(flatbuffer)
    assert census["FULLY_CONNECTED"] == {"int8": 9}


def test_write_is_atomic(tmp_path):
    path = tmp_path / "m.tflite"
    with pytest.raises(TypeError):
        tflite.write(None, str(path))  # fails mid-write
    assert not path.exists() and not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="mode must be one of"):
        tflite.convert(None, "int4")


@pytest.mark.parametrize("io, requantize", [("int8", {}), ("uint8", {"QUANTIZE": 2})])
def test_delegation_finds_partitions_and_ops_left_outside(rng, io, requantize):
    import tf_keras

    x = tf_keras.Input((8, 16), batch_size=1)
    h = tf_keras.layers.Dense(32)(x)
    h = tf_keras.layers.Lambda(lambda v: tf.nn.gelu(v, approximate=True))(h)
    model = tf_keras.Model(x, tf_keras.layers.Dense(4)(h))

    def representative():
        for _ in range(8):
            yield [rng.normal(size=(1, 8, 16)).astype(np.float32)]

    flatbuffer = tflite.convert(model, "int8", representative, io=io)
    found = runtime.delegation(runtime.interpreter(flatbuffer))
    # XNNPACK runs int8 FULLY_CONNECTED but neither int8 GELU nor the uint8<->int8
    # requantisation at the edges: Dense | GELU | Dense.
    assert found == {"partitions": 2, "ops_outside": {"GELU": 1, **requantize}}
