"""Quantisation-aware training with tensorflow-model-optimization (TFMOT).

TFMOT 0.8 knows Conv2D, Dense, Add, Reshape and Permute; the Mixer's
LayerNorms, GELUs, pooling and the folded preprocessing are marked with
``OutputQuantizeConfig``: their outputs get fake-quantisation (so the int8
converter knows every activation range), their internals stay as they are.
"""

import contextlib
import os


@contextlib.contextmanager
def tfmot_imported():
    """Imports TFMOT without leaking its side effect: it sets
    TF_USE_LEGACY_KERAS=1, which would switch later ``tf.keras`` users to Keras 2."""
    before = os.environ.get("TF_USE_LEGACY_KERAS")
    import tensorflow_model_optimization as tfmot

    if before is None:
        os.environ.pop("TF_USE_LEGACY_KERAS", None)
    else:
        os.environ["TF_USE_LEGACY_KERAS"] = before
    yield tfmot


def output_quantize_config(tfmot, quantize_output=True):
    """A QuantizeConfig that fake-quantises a layer's output only (or, with
    ``quantize_output=False``, nothing: the converter calibrates its ranges)."""
    quantize = tfmot.quantization.keras

    class OutputQuantizeConfig(quantize.QuantizeConfig):
        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            if not quantize_output:
                return []
            return [quantize.quantizers.MovingAverageQuantizer(
                num_bits=8, per_axis=False, symmetric=False, narrow_range=False)]

        def get_config(self):
            return {}

    if not quantize_output:  # TFMOT finds configs by class name
        OutputQuantizeConfig.__name__ = OutputQuantizeConfig.__qualname__ = "CalibratedConfig"
    return OutputQuantizeConfig


def qat_model(model, pixel_input=True, batch_size=1, xnnpack_variances=None):
    """The QAT tf_keras model of a keras_mixer classifier (weights copied,
    fake-quantisation inserted; the XNNPACK form given ``xnnpack_variances``,
    as in ``build_tf_keras``), ready to compile and fine-tune. Train one
    with ``batch_size=None``, then ``set_weights`` into a batch-1 one to convert
    (the int8 converter needs the static batch)."""
    import tf_keras

    from convert.graph import (CUSTOM_OBJECTS, Centre, Gelu, MeanSquare, Normalise,
                               build_tf_keras)

    twin = build_tf_keras(model, pixel_input=pixel_input, batch_size=batch_size,
                          xnnpack_variances=xnnpack_variances)
    unsupported = (tf_keras.layers.LayerNormalization, tf_keras.layers.GlobalAveragePooling1D,
                   tf_keras.layers.Rescaling, Gelu)
    # The XNNPACK LayerNorm's small tensors (variances, 1/std) have ranges far
    # from the quantisers' initial +-6 that a short QAT run would not learn:
    # they are left to the calibration at conversion.
    calibrated = (Centre, MeanSquare, Normalise)
    with tfmot_imported() as tfmot:
        quantize = tfmot.quantization.keras
        output_config = output_quantize_config(tfmot)
        calibrated_config = output_quantize_config(tfmot, quantize_output=False)

        def annotate(layer):  # returns the same layer object: its weights come along
            if isinstance(layer, unsupported):
                return quantize.quantize_annotate_layer(layer, output_config())
            if isinstance(layer, calibrated) or layer.name.endswith(("_rsqrt", "_rsqrt_ramps")):
                return quantize.quantize_annotate_layer(layer, calibrated_config())
            return layer

        annotated = tf_keras.models.clone_model(twin, clone_function=annotate)
        with quantize.quantize_scope({**CUSTOM_OBJECTS, "OutputQuantizeConfig": output_config,
                                      "CalibratedConfig": calibrated_config}):
            return quantize.quantize_apply(quantize.quantize_annotate_model(annotated))
