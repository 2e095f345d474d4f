"""``Split``: the decoded examples of one split of a dataset, whatever its source."""

from __future__ import annotations

import dataclasses

import tensorflow as tf


@dataclasses.dataclass
class Split:
    """Decoded examples of one split: ``examples`` yields (uint8 image, label)."""

    examples: tf.data.Dataset
    size: int
    class_names: list
    cached_bytes: bool = False  # examples are (encoded bytes, label), decoded later
    files: tuple = ()  # a folder split's image files, in the order of its examples
    labels: tuple = ()  # and their class indices

    @property
    def num_classes(self):
        return len(self.class_names)
