"""The data settings of a run, a conversion or an evaluation, resolved once.

``DATA_DEFAULTS`` are the settings (the ``data`` section of a training
config). ``data_settings`` resolves the ones a conversion or evaluation uses
into a ``DataSettings``, each evaluation setting from the first of: the
command line (stated), the preprocessing the model carries
(``keras_mixer.preprocessing``), its run's ``config.json`` beside the model
file, the defaults; and it records where each came from.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import sys

from keras_mixer.preprocessing import ImagePreprocessing, of_model

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
EMBEDDED_NAMES = ("digits", "mnist")  # keras_mixer.datasets.sources.EMBEDDED
# How the embedded sets are evaluated when nothing else says: each image is
# one whole digit, so nothing is cropped away.
EMBEDDED_EVALUATION = {"eval_crop": 1.0}
# The evaluation settings a command may state (``--image-size``, ``--eval-crop``,
# ``--resize-method``) and a model carries.
EVALUATION_KEYS = ("image_size", "eval_crop", "resize_method")
# Where an evaluation setting came from (``DataSettings.origins``), besides a run config's path.
MODEL, FLAG, DEFAULTS = "model", "flag", "the defaults"


class DataError(ValueError):
    """A dataset that cannot be read, with the reason."""


def is_tfds(dataset: str) -> bool:
    return dataset.startswith("tfds:")


@dataclasses.dataclass(frozen=True)
class DataSettings:
    """The data settings a conversion or evaluation uses, and where they came from.

    ``config``: the data section the pipelines read (``DATA_DEFAULTS``'
    keys); ``source``: the run config's path, or which defaults, for the
    settings other than the evaluation ones; ``origins``: for each of
    ``EVALUATION_KEYS``, "model", "flag", a run config's path or which
    defaults; ``assumed``: the evaluation settings taken from ImageNet's
    defaults for data they were not made for (the user should check them)."""

    config: dict
    source: str
    origins: dict = dataclasses.field(default_factory=dict)
    assumed: tuple = ()

    @property
    def stated(self) -> tuple:
        """The evaluation settings the command line set."""
        return tuple(key for key in EVALUATION_KEYS if self.origins.get(key) == FLAG)

    def line(self) -> str:
        """The settings in one line, for the log."""
        data = self.config
        height, width = size_pair(data["image_size"])
        fraction = "" if is_tfds(data["dataset"]) else f", held-out fraction {data['val_fraction']}"
        crop = data["eval_crop"]
        by_origin = {}
        for key in EVALUATION_KEYS:
            by_origin.setdefault(self.origins.get(key, self.source), []).append(key)
        said = "; ".join(
            f"{', '.join(keys)} from {_origin_text(origin)}" for origin, keys in by_origin.items()
        )
        text = (
            f"data: {data['dataset']}{fraction}; images resized ({data['resize_method']}) "
            f"to cover {round(height / crop)}x{round(width / crop)}, centre crop "
            f"{height}x{width} (eval_crop {crop}); {said}"
        )
        if self.source not in by_origin:
            text += f"; other settings from {_origin_text(self.source)}"
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
        if not is_tfds(self.config["dataset"]):
            found["val_fraction"] = self.config["val_fraction"]
        return {
            **found,
            "source": self.source,
            "origins": dict(self.origins),
            "assumed": list(self.assumed),
            "stated": list(self.stated),
        }


def _origin_text(origin):
    return {MODEL: "the model", FLAG: "the command line"}.get(origin, origin)


def data_settings(
    model_path: str | None,
    dataset: str,
    input_size,
    stated: dict | None = None,
    carried: ImagePreprocessing | None = None,
) -> DataSettings:
    """The data settings to evaluate (and calibrate) a model on ``dataset``.

    ``model_path``: the model's ``.keras`` file (its run's ``config.json``
    beside it is read when there is one), or None; ``input_size``: the
    model's (height, width), which a stated ``image_size`` must match;
    ``stated``: {key: value} of ``EVALUATION_KEYS`` from the command line
    (None values ignored); ``carried``: the preprocessing the model carries
    (``keras_mixer.preprocessing.of_model``). Each evaluation setting comes
    from the first of stated, carried, the run config, the defaults
    (``EMBEDDED_EVALUATION`` for the embedded sets)."""
    stated = {key: value for key, value in (stated or {}).items() if value is not None}
    unknown = set(stated) - set(EVALUATION_KEYS)
    if unknown:
        raise ValueError(
            f"Unknown evaluation settings {sorted(unknown)}; known: {', '.join(EVALUATION_KEYS)}."
        )
    input_size = tuple(int(side) for side in input_size)
    if "image_size" in stated and size_pair(stated["image_size"]) != input_size:
        raise DataError(
            f"image size {_shown(stated['image_size'])} does not fit the model: "
            f"it takes {input_size[0]}x{input_size[1]} images (fixed when it "
            "was built)."
        )
    if carried is not None and not carried.scales_like_preprocess_input:
        raise DataError(
            f"The model's preprocessing ({carried.source or 'carried in the file'}) scales "
            f"pixels with mean {list(carried.mean)} and std {list(carried.std)}; keras-mixer's "
            "pipelines and files scale to [-1, 1] (mean = std = 0.5) only."
        )
    data, source = copy.deepcopy(DATA_DEFAULTS), DEFAULTS
    origins = dict.fromkeys(EVALUATION_KEYS, DEFAULTS)
    found = _run_data(model_path) if model_path else None
    if found is not None:
        source = os.path.join(os.path.dirname(os.path.abspath(model_path)), "config.json")
        data.update(found)
        origins.update((key, source) for key in EVALUATION_KEYS if key in found)
    elif dataset in EMBEDDED_NAMES:
        source = f"the defaults for the embedded {dataset} set (whole images, no crop)"
        data.update(EMBEDDED_EVALUATION)
        origins.update(eval_crop=source, resize_method=source)
    if carried is not None:
        data.update(eval_crop=carried.eval_crop, resize_method=carried.resize_method)
        origins.update(eval_crop=MODEL, resize_method=MODEL)
    data.update(stated)
    origins.update((key, FLAG) for key in stated)
    if "image_size" not in stated:
        origins["image_size"] = MODEL  # always the model's input
    data["image_size"] = input_size[0] if input_size[0] == input_size[1] else input_size
    data["crop_scale"] = tuple(data["crop_scale"])
    data["dataset"] = dataset
    check_evaluation(data)
    assumed = ()
    if dataset not in EMBEDDED_NAMES:
        assumed = tuple(key for key in ("eval_crop", "resize_method") if origins[key] == DEFAULTS)
    return DataSettings(data, source, origins, assumed)


def settings_for_model(
    model, model_path: str | None, dataset: str, stated: dict | None = None
) -> DataSettings:
    """``data_settings`` for a loaded keras_mixer ``model`` (its input size and
    the preprocessing it carries), read from ``model_path`` when given."""
    return data_settings(
        model_path, dataset, model.input_shape[1:3], stated, carried=of_model(model)
    )


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


def check_evaluation(data: dict) -> None:
    """Refuses evaluation settings that cannot be right, naming the key."""
    try:
        ImagePreprocessing(data["eval_crop"], data["resize_method"])
    except ValueError as error:
        raise DataError(str(error)) from None


def size_pair(size):
    """(height, width) of an image size given as one side or a pair."""
    if isinstance(size, (tuple, list)):
        return int(size[0]), int(size[1])
    return int(size), int(size)
