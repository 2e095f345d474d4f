"""``train(config, output_dir)``: one run, from config to a saved, evaluated model.

The output directory holds everything a run produces:

    config.json            the exact config used
    model.keras            the final model (written last, atomically)
    metrics.json           final evaluation on the validation split
    history.json/.csv      per-epoch metrics; training_curves.png
    checkpoints/           epoch_NNNN.weights.h5 (model + optimizer), for resuming
    logs/                  TensorBoard

Running the same command again resumes from the newest checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import sys
import tempfile
import time

import keras
import tensorflow as tf

import keras_mixer
from keras_mixer import datasets, preprocessing
from keras_mixer.datasets.sources import some_of
from keras_mixer.download import DownloadError
from keras_mixer.files import atomic_path, ensure_room, write_json
from keras_mixer.preprocessing import ImagePreprocessing
from training import data as data_lib
from training import multi_worker, run_folder
from training.callbacks import (
    EpochCheckpoints,
    ReseedEachEpoch,
    RunLog,
    StopOnNonFinite,
    state_bytes,
)
from training.config import ConfigError
from training.recipe import make_loss, make_optimizer
from training.strategy import accelerator, is_chief, make_strategy

MODEL_SIZE_KEYS = keras_mixer.presets.SIZE_FIELDS
PRECISION = {"tpu": "mixed_bfloat16", "gpu": "mixed_float16", "cpu": "float32"}


def train(
    config: dict, output_dir: str, verbose: str | int = "auto", overwrite: bool = False
) -> tuple[keras.Model, list[dict]]:
    """Trains (or resumes) a run; returns (model, history as a list of per-epoch dicts).

    ``output_dir`` belongs to this run (``training.run_folder``): a run in
    progress there, or a finished epoch of another config, is refused
    unless ``overwrite`` (start over)."""
    _import_late_libraries()
    train_config = config["train"]
    keras.utils.set_random_seed(train_config["seed"])
    strategy = make_strategy(config["distribute"]["strategy"], config["distribute"]["cpu_devices"])
    replicas = strategy.num_replicas_in_sync
    batch_size = train_config["batch_size"]
    if batch_size % replicas:
        raise ConfigError(
            f"train.batch_size {batch_size} is not divisible by the {replicas} "
            f"replicas of {type(strategy).__name__}."
        )
    precision = train_config["precision"]
    keras.mixed_precision.set_global_policy(
        PRECISION[accelerator(strategy)] if precision == "auto" else precision
    )

    _check_output_apart_from_data(output_dir, config["data"]["dataset"])
    chief = is_chief(strategy)
    held = (
        run_folder.claimed(output_dir, config, overwrite)
        if chief
        else contextlib.nullcontext(run_folder.Unclaimed())
    )
    with held as claim:
        return _run(config, output_dir, strategy, claim, verbose)


@dataclasses.dataclass
class RunData:
    """A run's splits and their pipelines."""

    train_split: datasets.Split
    val_split: datasets.Split
    steps_per_epoch: int
    val_ds: tf.data.Dataset
    config: dict

    def train_ds(self, first_epoch: int = 0) -> tf.data.Dataset:
        """The training batches from epoch ``first_epoch`` on: the same batches an
        uninterrupted run sees there (``keras_mixer.datasets.training_examples``)."""
        return data_lib.training_batches(
            self.train_split,
            self.config["data"],
            self.config["train"],
            first_batch=first_epoch * self.steps_per_epoch,
        )


def read_data(config: dict, chief: bool = True) -> RunData:
    """The config's training and validation data, batched for ``train.batch_size``
    (``chief``: the worker that says what is worth saying once)."""
    train_config, data_config = config["train"], config["data"]
    batch_size, dataset = train_config["batch_size"], data_config["dataset"]
    train_split = datasets.read_split(dataset, "train", data_config)
    val_split = datasets.read_split(dataset, "val", data_config)
    _check_class_coverage(train_split, val_split, dataset, data_config, chief)
    if train_split.size < batch_size:  # whole batches only: not one training step
        raise ConfigError(
            f"train.batch_size {batch_size} is larger than the {train_split.size} "
            f"training examples of {dataset}."
        )
    steps_per_epoch = train_config["steps_per_epoch"] or train_split.size // batch_size
    val_ds = datasets.evaluation_batches(val_split, data_config, batch_size)
    return RunData(train_split, val_split, steps_per_epoch, val_ds, config)


