"""Training MLP-Mixers with tf.distribute and the paper's recipe.

    from training import load_config, train
    model, history = train(load_config("digits", ["train.epochs=5"]), "runs/digits")
"""

from training.config import ConfigError, load_config
from training.data import DataError
from training.trainer import build_model, evaluate, train

__all__ = ["ConfigError", "DataError", "build_model", "evaluate", "load_config", "train"]
