"""Per-layer int8 error with TFLite's QuantizationDebugger, and selective
quantisation (chosen layers kept in float) to see what the worst ones cost."""

import csv
import io

import numpy as np
import tensorflow as tf

from convert import tflite
from convert.graph import Gelu


class LayerErrors:
    """Runs the debugger once on ``tf_keras_model`` (the float twin), calibrated
    with ``representative`` and measured on ``debug_images`` (raw pixels).

    ``worst``: one dict per quantised tensor, worst first, ranked by RMSE
    between the int8 and float outputs of that op (fed the same int8 input) in
    units of the tensor's quantisation step ("rmse_per_scale": ~0.3 is pure
    rounding noise, above ~1 the layer loses information). The XNNPACK GELU's
    sigmoid input is left out: it is clamped where the sigmoid saturates, on
    purpose, so its int8 op differs from its unclamped float twin by design.
    """

    def __init__(self, tf_keras_model, representative, debug_images):
        def debug_dataset():
            for image in debug_images:
                yield [np.asarray(image, np.float32)[None]]

        converter = tflite.make_converter(tf_keras_model, "int8", representative, io="float32")
        self._debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=debug_dataset)
        self._debugger.run()
        table = io.StringIO()
        self._debugger.layer_statistics_dump(table)
        table.seek(0)
        rows = []
        for row in csv.DictReader(table):
            if row["tensor_name"].endswith(f"/{Gelu.GATE_INPUT}"):
                continue
            scale = float(row["scale"])
            rows.append({
                "layer": row["tensor_name"], "op": row["op_name"],
                "rmse_per_scale": float(np.sqrt(float(row["mean_squared_error"])) / scale),
                "max_abs_error": float(row["max_abs_error"]), "scale": scale,
            })
        self.worst = sorted(rows, key=lambda r: -r["rmse_per_scale"])

    def keep_float(self, count):
        """The model with the ``count`` worst layers left in float (float I/O)."""
        nodes = [row["layer"] for row in self.worst[:count]]
        self._debugger.options = tf.lite.experimental.QuantizationDebugOptions(
            denylisted_nodes=nodes)
        return self._debugger.get_nondebug_quantized_model()
