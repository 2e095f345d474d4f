"""How a Mixer's images are prepared: the input scaling of the official
checkpoints (``preprocess_input``) and the evaluation preprocessing a model
carries in its ``.keras`` file (``ImagePreprocessing``).

A model keeps its ``ImagePreprocessing`` in its stem's config (the stem is
the layer that takes the images), so it travels with ``model.save`` and
``keras.saving.load_model`` like the model's sizes do; ``of_model`` reads it
(None for files written before it existed) and ``set_on_model`` records it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from keras import ops

RESIZE_METHODS = ("bilinear", "bicubic", "area", "nearest")  # tf.image.resize's, by name
# The smallest evaluation crop: below it an image is resized to a size out of
# all proportion with the model's (eval_crop 0.001 took 13 GB before failing).
MIN_CROP = 0.25
# The scaling of preprocess_input, as timm writes it: (pixels / 255 - mean) / std.
MEAN = STD = (0.5, 0.5, 0.5)


def preprocess_input(x, data_format: str | None = None):
    """Maps pixels in [0, 255] (uint8 or float) to [-1, 1]: ``(x - 127.5) / 127.5``.

    Accepts NumPy arrays (returns float32 NumPy, or the input's float dtype
    when it already is floating point) and tensors (returns a float tensor).
    ``data_format`` is accepted for ``keras.applications`` compatibility; the
    scaling is per pixel, so the layout does not matter.

    Raises ValueError for NumPy integer pixels outside 0-255 (a 16-bit
    image, say), which would map far outside [-1, 1] without a word.
    """
    del data_format
    if isinstance(x, (np.ndarray, list, tuple, int, float)):
        x = np.asarray(x)
        if x.dtype.kind in "ui" and x.size and (x.min() < 0 or x.max() > 255):
            raise ValueError(
                f"preprocess_input takes 8-bit pixels (0-255); got {x.dtype} values from "
                f"{x.min()} to {x.max()} (a 16-bit image? scale it to 8 bits first)."
            )
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
        return (x.astype(dtype) - 127.5) / 127.5
    dtype = x.dtype if "float" in str(x.dtype) else "float32"
    x = ops.cast(x, dtype)
    return (x - 127.5) / 127.5


@dataclasses.dataclass(frozen=True)
class ImagePreprocessing:
    """How a model's evaluation images are prepared: resized with
    ``resize_method`` (antialiased when shrinking) to cover ``image_size /
    eval_crop`` keeping the aspect ratio, the centred ``image_size`` crop
    taken, then scaled as ``(pixels / 255 - mean) / std``.

    ``image_size``: (height, width), None where it is the model's input size
    (a release's, before it is loaded into a model); ``source``: where the
    values were published or chosen, said wherever they are used."""

    eval_crop: float
    resize_method: str
    image_size: tuple[int, int] | None = None
    mean: tuple[float, ...] = MEAN
    std: tuple[float, ...] = STD
    source: str = ""

    def __post_init__(self):
        crop = self.eval_crop
        if (
            isinstance(crop, bool)
            or not isinstance(crop, (int, float))
            or not MIN_CROP <= crop <= 1
        ):
            raise ValueError(
                f"eval_crop must be a number in [{MIN_CROP}, 1] (the share of the resized image "
                f"kept; 1: all of it; below {MIN_CROP} each side is blown up more than "
                f"{1 / MIN_CROP:g} times); got {crop!r}."
            )
        if self.resize_method not in RESIZE_METHODS:
            raise ValueError(
                f"resize_method must be one of {', '.join(RESIZE_METHODS)}; "
                f"got {self.resize_method!r}."
            )
        if self.image_size is not None:
            object.__setattr__(self, "image_size", tuple(int(s) for s in self.image_size))
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))

    @property
    def scales_like_preprocess_input(self) -> bool:
        """Whether the scaling is ``preprocess_input``'s (all our pipelines apply)."""
        return np.allclose(self.mean, MEAN) and np.allclose(self.std, STD)

    def config(self) -> dict:
        """A JSON-ready dict (what a ``.keras`` file keeps)."""
        found = dataclasses.asdict(self)
        found.update(
            image_size=None if self.image_size is None else list(self.image_size),
            mean=list(self.mean),
            std=list(self.std),
        )
        return found

    @classmethod
    def from_config(cls, config: dict) -> ImagePreprocessing:
        return cls(**config)


def of_model(model) -> ImagePreprocessing | None:
    """The evaluation preprocessing ``model`` carries, or None (a file
    written before models carried it, or a model nobody told)."""
    config = _stem(model).image_preprocessing
    return None if config is None else ImagePreprocessing.from_config(config)


def set_on_model(model, preprocessing: ImagePreprocessing | None) -> None:
    """Records ``preprocessing`` in ``model`` (saved with it), at the model's
    own input size; None forgets it."""
    stem = _stem(model)
    if preprocessing is None:
        stem.image_preprocessing = None
        return
    size = tuple(int(side) for side in model.input_shape[1:3])
    if preprocessing.image_size not in (None, size):
        raise ValueError(
            f"Preprocessing for {preprocessing.image_size[0]}x{preprocessing.image_size[1]} "
            f"images does not fit the model: it takes {size[0]}x{size[1]}."
        )
    stem.image_preprocessing = dataclasses.replace(preprocessing, image_size=size).config()


def _stem(model):
    from keras_mixer.layers import PatchEmbedding

    stems = [layer for layer in model.layers if isinstance(layer, PatchEmbedding)]
    if len(stems) != 1:
        raise ValueError(f"Model {model.name!r} is not a keras_mixer Mixer (no single stem).")
    return stems[0]
