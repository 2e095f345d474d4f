"""The fake-quantised graph: calibration, QAT, and what the converter takes from it."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from convert import tflite
from convert.calibrate import calibrate, mse_range, percentile_range
from convert.forms import form
from convert.graph import build_graph, layer_norm_variances, mixer_spec, model_values
from convert.qat import RelativeAdam, distil
from convert.quantize import (
    kernel_and_bias,
    kernels_on_grid,
    quantised_graph,
    range_quantizers,
    ranges,
    set_ranges,
)
from convert.runtime import interpreter
from convert.verify import quantised_pass, relative_l2
from mixer_base import internals
from tests.test_convert_graph import trained_like


def pixels(rng, n):
    return rng.integers(0, 256, (n, 16, 16, 3)).astype(np.float32)


def graphs(rng, images, form_name="xnnpack"):
    """(float graph, quantised graph) of a tiny Mixer, batch None, uncalibrated."""
    model = trained_like(rng)
    spec, values = mixer_spec(model), model_values(model)
    variances = layer_norm_variances(build_graph(spec, values, batch_size=None), images)
    graph_form = form(form_name, variances)
    return (
        build_graph(spec, values, graph_form, batch_size=None),
        quantised_graph(spec, values, graph_form),
    )


def nudged(low, high):
    """TF's and TFLite's int8 (scale, zero point) for a fake-quantisation range."""
    scale = (high - low) / 255
    return scale, int(np.clip(np.round(-128 - low / scale), -128, 127))


def activation_params(flatbuffer):
    """{graph layer name: [(scale, zero point), ...]} of the int8 activation
    tensors of a converted graph, by the layer each tensor's name starts with."""
    runner = interpreter(flatbuffer, delegates=False)
    details = {d["index"]: d for d in runner.get_tensor_details()}
    found = {}
    for op in internals.ops_details(runner):
        for index in op["outputs"]:
            detail = details[int(index)]
            parts = detail["name"].split(";")[0].split("/")
            if detail["dtype"] == np.int8 and len(parts) > 1:
                found.setdefault(parts[1], []).append(detail["quantization"])
    return found


def test_qat_trains_the_ranges_the_file_holds(rng):
    images = pixels(rng, 32)
    teacher, quantised = graphs(rng, images)
    calibrate(quantised, images)
    before = ranges(quantised)
    batches = tf.data.Dataset.from_tensor_slices((images, np.zeros(len(images)))).batch(8)
    distil(quantised, teacher, batches, steps=12, learning_rate=0.02, log=lambda _: None)
    after = ranges(quantised)
    trained = [name for name in after if after[name] != before[name]]
    assert len(trained) > 20  # the learnt ranges moved ...
    in_file = activation_params(tflite.convert(quantised, "ptq", io="int8"))
    checked = 0
    for name in trained:  # ... and the file holds them as they are now
        scale, zero = nudged(*after[name])
        assert any(abs(s - scale) <= 1e-6 * scale and z == zero for s, z in in_file[name]), name
        checked += 1
    assert checked == len(trained)


def test_minmax_calibration_covers_what_the_float_graph_computes(rng):
    images = pixels(rng, 24)
    float_graph, quantised = graphs(rng, images, "plain")
    found = calibrate(quantised, images, "minmax", batch_size=5)
    assert found == ranges(quantised)
    names = [name for name, q in range_quantizers(quantised).items() if q.fixed_range is None]
    probe = tf_keras.Model(
        float_graph.inputs, [float_graph.get_layer(name).output for name in names]
    )
    for name, tensor in zip(names, probe(images)):
        tensor = tensor.numpy()
        low, high = min(tensor.min(), 0.0), max(tensor.max(), 0.0)
        np.testing.assert_allclose(found[name], (low, high), rtol=1e-5, atol=1e-6)


