"""The datasets both stages read (keras_mixer.datasets): embedded digits and
MNIST, image folders, TFDS, and the evaluation pipeline."""

import os
import shutil
import socket

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_mixer import datasets
from keras_mixer.datasets import DataError, tfds_source


def data_config(**overrides):
    return {**datasets.DATA_DEFAULTS, "image_size": 16, "eval_crop": 1.0, **overrides}


def test_digits_are_real_images_on_disk():
    folder = datasets.digits_folder()
    classes, files = datasets.list_folder(folder)
    assert classes == [str(i) for i in range(10)]
    assert len(files) == 1797
    from sklearn.datasets import load_digits

    digits = load_digits()
    path, label = files[0]
    index = int(os.path.basename(path).split(".")[0])
    assert label == digits.target[index]
    image = tf.io.decode_png(tf.io.read_file(path)).numpy()
    assert image.shape == (32, 32, 3)
    blocks = image[..., 0].reshape(8, 4, 8, 4).mean(axis=(1, 3))  # back to 8x8
    assert np.corrcoef(blocks.ravel(), digits.images[index].ravel())[0, 1] > 0.95


def test_folder_splits_are_disjoint_and_held_out():
    train = datasets.read_split("digits", "train", data_config())
    val = datasets.read_split("digits", "val", data_config())
    assert len(set(train.files)) == train.size and len(set(val.files)) == val.size
    assert not set(train.files) & set(val.files)  # no file in both
    every = {
        os.path.join(root, name)
        for root, _, names in os.walk(datasets.digits_folder())
        for name in names
    }
    assert set(train.files) | set(val.files) == every and len(every) == 1797
    assert 0.15 < val.size / 1797 < 0.25
    held_out = {os.path.basename(os.path.dirname(path)) for path in val.files}
    assert held_out == {str(i) for i in range(10)}  # every class held out
    again = datasets.read_split("digits", "val", data_config())
    assert again.files == val.files  # the same files every time


def test_pipelines_scale_crop_and_one_hot():
    split = datasets.read_split("digits", "val", data_config())
    expected = [int(os.path.basename(os.path.dirname(path))) for path in split.files[:8]]
    images, labels = next(iter(datasets.evaluation_batches(split, data_config(), 8)))
    assert images.shape == (8, 16, 16, 3) and labels.shape == (8, 10)
    assert float(tf.reduce_min(images)) >= -1 and float(tf.reduce_max(images)) <= 1
    np.testing.assert_array_equal(labels.numpy(), np.eye(10)[expected])  # one-hot, in order


def test_training_without_augmentation_shuffles_evaluation_images():
    config = data_config(crop_scale=[0.08, 0.2], flip=True)
    split = datasets.read_split("digits", "val", config)
    plain = datasets.training_batches(split, config, 1, as_evaluated=True)
    plain = plain.take(split.size)  # an epoch
    evaluation = datasets.evaluation_batches(split, config, 1)
    found = np.concatenate([images.numpy() for images, _ in plain])
    expected = np.concatenate([images.numpy() for images, _ in evaluation])
    assert not np.array_equal(found, expected)  # shuffled
    np.testing.assert_array_equal(_sorted(found), _sorted(expected))  # the same, uncropped


def _sorted(images):
    return images[np.lexsort(images.reshape(len(images), -1).T)]


def test_centre_crop_takes_the_middle():
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, 25:35] = 255  # a bright vertical band in the middle
    crop = datasets.centre_crop(tf.constant(image), 20, crop_fraction=0.5)
    assert crop.shape == (20, 20, 3)
    # Shorter side 40 -> 40: no resize; the centred 20x20 holds the band in columns 5-14.
    assert float(crop[10, 10, 0]) == 255 and float(crop[10, 1, 0]) == 0


