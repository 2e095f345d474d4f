"""Command lines: ``python -m training`` (mixer-train) and
``python -m training.evaluate`` (mixer-evaluate)."""

import argparse
import json
import os

from keras_mixer.commands import add_debug_flag, run_command


def train_main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train or fine-tune a Mixer from one config; run again to resume.")
    parser.add_argument("--config", required=True,
                        help="a shipped config (digits, imagenet_b16, finetune) or a .py/.yaml file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.epochs=5 (repeatable)")
    parser.add_argument("--output", required=True,
                        help="run directory (run again with the same config to resume)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start the run over: delete the folder's checkpoints, logs and "
                             "model from a run of another config")
    add_debug_flag(parser)
    args = parser.parse_args(argv)

    from training import ConfigError, DataError, load_config, train

    kept = (f"every finished epoch is kept in {os.path.join(args.output, 'checkpoints')}; run "
            "the same command again to resume")
    run_command(lambda: train(load_config(args.config, args.set), args.output,
                              overwrite=args.overwrite),
                (ConfigError, DataError, OSError), args.debug, kept)


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
    add_debug_flag(parser)
    args = parser.parse_args(argv)

    from keras_mixer.files import write_json
    from training import DataError, evaluate

    def evaluated():
        results = evaluate(args.model, args.data, args.split, args.batch_size, args.data_dir)
        print(json.dumps(results, indent=2))
        if args.json:
            write_json(results, args.json)

    run_command(evaluated, (DataError, ValueError, OSError), args.debug)
