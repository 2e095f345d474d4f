"""Training's own data: the augmentation a train config asks for, on the
shared pipelines of ``keras_mixer.datasets``."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_mixer import datasets
from keras_mixer.datasets import Split


def training_batches(
    split: Split, data_config: dict, train_config: dict, first_batch: int = 0
) -> tf.data.Dataset:
    """``keras_mixer.datasets.training_batches`` in ``train_config``'s batch
    size and seed, with its augmentation (RandAugment, MixUp, CutMix)."""
    seed = train_config["seed"]
    return datasets.training_batches(
        split,
        data_config,
        train_config["batch_size"],
        seed=seed,
        augmentation=augmentation_of(train_config, seed),
        first_batch=first_batch,
    )


def augmentation_of(train_config: dict, seed: int) -> datasets.Augmentation:
    """The RandAugment, MixUp and CutMix settings of a train config."""
    return datasets.Augmentation(
        _image_augmenter(train_config, seed), _batch_mixer(train_config, seed)
    )


def _image_augmenter(train_config, seed):
    if not train_config["randaugment_ops"]:
        return lambda image: image
    rand_augment = keras.layers.RandAugment(
        value_range=(0, 255),
        num_ops=train_config["randaugment_ops"],
        factor=train_config["randaugment_factor"],
        seed=seed,
    )
    return lambda image: tf.clip_by_value(rand_augment(image, training=True), 0, 255)


def _batch_mixer(train_config, seed):
    """MixUp and/or CutMix on a batch (one of them, at random, when both are on)."""
    layers = []
    if train_config["mixup_alpha"]:
        layers.append(keras.layers.MixUp(alpha=train_config["mixup_alpha"], seed=seed))
    if train_config["cutmix_alpha"]:
        layers.append(keras.layers.CutMix(factor=train_config["cutmix_alpha"], seed=seed))

    def apply(layer, images, labels):
        out = layer({"images": images, "labels": labels}, training=True)
        return out["images"], out["labels"]

    def mix(images, labels):
        if not layers:
            return images, labels
        if len(layers) == 1:
            return apply(layers[0], images, labels)
        return tf.cond(
            tf.random.uniform(()) < 0.5,
            lambda: apply(layers[0], images, labels),
            lambda: apply(layers[1], images, labels),
        )

    return mix