def write_image_folder(root, classes=("cat", "dog"), per_class=6, size=(20, 24)):
    rng = np.random.default_rng(0)
    for name in classes:
        os.makedirs(root / name, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            encoded = tf.io.encode_jpeg(pixels) if i % 2 else tf.io.encode_png(pixels)
            tf.io.write_file(str(root / name / f"{i}.{'jpg' if i % 2 else 'png'}"), encoded)
    return root


def test_image_folder_with_real_files(tmp_path):
    root = write_image_folder(tmp_path / "pets")
    config = data_config(val_fraction=0.3)
    train = datasets.read_split(str(root), "train", config)
    val = datasets.read_split(str(root), "val", config)
    assert train.class_names == ["cat", "dog"]
    assert train.size + val.size == 12
    images, labels = next(iter(datasets.training_batches(train, config, 4)))
    assert images.shape == (4, 16, 16, 3) and labels.shape == (4, 2)


def test_bad_folders_are_named(tmp_path):
    with pytest.raises(DataError, match=r"Dataset folder '.*nowhere' does not exist"):
        datasets.read_split(str(tmp_path / "nowhere"), "train", data_config())
    (tmp_path / "flat").mkdir()
    with pytest.raises(DataError, match="has no class sub-folders"):
        datasets.read_split(str(tmp_path / "flat"), "train", data_config())
    root = write_image_folder(tmp_path / "pets")
    (root / "empty_class").mkdir()
    with pytest.raises(DataError, match=r"Class folder '.*empty_class' holds no images"):
        datasets.read_split(str(root), "train", data_config())
    (root / "empty_class").rmdir()
    (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "cat" / "zz.png").write_bytes(b"")
    with pytest.raises(DataError) as error:
        datasets.read_split(str(root), "train", data_config(val_fraction=0.0))
    assert "broken.jpg" in str(error.value) and "zz.png" in str(error.value)
    (root / "dog" / "broken.jpg").unlink()
    (root / "cat" / "zz.png").unlink()
    (root / "cat" / "scan.tiff").write_bytes(b"II*\x00")
    (root / "cat" / ".DS_Store").write_bytes(b"")  # hidden files are not data
    with pytest.raises(
        DataError,
        match=r"holds files that are not images TensorFlow decodes "
        r"\(.*\.webp\): cat/scan\.tiff; convert or remove them",
    ):
        datasets.read_split(str(root), "train", data_config())
    shutil.rmtree(root / "cat")
    with pytest.raises(DataError, match=r"has one class \(dog\); a classifier needs at least two"):
        datasets.read_split(str(root), "train", data_config())


def test_webp_images_are_read(tmp_path):
    root = write_image_folder(tmp_path / "pets")
    for image in list(root.glob("*/*.*")):
        Image.open(image).save(image.with_suffix(".webp"), lossless=True)
        image.unlink()
    split = datasets.read_split(str(root), "train", data_config(val_fraction=0.0))
    assert split.size == len(list(root.glob("*/*.webp"))) > 0


def test_tfds_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=24):
        train = datasets.read_split("tfds:mnist", "train", data_config())
        val = datasets.read_split("tfds:mnist", "val", data_config())  # no validation: test
        explicit = datasets.read_split("tfds:mnist:test", "train", data_config())
        assert train.num_classes == 10 and val.size == explicit.size
        images, labels = next(iter(datasets.training_batches(train, data_config(), 8)))
    assert images.shape == (8, 16, 16, 3) and labels.shape == (8, 10)


def tiny_tfds_builder():
    """A real TFDS dataset, generated offline: 2 classes of flat-colour images."""
    import tensorflow_datasets as tfds

    class TinyColours(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                features=tfds.features.FeaturesDict(
                    {
                        "image": tfds.features.Image(shape=(20, 20, 3)),
                        "label": tfds.features.ClassLabel(names=["dark", "light"]),
                    }
                ),
                supervised_keys=("image", "label"),
            )

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(30), "test": self._generate_examples(10)}

        def _generate_examples(self, n):
            for i in range(n):
                yield (
                    i,
                    {"image": np.full((20, 20, 3), 40 + 170 * (i % 2), np.uint8), "label": i % 2},
                )

    return TinyColours


def test_real_tfds_builder_splits(tmp_path):
    tiny_tfds_builder()
    config = data_config(data_dir=str(tmp_path))
    train = datasets.read_split("tfds:tiny_colours", "train", config)
    val = datasets.read_split("tfds:tiny_colours", "val", config)  # no validation: test
    assert (train.size, val.size, train.class_names) == (30, 10, ["dark", "light"])
    sliced = datasets.read_split("tfds:tiny_colours:train[:10]", "train", config)
    assert sliced.size == 10
    images, labels = next(iter(datasets.evaluation_batches(val, config, 10)))
    dark = labels.numpy().argmax(-1) == 0
    assert np.all(images.numpy()[dark] < 0) and np.all(images.numpy()[~dark] > 0)
    with pytest.raises(DataError, match="'tiny_colours' has no split 'dev'; it has train, test"):
        datasets.read_split("tfds:tiny_colours:dev", "train", config)


def test_tfds_errors_name_dataset_and_download(tmp_path, monkeypatch, capfd):
    with pytest.raises(
        DataError,
        match=r"^TFDS has no dataset 'cifar100x'; did you mean "
        r"cifar100.*\? \(tfds.list_builders\(\) lists all "
        r"\d+\)\.$",
    ):
        datasets.read_split("tfds:cifar100x", "train", data_config())
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # a port nobody listens on: the machine is "offline"
    monkeypatch.setattr(tfds_source, "NETWORK_PROBE", closed.getsockname())
    closed.close()
    retries = []  # offline, the download is tried once, not with TFDS's retries
    real_retries = tfds_source._retries
    monkeypatch.setattr(
        tfds_source, "_retries", lambda count: retries.append(count) or real_retries(count)
    )
    with pytest.raises(
        DataError,
        match=r"TFDS dataset 'mnist' is not prepared in .* and "
        r"downloading it failed \(this machine is offline",
    ):
        datasets.read_split("tfds:mnist", "train", data_config(data_dir=str(tmp_path)))
    assert retries == [0]
    # The offline attempt's empty progress bars and TFDS's warnings would bury the error.
    printed = [
        line
        for line in capfd.readouterr().err.splitlines()
        if line.strip() and not line.startswith(("I0000", "W0000", "E0000"))
    ]
    assert printed == []
