"""Quantisation-aware training and TFLite conversion of keras_mixer models.

    from convert import to_tflite
    report = to_tflite(model, "model_int8.tflite", mode="qat", dataset="digits")

``convert.runtime`` and ``convert.benchmark`` run models without importing
TensorFlow, so ``to_tflite`` is imported on first use.
"""

__all__ = ["ConvertOptions", "resolve_data", "to_tflite"]


def __getattr__(name):
    if name in __all__:
        from convert import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'convert' has no attribute {name!r}")
