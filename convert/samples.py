"""Stage samples: the images a conversion evaluates, calibrates and trains
on (raw 0-255 pixels, as an app hands them over), and the Keras model's
outputs on them."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import keras
import numpy as np
import tensorflow as tf

from convert import verify
from convert.clock import Clock
from convert.options import ConvertOptions

if TYPE_CHECKING:
    from keras_mixer.datasets import Split


@dataclasses.dataclass
class Samples:
    """The images one conversion uses (raw 0-255 pixels), and the Keras
    model's scores on the evaluation ones."""

    class_names: list
    eval_pixels: np.ndarray
    eval_labels: np.ndarray
    keras_scores: np.ndarray | None = None  # the model's outputs (probabilities for softmax)
    keras_logits: np.ndarray | None = None  # its head's logits
    calibration: np.ndarray | None = None
    train_batches: object = None  # a tf.data.Dataset of (images, one-hot labels), for QAT
    train_steps: int = 0  # batches in one pass over the training split
    held_back: np.ndarray | None = None  # training images QAT does not train on (uint8)
    held_back_logits: np.ndarray | None = None  # the Keras model's logits on them

    def take_calibration(self) -> np.ndarray:
        """The calibration images, handed over: these samples no longer hold
        them, so once the caller drops them the converter's memory peak is
        its own."""
        images, self.calibration = self.calibration, None
        return images


def load_samples(model: keras.Model, options: ConvertOptions, clock: Clock) -> Samples:
    """The evaluation split with the Keras model's scores on it (and, for
    int8, calibration images, and for QAT its training batches and the
    images held back from them) of ``options.dataset`` at the model's input
    size, read as ``options.data`` says (resolved: ``convert.pipeline.resolve_data``)."""
    from keras_mixer import datasets

    if options.data is None:
        raise ValueError("load_samples needs resolved data settings (options.data).")
    data_config = options.data.config
    val = datasets.read_split(options.dataset, "val", data_config)
    classes = model.output_shape[-1]
    if val.num_classes != classes:
        raise ValueError(
            f"Dataset {options.dataset} has {val.num_classes} classes; the model's "
            f"head has {classes}."
        )

    def drawn(split, limit, seed=0):
        """Up to ``limit`` images drawn across the split (files come sorted by class)."""
        if limit:
            buffer = min(split.size, data_config["shuffle_buffer"])
            split = dataclasses.replace(split, examples=split.examples.shuffle(buffer, seed=seed))
        once = dict(data_config, cache=False)  # read once: nothing to cache
        return collect(datasets.evaluation_batches(split, once, 64, scale=False), limit)

    pixels, labels = drawn(val, options.eval_images)
    samples = Samples(val.class_names, pixels, labels)
    samples.keras_scores, samples.keras_logits = keras_outputs(model, pixels)
    clock(f"evaluation split: {len(labels)} {options.dataset} images")
    if options.recipe.integer:
        train = datasets.read_split(options.dataset, "train", data_config, shuffle_files=False)
        samples.calibration, _ = drawn(train, options.calibration_images, options.seed)
        drawn_images = len(samples.calibration)
        short = (
            f" (asked for {options.calibration_images}: all the split has)"
            if drawn_images < options.calibration_images
            else ""
        )
        clock(f"calibration: {drawn_images} {options.dataset} training images{short}")
    if options.recipe.trains:
        held_back, train = held_back_split(train)
        samples.held_back = np.round(drawn(held_back, HELD_BACK_IMAGES)[0]).astype(np.uint8)
        samples.held_back_logits = keras_outputs(model, samples.held_back)[1]
        samples.train_steps = train.size // options.qat_batch_size
        if not samples.train_steps:
            raise ValueError(
                f"QAT needs at least one batch of {options.qat_batch_size} "
                f"training images; {options.dataset} has {train.size} besides "
                f"the {held_back.size} it holds back to check the training."
            )
        samples.train_batches = datasets.training_batches(
            train,
            data_config,
            options.qat_batch_size,
            seed=options.seed,
            as_evaluated=True,  # the images as the app sees them
            scale=False,
        )
    return samples


# QAT holds back every HELD_BACK_EVERY-th training image (at most
# HELD_BACK_IMAGES of them are scored) to choose between the graph it
# trained and the calibrated one it started from.
HELD_BACK_EVERY, HELD_BACK_IMAGES = 10, 512


def held_back_split(split: Split) -> tuple[Split, Split]:
    """(held back, rest) of a training split: every ``HELD_BACK_EVERY``-th
    example in its (fixed) order, the others."""
    indexed = split.examples.enumerate()

    def part(keep):
        return indexed.filter(lambda i, _: keep(i % HELD_BACK_EVERY == 0)).map(
            lambda _, example: example
        )

    held = -(-split.size // HELD_BACK_EVERY)
    return (
        dataclasses.replace(split, examples=part(lambda chosen: chosen), size=held),
        dataclasses.replace(split, examples=part(tf.logical_not), size=split.size - held),
    )


def keras_outputs(
    model: keras.Model, pixels: np.ndarray, batch_size: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """A keras_mixer classifier's outputs and its head's logits on raw pixels."""
    import keras_mixer

    head = model.get_layer("head")
    features = keras.Model(model.inputs, head.input)
    pooled = verify.scores_of(features, keras_mixer.preprocess_input(pixels), batch_size)
    kernel, bias = (np.asarray(w, np.float64) for w in head.get_weights())
    logits = (pooled.astype(np.float64) @ kernel + bias).astype(np.float32)
    scores = keras.ops.convert_to_numpy(head.activation(logits))
    return scores, logits


def collect(batches, limit):
    """(images, class indices) from one pass over ``batches``, at most ``limit``."""
    images, labels = [], []
    for x, y in batches:
        images.append(x.numpy())
        labels.append(y.numpy().argmax(-1))
        if limit and len(images) * len(images[0]) >= limit:
            break
    return np.concatenate(images)[:limit], np.concatenate(labels)[:limit]
