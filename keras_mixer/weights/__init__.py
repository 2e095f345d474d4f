"""Loading MLP-Mixer weights into our models.

Every source is first read into a ``Checkpoint`` keyed by the official keys
(``checkpoint``), whatever the file format: official ``.npz`` and the releases
(``official``), timm state dicts (``timm``), Keras ``.weights.h5``
(``keras_h5``). ``load_weights`` (``loading``) then checks every key and shape
against the model, adapts the head and the token-mixing weights where it must
(``resolution``), and only then assigns: a failed load leaves the model as it
was.
"""

from keras_mixer.presets import ORIGIN_ENV, RELEASE_ORIGIN, RELEASES
from keras_mixer.weights.checkpoint import Checkpoint, official_key
from keras_mixer.weights.loading import load_weights, read_checkpoint, release_variant, variant_of
from keras_mixer.weights.official import fetch_release
from keras_mixer.weights.resolution import adapt_token_mixing, tiled_token_mlp_dim

__all__ = [
    "ORIGIN_ENV",
    "RELEASES",
    "RELEASE_ORIGIN",
    "Checkpoint",
    "adapt_token_mixing",
    "fetch_release",
    "load_weights",
    "official_key",
    "read_checkpoint",
    "release_variant",
    "tiled_token_mlp_dim",
    "variant_of",
]
