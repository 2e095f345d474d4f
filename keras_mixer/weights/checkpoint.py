"""A checkpoint read into memory, and the two key schemes that meet in loading.

Official keys name the arrays as the official Flax code does
(``MixerBlock_0/LayerNorm_0/scale``, ``MixerBlock_0/token_mixing/Dense_0/kernel``);
every reader turns its file's keys into them. Keras variable paths name our
model's weights (``MixerBlock_0/LayerNorm_0/gamma``): the same words but
Keras' LayerNorm names. ``official_key`` translates a path into a key.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_mixer.preprocessing import ImagePreprocessing

# Keras' LayerNormalization variable names -> the official LayerNorm's.
_LAYER_NORM_NAMES = {"gamma": "scale", "beta": "bias"}


def official_key(variable_path: str) -> str:
    """The official key of a keras_mixer model's variable path."""
    *parents, leaf = variable_path.split("/")
    return "/".join([*parents, _LAYER_NORM_NAMES.get(leaf, leaf)])


@dataclasses.dataclass
class Checkpoint:
    """Arrays keyed by official keys, and where they came from.

    Attributes:
        params: official key -> array.
        origin: "official", "timm" or "keras".
        source: what was read (path or release), for messages.
        file_keys: official key -> the key as written in the file.
        preprocessing: how the weights' publisher evaluates images, where
            the source says (a release, a timm ``config.json``); loading
            records it in the model.
    """

    params: dict[str, np.ndarray]
    origin: str
    source: str
    file_keys: dict[str, str]
    preprocessing: ImagePreprocessing | None = None

    @property
    def gelu_approximate(self) -> bool:
        """The GELU form the weights were trained with (timm: exact erf)."""
        return self.origin != "timm"

    @property
    def num_blocks(self) -> int:
        return len({k.split("/")[0] for k in self.params if k.startswith("MixerBlock_")})

    @property
    def tokens(self) -> int | None:
        """S, the checkpoint's number of tokens (None when the key is missing)."""
        kernel = self.params.get("MixerBlock_0/token_mixing/Dense_0/kernel")
        return None if kernel is None else kernel.shape[0]

    @property
    def tokens_mlp_dim(self) -> int | None:
        """D_S, the checkpoint's token-MLP width (None when the key is missing)."""
        kernel = self.params.get("MixerBlock_0/token_mixing/Dense_0/kernel")
        return None if kernel is None else kernel.shape[1]

    def name(self, key: str) -> str:
        """``key`` as the file wrote it, for messages."""
        return self.file_keys.get(key, key)
