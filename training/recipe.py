"""The paper's optimisation recipe as Keras objects: schedule, optimizer, loss."""

import keras

from keras_mixer.schedules import WarmupDecay


def make_optimizer(config, total_steps):
    """Adam, AdamW (decoupled decay, not on biases or LayerNorm parameters) or
    SGD with momentum, all with global-norm clipping."""
    learning_rate = WarmupDecay(config["learning_rate"], total_steps,
                                config["warmup_steps"], config["decay"])
    name = config["name"]
    common = {"learning_rate": learning_rate, "global_clipnorm": config["global_clipnorm"]}
    if name in ("adam", "adamw"):
        optimizer = keras.optimizers.AdamW(
            beta_1=config["beta_1"], beta_2=config["beta_2"],
            weight_decay=config["weight_decay"] if name == "adamw" else 0.0, **common)
    elif name == "sgd":
        optimizer = keras.optimizers.SGD(
            momentum=config["momentum"], weight_decay=config["weight_decay"] or None, **common)
    else:
        raise ValueError(f"Unknown optimizer {name!r}; expected adam, adamw or sgd.")
    # Keras matches these names against variable names: every bias, and
    # LayerNorm's gamma/beta, are left out of the decay.
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def make_loss(label_smoothing):
    return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
