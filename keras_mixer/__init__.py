"""keras-mixer: MLP-Mixer (Tolstikhin et al., 2021) for Keras 3, built for
on-device deployment."""

from keras_mixer import layers, presets, schedules  # noqa: F401 (schedules: registered for keras.saving)
from keras_mixer.architecture import Architecture, architecture
from keras_mixer.labels import decode_predictions, labels
from keras_mixer.models import (
    MixerB16,
    MixerB32,
    MixerH14,
    MixerL16,
    MixerL32,
    MixerS8,
    MixerS16,
    MixerS32,
    MlpMixer,
    load_model,
)
from keras_mixer.preprocessing import ImagePreprocessing, preprocess_input
from keras_mixer.presets import RELEASES, VARIANTS
from keras_mixer.weights import load_weights

__version__ = "0.1.0"

__all__ = [
    "RELEASES",
    "VARIANTS",
    "Architecture",
    "ImagePreprocessing",
    "MixerB16",
    "MixerB32",
    "MixerH14",
    "MixerL16",
    "MixerL32",
    "MixerS8",
    "MixerS16",
    "MixerS32",
    "MlpMixer",
    "architecture",
    "decode_predictions",
    "labels",
    "layers",
    "load_model",
    "load_weights",
    "preprocess_input",
]