def _check_class_coverage(train_split, val_split, dataset, data_config, chief):
    """Refuses a split where classes have no training image (their validation
    images can never be right: the score would be capped without a word);
    says so in one line where classes have no validation image."""
    untrained, unscored = datasets.missing_classes(train_split, val_split)
    total = train_split.num_classes
    if untrained:
        raise ConfigError(
            f"{len(untrained)} of the {total} classes of {dataset} have no training image "
            f"(val_fraction {data_config['val_fraction']} put all of theirs in validation: "
            f"{some_of(untrained)}); the validation score would count them wrong by "
            "construction. Add images to those classes or lower data.val_fraction."
        )
    if unscored and chief:
        print(
            f"warning: {len(unscored)} of the {total} classes of {dataset} have no validation "
            f"image ({some_of(unscored)}): val_accuracy does not score them.",
            file=sys.stderr,
            flush=True,
        )


# Libraries of the [train] extra that a run first needs after its first
# epoch (the learning-curve PNG): imported up front, so a missing one is
# named before any work rather than after an epoch.
LATE_LIBRARIES = ("matplotlib",)


def _import_late_libraries():
    for name in LATE_LIBRARIES:
        importlib.import_module(name)


def _check_output_apart_from_data(output_dir, dataset):
    """Refuses a run folder in the image folder it trains on: its files would
    become a class (``checkpoints/``) or unknown files of one the next time."""
    if datasets.parse(dataset)[0] != "folder":
        return
    data, output = os.path.realpath(dataset), os.path.realpath(output_dir)
    if os.path.commonpath([data, output]) == data:
        raise ConfigError(
            f"Output {output_dir!r} is inside the image folder {dataset!r} it "
            "trains on; choose an --output outside it."
        )


def _run(config, output_dir, strategy, claim, verbose):
    train_config, chief = config["train"], is_chief(strategy)
    data = read_data(config, chief)
    with strategy.scope():
        model = build_model(
            config["model"], data.train_split.num_classes, config["data"]["image_size"]
        )
        # The model file says how its images are prepared: as this run evaluates them.
        preprocessing.set_on_model(model, run_preprocessing(config["data"], output_dir))
        model.compile(
            optimizer=make_optimizer(
                config["optimizer"], data.steps_per_epoch * train_config["epochs"]
            ),
            loss=make_loss(train_config["label_smoothing"]),
            metrics=[
                keras.metrics.CategoricalAccuracy(name="accuracy"),
                keras.metrics.TopKCategoricalAccuracy(5, name="top5_accuracy"),
            ],
            jit_compile=train_config["jit_compile"],
        )
        claim.begin()  # the config proved buildable: now the folder is the run's
        checkpoints = EpochCheckpoints(
            os.path.join(output_dir, "checkpoints"),
            train_config["checkpoint_every"],
            scratch=not chief,
        )
        initial_epoch = checkpoints.restore(model)
    run_log = RunLog(output_dir, write=chief)
    run_log.resume(initial_epoch)
    if initial_epoch:
        print(f"Resuming after epoch {initial_epoch} from {checkpoints.latest()[1]}", flush=True)

    callbacks = run_callbacks(
        run_log, checkpoints, output_dir if chief else None, train_config["seed"]
    )
    scope = contextlib.nullcontext()
    if multi_worker.needs_prepare(strategy):
        multi_worker.prepare(model, strategy)
        scope = strategy.scope()
    started = time.perf_counter()
    with scope:
        model.fit(
            data.train_ds(initial_epoch),
            epochs=train_config["epochs"],
            initial_epoch=initial_epoch,
            steps_per_epoch=data.steps_per_epoch,
            validation_data=data.val_ds,
            callbacks=callbacks,
            shuffle=False,
            verbose=verbose,
        )
        train_seconds = time.perf_counter() - started
        results = model.evaluate(data.val_ds, return_dict=True, verbose=0)
    metrics = {f"val_{k}": float(v) for k, v in results.items()}
    metrics.update(
        epochs=train_config["epochs"],
        train_examples=data.train_split.size,
        val_examples=data.val_split.size,
        replicas=strategy.num_replicas_in_sync,
        strategy=type(strategy).__name__,
        class_names=data.train_split.class_names,
        train_seconds_this_session=train_seconds,
    )
    _save(model, metrics, output_dir, chief)
    print(
        f"val_accuracy {metrics['val_accuracy']:.4f} (top-5 {metrics['val_top5_accuracy']:.4f})"
        f" on {data.val_split.size} {config['data']['dataset']} images; model in {output_dir}",
        flush=True,
    )
    return model, run_log.history


