"""Keras 3's ``fit`` under MultiWorkerMirroredStrategy, made to work.

Keras 3.15 breaks there (keras-team/keras#20585, tensorflow/tensorflow#72388):
``fit`` first builds the model symbolically from a batch it tries to reduce
across workers, and its step function reduces the scalar logs along axis 0.
``prepare`` gives the model step functions that run ``train_step`` /
``test_step`` on every replica and average the logs correctly, and makes
``fit`` skip the symbolic build (the model and optimizer are built already).
Call ``fit``/``evaluate`` inside ``strategy.scope()`` afterwards.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mixer_base import internals


def needs_prepare(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(
        strategy, tf.distribute.MultiWorkerMirroredStrategy
    ) and internals.in_multi_worker_mode(strategy)


def prepare(model: keras.Model, strategy: tf.distribute.Strategy) -> None:
    def mean_over_replicas(logs):
        return {name: strategy.reduce("MEAN", value, axis=None) for name, value in logs.items()}

    @tf.function
    def train_function(iterator):
        return mean_over_replicas(strategy.run(model.train_step, args=(next(iterator),)))

    @tf.function
    def test_function(iterator):
        return mean_over_replicas(strategy.run(model.test_step, args=(next(iterator),)))

    with strategy.scope():
        model.optimizer.build(model.trainable_variables)
    internals.skip_symbolic_build(model)  # fit and evaluate then skip their symbolic build
    model.train_function = train_function
    model.test_function = test_function