def test_estimators_clip_outliers_and_minimise_error(rng):
    def int8_mse(values, low, high):  # NumPy's fake quantisation, independent of ours
        scale = (high - low) / 255
        q = np.clip(np.round((values - low) / scale), 0, 255) * scale + low
        return np.mean((q - values) ** 2)

    values = np.concatenate([rng.laplace(0, 1, 200_000), [60.0, -45.0]])
    low, high = values.min(), values.max()
    counts, _ = np.histogram(values, 2048, (low, high))
    p_low, p_high = percentile_range(counts, low, high)
    np.testing.assert_allclose([p_low, p_high], np.percentile(values, [0.01, 99.99]), atol=0.1)
    m_low, m_high = mse_range(counts, low, high)
    found = {"minmax": (low, high), "percentile": (p_low, p_high), "mse": (m_low, m_high)}
    errors = {name: int8_mse(values, *r) for name, r in found.items()}
    # Two outliers cost more clipped than their range costs in rounding: the
    # MSE range balances both, better than either.
    assert errors["mse"] < min(errors["percentile"], errors["minmax"]) * 0.8


def test_layer_errors_find_the_clipping_range(rng):
    images = pixels(rng, 16)
    _, quantised = graphs(rng, images)
    calibrate(quantised, images)
    scores, rows = quantised_pass(quantised, images, error_images=16)
    assert scores.shape == (16, 5) and len(rows) > 40
    rounding = np.median([row["rmse_per_scale"] for row in rows])
    assert 0.25 < rounding < 0.33  # uniform rounding noise: 1 / sqrt(12) = 0.289
    found = ranges(quantised)
    low, high = found["block1_channel_dense0"]
    set_ranges(quantised, {**found, "block1_channel_dense0": (low / 4, high / 4)})
    _, rows = quantised_pass(quantised, images, error_images=8)
    assert rows[0]["layer"] == "block1_channel_dense0"
    assert rows[0]["rmse_per_scale"] > 3 and rows[0]["clipped"] > 0.05
    assert {row["op"] for row in rows} >= {"FULLY_CONNECTED", "CONV_2D", "MEAN", "MUL", "TANH"}


def test_layer_errors_count_only_the_error_images(rng):
    images = pixels(rng, 7)
    _, quantised = graphs(rng, images)
    calibrate(quantised, images)
    scores, rows = quantised_pass(quantised, images, error_images=5, batch_size=2)
    alone_scores, alone_rows = quantised_pass(quantised, images[:5], error_images=5)
    np.testing.assert_allclose(scores[:5], alone_scores, atol=1e-5)
    assert [row["layer"] for row in rows] == [row["layer"] for row in alone_rows]
    np.testing.assert_allclose(
        [row["rmse_per_scale"] for row in rows],
        [row["rmse_per_scale"] for row in alone_rows],
        rtol=1e-4,
    )


def test_relative_l2_is_undefined_against_zero_scores():
    assert relative_l2([[3.0, 4.0]], [[0.0, 8.0]]) == pytest.approx(5 / 8)
    assert relative_l2([[0.1, 0.0]], [[0.0, 0.0]]) is None  # a fresh model's zero head


def test_relative_adam_moves_each_variable_by_its_own_scale():
    small, large = tf.Variable([1e-3, -1e-3]), tf.Variable([1e3, 2e3])
    optimizer = RelativeAdam([small, large], {id(small): 1e-3, id(large): 1e3}, 0.01)
    optimizer.apply([tf.constant([1.0, -1.0]), tf.constant([1.0, 1.0])])
    np.testing.assert_allclose(small.numpy(), [1e-3 - 1e-5, -1e-3 + 1e-5], rtol=1e-4)
    np.testing.assert_allclose(large.numpy(), [1e3 - 10, 2e3 - 10], rtol=1e-4)


@pytest.mark.parametrize("name", ["median", "tukey"])
def test_unknown_estimator_is_refused(rng, name):
    _, quantised = graphs(rng, pixels(rng, 2), "plain")
    with pytest.raises(ValueError, match="Calibration must be one of minmax, percentile, mse"):
        calibrate(quantised, pixels(rng, 2), name)


def fully_connected_weights(flatbuffer):
    """[(int8 weights (out, in), per-row scales)] of a model's FULLY_CONNECTED ops."""
    runner = interpreter(flatbuffer, delegates=False)
    found = []
    for op in internals.ops_details(runner):
        if op["op_name"] == "FULLY_CONNECTED":
            detail = internals.tensor_details(runner, int(op["inputs"][1]))
            found.append(
                (runner.get_tensor(detail["index"]), detail["quantization_parameters"]["scales"])
            )
    return found


