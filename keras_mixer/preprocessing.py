"""Input scaling of the official MLP-Mixer checkpoints."""

from __future__ import annotations

import numpy as np
from keras import ops


def preprocess_input(x, data_format: str | None = None):
    """Maps pixels in [0, 255] (uint8 or float) to [-1, 1]: ``(x - 127.5) / 127.5``.

    Accepts NumPy arrays (returns float32 NumPy, or the input's float dtype
    when it already is floating point) and tensors (returns a float tensor).
    ``data_format`` is accepted for ``keras.applications`` compatibility; the
    scaling is per pixel, so the layout does not matter.
    """
    del data_format
    if isinstance(x, (np.ndarray, list, tuple, int, float)):
        x = np.asarray(x)
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
        return (x.astype(dtype) - 127.5) / 127.5
    dtype = x.dtype if "float" in str(x.dtype) else "float32"
    x = ops.cast(x, dtype)
    return (x - 127.5) / 127.5
