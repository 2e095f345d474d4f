"""tf.data batches of (float32 images, one-hot labels) from a ``Split``: two
calls, ``training_batches`` (an endless, resumable stream of shuffled
epochs) and ``evaluation_batches`` (one pass, resized and centre-cropped)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable

import tensorflow as tf

from keras_mixer.datasets.settings import DataError
from keras_mixer.datasets.split import Split
from keras_mixer.datasets.transforms import centre_crop, decode, random_resized_crop, to_rgb
from keras_mixer.preprocessing import preprocess_input

AUTOTUNE = tf.data.AUTOTUNE


@dataclasses.dataclass
class Augmentation:
    """Training-only changes beyond the crop and flip: ``image`` on each
    0-255 float image, ``batch`` on each (images, one-hot labels) batch."""

    image: Callable[[tf.Tensor], tf.Tensor]
    batch: Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]


def evaluation_batches(
    split: Split, data_config: dict, batch_size: int, *, scale: bool = True
) -> tf.data.Dataset:
    """One pass over ``split``, each image resized and centre-cropped as
    ``data_config`` says. Images are scaled by ``keras_mixer.preprocess_input``
    unless ``scale`` is False (raw 0-255 pixels, for graphs with the scaling
    folded in)."""
    ds = split.examples.cache() if data_config["cache"] else split.examples
    ds = ds.map(_evaluation_transform(split, data_config), num_parallel_calls=AUTOTUNE)
    ds = ds.batch(batch_size, num_parallel_calls=AUTOTUNE)
    return _finished(ds, split, scale, None)


def training_batches(
    split: Split,
    data_config: dict,
    batch_size: int,
    *,
    seed: int = 0,
    augmentation: Augmentation | None = None,
    first_batch: int = 0,
    as_evaluated: bool = False,
    scale: bool = True,
) -> tf.data.Dataset:
    """An endless stream of epochs of ``split`` (``training_examples``), from
    batch ``first_batch`` on: each a new order of the split in whole batches,
    random-resized-cropped and flipped (``data_config``), then
    ``augmentation``-ed. ``as_evaluated``: each image prepared as for
    evaluation instead (no random crop, flip or augmentation: images as an
    app sees them). ``scale`` as for ``evaluation_batches``."""
    size = data_config["image_size"]
    to_image = decode if split.cached_bytes else to_rgb
    evaluation_transform = _evaluation_transform(split, data_config)
    augment_image = augmentation.image if augmentation else (lambda image: image)

    def prepare(image, label, draw):
        if as_evaluated:
            return evaluation_transform(image, label)
        crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(draw, 2))
        image = random_resized_crop(
            to_image(image),
            size,
            data_config["crop_scale"],
            data_config["resize_method"],
            crop_seed,
        )
        if data_config["flip"]:
            image = tf.image.stateless_random_flip_left_right(image, flip_seed)
        return augment_image(image), label

    ds = training_examples(split, data_config, batch_size, seed, first_batch, prepare)
    return _finished(ds, split, scale, None if as_evaluated else augmentation)


def _evaluation_transform(split, data_config):
    to_image = decode if split.cached_bytes else to_rgb

    def transform(image, label):
        crop = centre_crop(
            to_image(image),
            data_config["image_size"],
            data_config["eval_crop"],
            data_config["resize_method"],
        )
        return crop, label

    return transform


def _finished(ds, split, scale, augmentation):
    """Batches scaled (``scale``), labels one-hot, ``augmentation.batch`` applied."""

    def finish(images, labels):
        images = preprocess_input(images) if scale else images
        return images, tf.one_hot(labels, split.num_classes)

    ds = ds.map(finish, num_parallel_calls=AUTOTUNE)
    if augmentation:
        ds = ds.map(augmentation.batch, num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def training_examples(split, data_config, batch_size, seed, first_batch, prepare):
    """Batches of ``prepare(example..., draw)`` of ``split``: epoch after epoch
    (of ``split.size // batch_size`` whole batches), each a new shuffle of the
    split, from batch ``first_batch`` on.

    Every random choice is a function of (``seed``, epoch, position): each
    example's ``draw`` (a stateless seed for its crop and flip) and, for
    image folders, the epoch's order. So for image folders (the embedded sets
    too) the stream from any batch on is the same whatever came before: a run
    resumed at an epoch sees the batches an uninterrupted run would have.
    TFDS splits, which cannot be read out of order, are shuffled through a
    buffer whose order is new in each process."""
    per_epoch = split.size // batch_size
    if per_epoch < 1:
        raise DataError(
            f"A training batch of {batch_size} is more than the {split.size} examples of the split."
        )
    first_epoch, skipped = divmod(first_batch, per_epoch)

    def drawn(position, example):
        draw = tf.stack([tf.cast(seed, tf.int64), position])
        return prepare(*example, draw)

    if not split.files:
        base = split.examples.cache() if data_config["cache"] else split.examples
        buffer = min(split.size, data_config["shuffle_buffer"])
        stream = base.shuffle(buffer, seed=seed, reshuffle_each_iteration=True).repeat()
        stream = stream.enumerate(start=first_batch * batch_size)
        return stream.map(drawn, num_parallel_calls=AUTOTUNE).batch(batch_size)
    order = _shuffled_files(split, seed)

    def epoch(number):
        start = number * per_epoch * batch_size
        examples = order(number).take(per_epoch * batch_size).enumerate(start=start)
        skip = tf.where(
            number == first_epoch,
            tf.constant(skipped * batch_size, tf.int64),
            tf.constant(0, tf.int64),
        )
        examples = examples.skip(skip)
        return examples.map(drawn, num_parallel_calls=AUTOTUNE).batch(batch_size)

    return tf.data.Dataset.range(first_epoch, sys.maxsize).flat_map(epoch)


def _shuffled_files(split, seed):
    """``order(epoch)``: the (encoded image, label) examples of an image-folder
    split in that epoch's order, a stateless shuffle seeded by (seed, epoch)."""
    paths = tf.constant(split.files)
    labels = tf.constant(split.labels, tf.int64)

    def order(number):
        indices = tf.random.experimental.stateless_shuffle(
            tf.range(split.size, dtype=tf.int64), seed=tf.stack([tf.cast(seed, tf.int64), number])
        )
        return tf.data.Dataset.from_tensor_slices(indices).map(
            lambda i: (tf.io.read_file(paths[i]), labels[i]), num_parallel_calls=AUTOTUNE
        )

    return order
