"""Training MLP-Mixers with tf.distribute and the paper's recipe.

    from training import load_config, train
    model, history = train(load_config("digits", ["train.epochs=5"]), "runs/digits")

``training.evaluate`` evaluates a saved model (``python -m training.evaluate``).
"""

from keras_mixer.datasets import DataError
from training.config import ConfigError, load_config
from training.trainer import build_model, train

__all__ = ["ConfigError", "DataError", "build_model", "load_config", "train"]
