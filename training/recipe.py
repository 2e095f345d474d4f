"""The paper's optimisation recipe as Keras objects: schedule, optimizer, loss."""

from __future__ import annotations

import keras

from keras_mixer.schedules import DECAYS, WarmupDecay
from training.config import ConfigError

OPTIMIZERS = ("adam", "adamw", "sgd")


def make_optimizer(config: dict, total_steps: int) -> keras.optimizers.Optimizer:
    """Adam, AdamW (decoupled decay, not on biases or LayerNorm parameters) or
    SGD with momentum, all with global-norm clipping."""
    if config["name"] not in OPTIMIZERS:
        raise ConfigError(
            f"optimizer.name must be one of {', '.join(OPTIMIZERS)}; got {config['name']!r}."
        )
    if config["decay"] not in DECAYS:
        raise ConfigError(
            f"optimizer.decay must be one of {', '.join(DECAYS)}; got {config['decay']!r}."
        )
    learning_rate = WarmupDecay(
        config["learning_rate"], total_steps, config["warmup_steps"], config["decay"]
    )
    name = config["name"]
    common = {"learning_rate": learning_rate, "global_clipnorm": config["global_clipnorm"]}
    if name in ("adam", "adamw"):
        optimizer = keras.optimizers.AdamW(
            beta_1=config["beta_1"],
            beta_2=config["beta_2"],
            weight_decay=config["weight_decay"] if name == "adamw" else 0.0,
            **common,
        )
    else:
        optimizer = keras.optimizers.SGD(
            momentum=config["momentum"], weight_decay=config["weight_decay"] or None, **common
        )
    # Keras matches these names against variable names: every bias, and
    # LayerNorm's gamma/beta, are left out of the decay.
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def make_loss(label_smoothing: float) -> keras.losses.Loss:
    return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
