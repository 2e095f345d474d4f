"""Command lines: ``python -m training`` (mixer-train) and
``python -m training.evaluate`` (mixer-evaluate)."""

import argparse
import json
import sys


def train_main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train or fine-tune a Mixer from one config; run again to resume.")
    parser.add_argument("--config", required=True,
                        help="a shipped config (digits, imagenet_b16, finetune) or a .py/.yaml file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.epochs=5 (repeatable)")
    parser.add_argument("--output", required=True, help="run directory")
    args = parser.parse_args(argv)

    from training import ConfigError, DataError, load_config, train

    try:
        train(load_config(args.config, args.set), args.output)
    except (ConfigError, DataError) as error:
        sys.exit(f"error: {error}")


def evaluate_main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m training.evaluate",
        description="Top-1/top-5 accuracy of a saved model on a dataset split.")
    parser.add_argument("model", help="a .keras file")
    parser.add_argument("--data", required=True, help="digits, tfds:NAME[:SPLIT] or a folder")
    parser.add_argument("--split", default="validation",
                        help="train or validation (folders, digits, mnist), or a TFDS split")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--data-dir", default=None, help="TFDS data_dir")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)

    from keras_mixer.files import write_json
    from training import DataError, evaluate

    try:
        results = evaluate(args.model, args.data, args.split, args.batch_size, args.data_dir)
    except (DataError, ValueError) as error:
        sys.exit(f"error: {error}")
    print(json.dumps(results, indent=2))
    if args.json:
        write_json(results, args.json)
