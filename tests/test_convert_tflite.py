import os
import re

import keras
import numpy as np
import pytest
import tf_keras

import keras_mixer
from convert import runtime, tflite
from convert.calibrate import calibrate
from convert.forms import PlainForm
from convert.graph import build_graph, layer_norm_variances, mixer_spec, model_values
from convert.layers import Gelu, Pixels
from convert.quantize import quantised_graph, wrapper
from convert.xnnpack import XnnpackForm
from tests.test_convert_graph import trained_like


def pixels(rng, n=1):
    return rng.integers(0, 256, (n, 16, 16, 3)).astype(np.float32)


def test_float32_tflite_matches_keras(rng, tmp_path):
    model = trained_like(rng, classifier_activation=None)
    path = str(tmp_path / "m.tflite")
    graph = build_graph(mixer_spec(model), model_values(model), batch_size=None)
    tflite.write(tflite.convert(graph, "float32"), path)
    runner = runtime.interpreter(path)
    x = pixels(rng)
    expected = model.predict(keras_mixer.preprocess_input(x), verbose=0)[0]
    np.testing.assert_allclose(runtime.run(runner, x[0], raw_pixels=True), expected, atol=1e-4)
    census, float_ops = runtime.op_census(path)
    assert census["FULLY_CONNECTED"] == {"float32": 8 + 1}
    assert "FULLY_CONNECTED" in float_ops


def test_int8_takes_raw_uint8_pixels_and_every_range_from_the_graph(rng):
    model = trained_like(rng)
    graph = quantised_graph(mixer_spec(model), model_values(model), PlainForm())
    calibrate(graph, pixels(rng, 16))
    flatbuffer = tflite.convert(graph, "ptq")
    runner = runtime.interpreter(flatbuffer)
    inp = runner.get_input_details()[0]
    assert inp["dtype"] == np.uint8 and inp["quantization"] == (1.0, 0)  # raw pixels
    census, float_ops = runtime.op_census(flatbuffer)
    assert census["FULLY_CONNECTED"] == {"int8": 9} and census["CONV_2D"] == {"int8": 1}
    assert float_ops == []
    agree = [
        np.argmax(runtime.run(runner, x.astype(np.uint8)))
        == np.argmax(model.predict(keras_mixer.preprocess_input(x[None]), verbose=0))
        for x in pixels(rng, 20)
    ]
    assert np.mean(agree) >= 0.8
    image = pixels(rng)[0]
    with pytest.raises(
        ValueError, match=r"raw pixels \(0-255, no preprocess_input; uint8 .* got a float32 array"
    ):
        runtime.run(runner, keras_mixer.preprocess_input(image))  # a likely mistake
    np.testing.assert_array_equal(
        runtime.run(runner, image, raw_pixels=True), runtime.run(runner, image.astype(np.uint8))
    )


@pytest.mark.parametrize("mode", ["float32", "ptq"])
def test_inputs_a_model_cannot_take_are_refused_not_answered(rng, mode):
    """Every kind of array a caller might pass, for a float and a uint8 model."""
    model = trained_like(rng)
    graph = build_graph(mixer_spec(model), model_values(model), batch_size=None)
    if mode == "ptq":
        graph = quantised_graph(mixer_spec(model), model_values(model), PlainForm())
        calibrate(graph, pixels(rng, 8))
    runner = runtime.interpreter(tflite.convert(graph, mode))
    image = pixels(rng)[0]
    takes = re.escape("This model takes one (16, 16, 3) image of raw pixels")
    refused = {
        "preprocessed floats": (keras_mixer.preprocess_input(image), "got a float32 array"),
        "float64": (image.astype(np.float64), "got a float64 array"),
        "float16": (image.astype(np.float16), "got a float16 array"),
        "NaN with raw_pixels": (np.full_like(image, np.nan), "got NaN or infinite values"),
        "16-bit": (image.astype(np.uint16) * 257, r"got uint16 values from \d+ to \d+ \(a 16-bit"),
        "negative int8": (image.astype(np.int16) - 128, "got int16 values from -"),
        "bool": (image > 128, "got a bool array"),
        "complex": (image.astype(np.complex64), "got a complex64 array"),
        "strings": (image.astype(str), "got a <U"),
        "grey": (image[..., 0], r"got an array of shape \(16, 16\)"),
        "RGBA": (np.dstack([image, image[..., :1]]), r"got an array of shape \(16, 16, 4\)"),
        "a batch": (image[None], r"got an array of shape \(1, 16, 16, 3\)"),
        "another size": (pixels(rng, 1)[0, :8], r"got an array of shape \(8, 16, 3\)"),
    }
    for name, (array, message) in refused.items():
        raw = name == "NaN with raw_pixels"
        with pytest.raises(ValueError, match=takes + ".*" + message):
            runtime.run(runner, array, raw_pixels=raw)
    as_uint8 = runtime.run(runner, image.astype(np.uint8))
    for same in (image.astype(np.int64), image.astype(np.int32)):  # whole 0-255 values
        np.testing.assert_array_equal(runtime.run(runner, same), as_uint8)


def test_large_models_convert_through_a_saved_model_to_the_same_file(rng, monkeypatch):
    model = trained_like(rng)
    variances = layer_norm_variances(
        build_graph(mixer_spec(model), model_values(model), batch_size=None), pixels(rng, 8)
    )
    graph = quantised_graph(mixer_spec(model), model_values(model), XnnpackForm(variances))
    calibrate(graph, pixels(rng, 8))
    in_memory = tflite.convert(graph, "ptq")
    monkeypatch.setattr(tflite, "IN_MEMORY_WEIGHTS", 0)
    saved = tflite.convert(graph, "ptq")
    x = pixels(rng, 4).astype(np.uint8)
    outputs = [
        [runtime.run(runtime.interpreter(flatbuffer), image) for image in x]
        for flatbuffer in (in_memory, saved)
    ]
    np.testing.assert_array_equal(*outputs)
    assert runtime.op_census(in_memory) == runtime.op_census(saved)


def test_quantisation_does_not_leak_legacy_keras():
    import convert.quantize  # noqa: F401  (imports TFMOT)

    assert os.environ.get("TF_USE_LEGACY_KERAS") is None
    assert keras.__version__.startswith("3")


def test_write_is_atomic(tmp_path):
    path = tmp_path / "m.tflite"
    with pytest.raises(TypeError):
        tflite.write(None, str(path))  # fails mid-write
    assert not path.exists() and not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="mode must be one of"):
        tflite.convert(None, "int4")


@pytest.mark.parametrize("io, requantize", [("int8", {}), ("uint8", {"QUANTIZE": 2})])
def test_delegation_finds_partitions_and_ops_left_outside(rng, io, requantize):
    wrap = wrapper()
    x = tf_keras.Input((8, 16))
    h = wrap(Pixels((-4.0, 4.0)))(x)
    h = wrap(tf_keras.layers.Dense(32))(h)
    h = wrap(Gelu())(h)
    graph = tf_keras.Model(x, wrap(tf_keras.layers.Dense(4))(h))
    calibrate(graph, rng.normal(size=(8, 8, 16)).astype(np.float32))
    found = runtime.delegation(runtime.interpreter(tflite.convert(graph, "ptq", io=io)))
    # XNNPACK runs int8 FULLY_CONNECTED but neither int8 GELU nor the uint8<->int8
    # requantisation at the edges: Dense | GELU | Dense.
    assert found == {"partitions": 2, "ops_outside": {"GELU": 1, **requantize}}
