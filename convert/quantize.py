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


def output_quantize_config(tfmot):
    """A QuantizeConfig that fake-quantises a layer's output only."""
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
            return [quantize.quantizers.MovingAverageQuantizer(
                num_bits=8, per_axis=False, symmetric=False, narrow_range=False)]

        def get_config(self):
            return {}

    return OutputQuantizeConfig


def qat_model(model, pixel_input=True, batch_size=1):
    """The QAT tf_keras model of a keras_mixer classifier (weights copied,
    fake-quantisation inserted), ready to compile and fine-tune. Train one
    with ``batch_size=None``, then ``set_weights`` into a batch-1 one to convert
    (the int8 converter needs the static batch)."""
    import tf_keras

    from convert.graph import CUSTOM_OBJECTS, Gelu, build_tf_keras

    twin = build_tf_keras(model, pixel_input=pixel_input, batch_size=batch_size)
    unsupported = (tf_keras.layers.LayerNormalization, tf_keras.layers.GlobalAveragePooling1D,
                   tf_keras.layers.Rescaling, Gelu)
    with tfmot_imported() as tfmot:
        quantize = tfmot.quantization.keras
        config_class = output_quantize_config(tfmot)

        def annotate(layer):  # returns the same layer object: its weights come along
            if isinstance(layer, unsupported):
                return quantize.quantize_annotate_layer(layer, config_class())
            return layer

        annotated = tf_keras.models.clone_model(twin, clone_function=annotate)
        with quantize.quantize_scope({**CUSTOM_OBJECTS,
                                      "OutputQuantizeConfig": config_class}):
            return quantize.quantize_apply(quantize.quantize_annotate_model(annotated))
