"""The paper's optimisation recipe as Keras objects: schedule, optimizer, loss."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_mixer")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to ``peak`` over ``warmup_steps``, then linear or
    cosine decay to 0 at ``total_steps`` (or constant)."""

    def __init__(self, peak, total_steps, warmup_steps=0, decay="linear"):
        if decay not in ("linear", "cosine", "constant"):
            raise ValueError(f"decay must be linear, cosine or constant; got {decay!r}.")
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.decay = decay

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = step / max(self.warmup_steps, 1)
        progress = ops.clip((step - self.warmup_steps)
                            / max(self.total_steps - self.warmup_steps, 1), 0.0, 1.0)
        if self.decay == "linear":
            after = 1.0 - progress
        elif self.decay == "cosine":
            after = 0.5 * (1.0 + ops.cos(math.pi * progress))
        else:
            after = ops.ones_like(progress)
        return self.peak * ops.where(step < self.warmup_steps, warmup, after)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "decay": self.decay}


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