def test_conversion_puts_dense_kernels_on_their_grid_and_back(rng):
    images = pixels(rng, 8)
    _, quantised = graphs(rng, images, "plain")
    calibrate(quantised, images)
    head = kernel_and_bias(quantised.get_layer("head"))[0]
    before, outputs = head.numpy(), quantised(images).numpy()
    with kernels_on_grid(quantised):
        np.testing.assert_array_equal(head.numpy(), _per_row_grid(before))
        # The graph computes the same without the rounding ops it leaves out.
        np.testing.assert_allclose(quantised(images).numpy(), outputs, atol=1e-5)
    np.testing.assert_array_equal(head.numpy(), before)  # restored for QAT and keep-float
    tflite.convert(quantised, "ptq")
    np.testing.assert_array_equal(head.numpy(), before)


@pytest.mark.parametrize("form_name", ["xnnpack", "plain"])
def test_dense_weights_are_quantised_per_output_unit(rng, form_name):
    images = pixels(rng, 16)
    model = trained_like(rng)
    spec, values = mixer_spec(model), model_values(model)
    variances = layer_norm_variances(build_graph(spec, values, batch_size=None), images)
    graph_form = form(form_name, variances)
    per_channel = quantised_graph(spec, values, graph_form)
    calibrate(per_channel, images)
    weights = fully_connected_weights(tflite.convert(per_channel, "ptq", io="int8"))
    assert len(weights) == 2 * 2 * spec["num_blocks"] + 1  # four MLP Dense a block, the head
    for q, scales in weights:  # symmetric per row: every row reaches +-127 on its own scale
        assert len(scales) == q.shape[0] > 1 and len(set(scales)) > 1
        assert np.array_equal(np.abs(q.astype(int)).max(1), np.full(q.shape[0], 127))
    # The file holds the head's kernel on its per-row grid, as the graph computes with it.
    kernel, _ = kernel_and_bias(per_channel.get_layer("head"))
    q, scales = weights[-1]
    np.testing.assert_allclose(q.T * scales, _per_row_grid(kernel.numpy()), atol=1e-6)
    per_matrix = quantised_graph(spec, values, graph_form, per_channel=False)
    calibrate(per_matrix, images)
    for _q, scales in fully_connected_weights(tflite.convert(per_matrix, "ptq", io="int8")):
        assert len(scales) == 1


def _per_row_grid(kernel):
    """A Dense kernel (in, out) on the symmetric int8 grid of each output unit
    (NumPy, independent of the graph's quantiser)."""
    step = np.abs(kernel).max(0) / 127
    return np.round(kernel / step) * step


def test_bias_correction_takes_the_weights_shift_off_the_outputs(rng):
    from convert.bias_correction import correct_biases
    from convert.quantize import tapped

    images = pixels(rng, 24)
    _, quantised = graphs(rng, images)
    calibrate(quantised, images)
    stem = quantised.get_layer("stem")

    class WeightsOnly:  # every activation float, every weight as the file holds it
        quantise_weights = True

        def __call__(self, quantizer, tensor, quantised_tensor):
            return tensor

    def stem_mean(quantise_weights):
        probe = tf_keras.Model(quantised.inputs, stem.output)
        tap = WeightsOnly()
        tap.quantise_weights = quantise_weights
        with tapped(quantised, tap):
            return probe(images, training=False).numpy().mean((0, 1, 2))

    def float_stem_mean():  # NumPy: the float stem's mean output, from its float weights
        kernel, bias = (w.numpy() for w in kernel_and_bias(stem))
        p = kernel.shape[0]
        patches = images.reshape(len(images), 4, p, 4, p, 3).transpose(0, 1, 3, 2, 4, 5)
        return (patches.reshape(-1, p * p * 3) @ kernel.reshape(-1, kernel.shape[-1])).mean(
            0
        ) + bias

    reference = float_stem_mean()
    np.testing.assert_allclose(stem_mean(False), reference, rtol=1e-4, atol=1e-4)
    shifted = np.abs(stem_mean(True) - reference).max()
    found = correct_biases(quantised, images)
    assert found["layers"] == 2 * 2 * 2 + 2  # the MLPs' Dense, the stem and the head
    corrected = np.abs(stem_mean(True) - reference).max()
    assert shifted > 1e-3 and corrected < shifted / 100