def run_callbacks(
    run_log: RunLog, checkpoints: EpochCheckpoints, logs_dir: str | None, seed: int = 0
) -> list[keras.callbacks.Callback]:
    """A run's callbacks, in order: the divergence guard first (a diverged
    epoch is neither logged nor checkpointed), then the history (a checkpoint
    never outruns it), the checkpoints, and TensorBoard into ``logs_dir``/logs
    (None: not this worker's to write); the model's random seeds set afresh
    each epoch from ``seed`` (``ReseedEachEpoch``: a resumed run is the
    uninterrupted one)."""
    callbacks = [StopOnNonFinite(checkpoints), run_log, checkpoints, ReseedEachEpoch(seed)]
    if logs_dir is not None:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(logs_dir, "logs")))
    return callbacks


def _save(model, metrics, output_dir, chief):
    """metrics.json and model.keras (atomically, after checking there is room)."""
    if chief:
        write_json(metrics, os.path.join(output_dir, "metrics.json"))
        model_path = os.path.join(output_dir, "model.keras")
        ensure_room(model_path, state_bytes(model))
        with atomic_path(model_path) as tmp:
            model.save(tmp)
    else:  # saving reads distributed variables collectively: every worker takes part
        with tempfile.TemporaryDirectory() as scratch:
            model.save(os.path.join(scratch, "model.keras"))


def run_preprocessing(data_config: dict, output_dir: str) -> ImagePreprocessing:
    """The evaluation preprocessing of a run's data settings, as its model carries it."""
    return ImagePreprocessing(
        data_config["eval_crop"],
        data_config["resize_method"],
        source=f"the data settings of the training run in {os.path.abspath(output_dir)}",
    )


def build_model(model_config: dict, num_classes: int, image_size: int) -> keras.Model:
    """The Mixer a config describes, for ``num_classes`` and ``image_size``."""
    kwargs = dict(
        input_shape=(image_size, image_size, 3),
        classes=num_classes,
        weights=model_config["weights"],
        dropout_rate=model_config["dropout_rate"],
        drop_path_rate=model_config["drop_path_rate"],
        gelu_approximate=model_config["gelu_approximate"],
    )
    variant = model_config["variant"]
    if variant:
        if variant not in keras_mixer.VARIANTS:
            raise ConfigError(
                f"model.variant {variant!r} is not one of "
                f"{', '.join(keras_mixer.VARIANTS)} (or None for custom sizes)."
            )
        constructor = keras_mixer.models.CONSTRUCTORS[variant]
    else:
        missing = [k for k in MODEL_SIZE_KEYS if model_config[k] is None]
        if missing:
            raise ConfigError(
                f"model.variant is None, so model.{', model.'.join(missing)} must be set."
            )
        kwargs.update({key: model_config[key] for key in MODEL_SIZE_KEYS})
        constructor = keras_mixer.MlpMixer
    try:
        return constructor(**kwargs)
    except DownloadError as error:  # the network or the cache, not the config
        raise ConfigError(str(error)) from None
    except ValueError as error:  # geometry, weights: the message names the value
        raise ConfigError(
            f"The config's model (model.*, data.image_size) cannot be built: {error}"
        ) from None
