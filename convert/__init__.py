"""Quantisation-aware training and TFLite conversion of keras_mixer models.

    from convert import to_tflite
    report = to_tflite(model, "model_int8.tflite", mode="qat", dataset="digits")
"""

from convert.pipeline import to_tflite

__all__ = ["to_tflite"]
