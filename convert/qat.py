"""Quantisation-aware training by distillation: the fake-quantised graph
learns to reproduce the float graph's outputs, weights and ranges together."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tf_keras

from convert.quantize import range_quantizers


def trainable_variables(quantised: tf_keras.Model) -> list[tf.Variable]:
    """The weights and trainable ranges of a quantised graph, without the
    weights of layers built frozen (the XNNPACK LayerNorm's 1/sqrt
    interpolation): TFMOT's wrapper lists a quantised kernel as trainable
    whatever its layer says."""
    found, seen = [], set()
    for layer in quantised.layers:
        inner = getattr(layer, "layer", layer)
        if not inner.trainable:
            continue
        for variable in layer.trainable_weights:
            if id(variable) not in seen:
                seen.add(id(variable))
                found.append(variable)
    return found


def distillation_loss(teacher_logits: tf.Tensor, student_logits: tf.Tensor) -> tf.Tensor:
    """Mean squared difference of the student's logits from the teacher's:
    the quantised graph learns to give the float graph's logits, every class
    of them (a KL divergence of the softmaxes, tried too, heeds only the top
    classes and moved more decisions on MNIST and the digits)."""
    return tf.reduce_mean(tf.square(student_logits - teacher_logits))


def distil(
    quantised: tf_keras.Model,
    teacher: tf_keras.Model,
    batches: tf.data.Dataset,
    steps: int,
    learning_rate: float = 1e-4,
    log: Callable[[str], None] = print,
) -> dict:
    """Trains ``quantised`` for ``steps`` batches of raw-pixel images (from
    ``batches``, (images, labels) pairs: the labels are not used) to match
    the logits of ``teacher``, its float graph (the training split repeats
    as needed). Returns what it did: steps, learning rate, the mean loss
    over the first and the last ten steps."""
    student = _logits_model(quantised, "head")
    target = _logits_model(teacher, "head")
    optimizer = RelativeAdam(
        trainable_variables(quantised), variable_scales(quantised), learning_rate
    )

    @tf.function
    def step(images):
        wanted = target(images, training=False)
        with tf.GradientTape() as tape:
            loss = distillation_loss(wanted, student(images, training=True))
        optimizer.apply(tape.gradient(loss, optimizer.variables))
        return loss

    losses, started = [], time.perf_counter()
    for done, (images, _) in enumerate(batches.repeat().take(steps), start=1):
        losses.append(float(step(images)))
        if done % max(1, steps // 10) == 0 or done == steps:
            recent = np.mean(losses[-10:])
            log(
                f"QAT step {done}/{steps}: distillation loss {recent:.5f} "
                f"({(time.perf_counter() - started) / done:.2f} s/step)"
            )
    if not losses:
        raise ValueError(
            "QAT found no training batches (fewer training images than --qat-batch-size?)."
        )
    return {
        "steps": steps,
        "learning_rate": learning_rate,
        "first_loss": sum(losses[:10]) / len(losses[:10]),
        "last_loss": sum(losses[-10:]) / len(losses[-10:]),
    }


class RelativeAdam:
    """Adam whose step for each variable is ``learning_rate`` times that
    variable's own scale, so a learning rate means the same relative change
    everywhere. The deployment graph's weights differ in scale by orders of
    magnitude (the stem holds the folded 1/127.5 of ``preprocess_input``; a
    variance range may span thousands, a mean's a hundredth): plain Adam's
    step, the same absolute size for all, wrecked the small ones."""

    def __init__(
        self,
        variables: list[tf.Variable],
        scales: dict[int, float],
        learning_rate: float,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
    ):
        self.variables = variables
        self.scales = [tf.constant(scales[id(v)], v.dtype) for v in variables]
        self.moments = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.squares = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.step = tf.Variable(0.0, trainable=False)
        self.learning_rate, self.beta_1, self.beta_2 = learning_rate, beta_1, beta_2
        self.epsilon = epsilon

    def apply(self, gradients: list[tf.Tensor | None]) -> None:
        self.step.assign_add(1.0)
        correction = tf.sqrt(1 - self.beta_2**self.step) / (1 - self.beta_1**self.step)
        for variable, gradient, scale, m, v in zip(
            self.variables, gradients, self.scales, self.moments, self.squares
        ):
            if gradient is None:
                continue
            m.assign(self.beta_1 * m + (1 - self.beta_1) * gradient)
            v.assign(self.beta_2 * v + (1 - self.beta_2) * tf.square(gradient))
            variable.assign_sub(
                self.learning_rate * scale * correction * m / (tf.sqrt(v) + self.epsilon)
            )


def variable_scales(quantised: tf_keras.Model) -> dict[int, float]:
    """{id(variable): scale} for ``RelativeAdam``: a range's min and max move
    with the range's width, other variables with their RMS (zero ones, such
    as a fresh model's biases, with the median of the others)."""
    scales = {}
    for quantizer in range_quantizers(quantised).values():
        if quantizer.fixed_range is None:
            low, high = quantizer.range
            scales[id(quantizer.min)] = scales[id(quantizer.max)] = high - low
    for variable in quantised.trainable_weights:
        if id(variable) not in scales:
            scales[id(variable)] = float(np.sqrt(np.mean(np.square(variable.numpy()))))
    fallback = float(np.median([s for s in scales.values() if s > 0] or [1.0]))
    return {key: scale if scale > 0 else fallback for key, scale in scales.items()}


def held_back_score(
    quantised: tf_keras.Model, images: np.ndarray, reference_logits: np.ndarray
) -> dict:
    """How closely a quantised graph follows the float model on images it was
    not trained on: top-1 agreement and the relative L2 distance of its logits."""
    from convert import verify

    logits = verify.scores_of(quantised, images)
    return {
        "top1_agreement": verify.agreement(logits, reference_logits),
        "relative_l2": verify.relative_l2(logits, reference_logits),
    }


def better(trained: dict, calibrated: dict) -> tuple[bool, str]:
    """(whether the trained graph is to be written, why): it must agree with
    the float model on at least as many held-back images as the calibrated
    graph, and on as many, be closer in logits."""
    if trained["top1_agreement"] != calibrated["top1_agreement"]:
        wins = trained["top1_agreement"] > calibrated["top1_agreement"]
        return wins, f"{'higher' if wins else 'lower'} top-1 agreement after training"
    if trained["relative_l2"] is None or calibrated["relative_l2"] is None:
        return True, "same top-1 agreement; no logit distance to compare (zero logits)"
    wins = trained["relative_l2"] <= calibrated["relative_l2"]
    return wins, (
        f"same top-1 agreement, {'smaller' if wins else 'larger'} logit error after training"
    )


def _logits_model(graph, head):
    return tf_keras.Model(graph.inputs, graph.get_layer(head).output)
