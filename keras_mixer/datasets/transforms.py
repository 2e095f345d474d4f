"""Image transforms of the pipelines (0-255 float32 pixels in and out):
decoding, the training crop, the evaluation resize and centre crop."""

from __future__ import annotations

import tensorflow as tf

from keras_mixer.datasets.settings import size_pair


def decode(encoded):
    """An encoded image file's bytes as an RGB uint8 image."""
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image.set_shape((None, None, 3))
    return image


def to_rgb(image):
    """Decoded TFDS images: grayscale (mnist) and RGBA to RGB."""
    channels = image.shape[-1]
    if channels == 1:
        return tf.image.grayscale_to_rgb(image)
    return image[..., :3] if channels == 4 else image


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
