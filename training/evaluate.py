"""``python -m training.evaluate MODEL.keras --data DATASET [--split S]``
(mixer-evaluate): top-1/top-5 accuracy of a saved model on a dataset split."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

FOLDER_SPLITS = ("train", "validation")  # the held-out files are the validation split
RESULT_KEYS = ("top1", "top5", "examples")  # what a --json file of ours holds (among others)


def evaluate(
    model_path: str,
    dataset: str,
    split: str = "validation",
    batch_size: int = 64,
    data_dir: str | None = None,
    preprocessing: dict | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Top-1/top-5 accuracy and loss of a saved model on a dataset split.

    ``split``: a TFDS split name, or for folders and digits "train" or
    "validation" (the same held-out files as in training). Evaluation
    preprocessing (centre crop, resize method) comes from the model file
    when it carries it, else the run's ``config.json`` beside the model when
    there is one (which also gives the held-out fraction), else the defaults
    (``keras_mixer.datasets.data_settings``); ``preprocessing``
    ({"image_size", "eval_crop", "resize_method"}) overrides it. The
    settings used are logged in one line and returned under "data".
    """
    import keras

    import keras_mixer
    from keras_mixer import datasets

    if datasets.parse(dataset)[0] != "tfds" and split not in FOLDER_SPLITS:
        raise datasets.DataError(
            f"Split {split!r} of {dataset}: folders, digits and mnist have "
            f"the splits {' and '.join(FOLDER_SPLITS)}."
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"The batch size must be a whole number of at least 1; got {batch_size!r}."
        )
    model = keras_mixer.load_model(model_path)
    _check_scorable(model, model_path)
    settings = datasets.settings_for_model(model, model_path, dataset, preprocessing)
    log(settings.line())
    data_config = dict(
        settings.config,
        data_dir=data_dir or settings.config["data_dir"],
        val_split=split,
        train_split=split,
    )
    role = "train" if split == "train" else "val"  # TFDS reads `split` either way
    val_split = datasets.read_split(dataset, role, data_config)
    ds = datasets.evaluation_batches(val_split, data_config, batch_size)
    if model.output_shape[-1] != val_split.num_classes:
        raise ValueError(
            f"Model {model_path} has {model.output_shape[-1]} classes, dataset "
            f"{dataset} has {val_split.num_classes}."
        )
    model.compile(
        loss="categorical_crossentropy",
        metrics=[
            keras.metrics.CategoricalAccuracy(name="top1"),
            keras.metrics.TopKCategoricalAccuracy(5, name="top5"),
        ],
    )
    batches = -(-val_split.size // batch_size)
    log(f"evaluating {val_split.size} images in {batches} batches")
    results = model.evaluate(ds, return_dict=True, verbose=0, callbacks=[_progress(batches, log)])
    return {
        "top1": float(results["top1"]),
        "top5": float(results["top5"]),
        # Plain cross-entropy: a run's val_loss (metrics.json) includes its label smoothing.
        "cross_entropy": float(results["loss"]),
        "examples": val_split.size,
        "dataset": dataset,
        "split": split,
        "data": settings.report(),
    }


def _progress(batches, log):
    """A progress line every tenth of the batches, through ``log`` (stderr
    for the command: its stdout is the JSON alone)."""
    import keras

    step = max(1, batches // 10)

    def batch_end(batch, logs=None):
        if (batch + 1) % step == 0 or batch + 1 == batches:
            log(f"  {batch + 1}/{batches} batches")

    return keras.callbacks.LambdaCallback(on_test_batch_end=batch_end)


def _check_scorable(model, model_path):
    """Refuses, naming the problem, a model whose scores could not mean anything:
    NaN or infinite weights, or an input that is not RGB images."""
    from keras_mixer.architecture import refuse_non_finite_weights

    refuse_non_finite_weights(model)
    shape = model.input_shape
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(
            f"Model {model_path} takes inputs of shape {tuple(shape[1:])}; the datasets give "
            "RGB images (height, width, 3)."
        )


def parser() -> argparse.ArgumentParser:
    """The ``mixer-evaluate`` command line."""
    from mixer_base.commands import CommandParser
    from mixer_base.flags import add_debug_flag, add_flag, add_preprocessing_flags

    parser = CommandParser(
        prog="python -m training.evaluate",
        description="Top-1/top-5 accuracy of a saved model on a dataset split.",
    )
    parser.add_argument("model", help="a .keras file")
    add_flag(parser, "--data", required=True)
    parser.add_argument(
        "--split",
        default="validation",
        help="train or validation (folders, digits, mnist), or a TFDS split",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--data-dir", default=None, help="TFDS data_dir")
    add_flag(parser, "--json", default=None)
    add_preprocessing_flags(parser)
    add_debug_flag(parser)
    return parser


def main(argv: list[str] | None = None) -> None:
    from mixer_base.commands import run_command
    from mixer_base.flags import preprocessing

    args = parser().parse_args(argv)
    from keras_mixer.datasets import DataError
    from keras_mixer.files import check_output, json_with, write_json

    def evaluated():
        if args.json:  # before the work: never over the model or a file of another kind
            check_output(args.json, ".json", json_with(*RESULT_KEYS), "evaluation results")
        results = evaluate(
            args.model,
            args.data,
            args.split,
            args.batch_size,
            args.data_dir,
            preprocessing(args),
            log=lambda line: print(line, file=sys.stderr),
        )
        print(json.dumps(results, indent=2))
        if args.json:
            write_json(results, args.json)

    run_command(evaluated, (DataError, ValueError, OSError), args.debug, extra="train")


if __name__ == "__main__":  # the module is light until main: the command starts here
    from mixer_base.commands import start_command

    start_command()
    main()
