"""Training MLP-Mixers with tf.distribute and the paper's recipe.

    from training import load_config, train
    model, history = train(load_config("digits", ["train.epochs=5"]), "runs/digits")

``training.evaluate`` evaluates a saved model (``python -m training.evaluate``).
"""

__all__ = ["ConfigError", "DataError", "NonFiniteLoss", "build_model", "load_config", "train"]
_HOMES = {
    "ConfigError": "training.config",
    "DataError": "keras_mixer.datasets",
    "NonFiniteLoss": "training.callbacks",
    "build_model": "training.trainer",
    "load_config": "training.config",
    "train": "training.trainer",
}


def __getattr__(name):  # imported on first use: the commands start light (training.__main__)
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'training' has no attribute {name!r}")
