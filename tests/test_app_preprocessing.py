"""The apps' image preprocessing - convert.golden's NumPy port, which the Java
core reproduces byte for byte (GoldenTest) - against the evaluation pipeline
the models are scored with (keras_mixer.datasets.centre_crop)."""

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from convert import golden
from keras_mixer import datasets


def photos():
    """Real photographs of several shapes: scikit-learn's two samples, cut
    to a portrait and shrunk to small sizes, and a digits scan (32x32)."""
    from sklearn.datasets import load_sample_images

    china, flower = load_sample_images().images  # 427x640 landscapes
    digit_folder = os.path.join(datasets.digits_folder(), "3")
    digit = np.asarray(
        Image.open(os.path.join(digit_folder, sorted(os.listdir(digit_folder))[0])).convert("RGB")
    )
    small = np.asarray(Image.fromarray(flower).resize((13, 9)))  # smaller than the models
    return {"china": china, "flower_portrait": flower[:, 100:420], "digit": digit, "small": small}


def argb_of(rgb):
    rgb = rgb.astype(np.uint32)
    return (0xFF << 24) | (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def evaluation_pixels(rgb, size, crop):
    """What the evaluation pipeline makes of an image, rounded to whole pixels."""
    found = datasets.centre_crop(tf.constant(rgb), size, crop, "bilinear").numpy()
    return np.clip(np.floor(found + 0.5), 0, 255)


@pytest.mark.parametrize(
    "size, crop",
    [((16, 16), 1.0), ((28, 28), 0.875), ((224, 224), 0.875), ((32, 48), 1.0), ((20, 20), 0.5)],
)
def test_the_app_preprocessing_is_the_evaluation_pipeline(size, crop):
    for name, rgb in photos().items():
        app = golden.resized_pixels(argb_of(rgb), *size, crop)
        expected = evaluation_pixels(rgb, size, crop)
        assert app.shape == expected.shape, name
        difference = np.abs(app - expected)
        assert difference.max() <= 1, (name, difference.max())  # float rounding at .5 only
        assert difference.mean() < 0.01, name
