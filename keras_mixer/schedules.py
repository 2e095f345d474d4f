"""The learning-rate schedule of the paper's recipe (``training.recipe``).

It lives with the models because a model saved by ``python -m training``
carries its optimizer: ``import keras_mixer`` registers the schedule, so
such a file loads without the training package."""

import math

import keras
from keras import ops

DECAYS = ("linear", "cosine", "constant")


@keras.saving.register_keras_serializable(package="keras_mixer")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to ``peak`` over ``warmup_steps``, then linear or
    cosine decay to 0 at ``total_steps`` (or constant)."""

    def __init__(self, peak, total_steps, warmup_steps=0, decay="linear"):
        if decay not in DECAYS:
            raise ValueError(f"decay must be one of {', '.join(DECAYS)}; got {decay!r}.")
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.decay = decay

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = step / max(self.warmup_steps, 1)
        progress = ops.clip(
            (step - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1), 0.0, 1.0
        )
        if self.decay == "linear":
            after = 1.0 - progress
        elif self.decay == "cosine":
            after = 0.5 * (1.0 + ops.cos(math.pi * progress))
        else:
            after = ops.ones_like(progress)
        return self.peak * ops.where(step < self.warmup_steps, warmup, after)

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "decay": self.decay,
        }
