"""``python -m training`` (mixer-train); ``python -m training.evaluate``
(mixer-evaluate) is in ``training.evaluate``."""

import glob
import os

from mixer_base.commands import CommandParser, run_command
from mixer_base.flags import add_debug_flag, add_flag

CONFIGS_DIR = os.path.join(os.path.dirname(__file__), "configs")  # training.config's


def shipped_configs() -> list[str]:
    """The names of the shipped configs (``training/configs/NAME.py``)."""
    return sorted(name[:-3] for name in os.listdir(CONFIGS_DIR) if name.endswith(".py"))


def parser() -> CommandParser:
    """The ``mixer-train`` command line."""
    parser = CommandParser(
        prog="python -m training",
        description="Train or fine-tune a Mixer from one config; run again to resume.",
    )
    parser.add_argument(
        "--config",
        required=True,
        help=f"a shipped config ({', '.join(shipped_configs())}) or a .py/.yaml file",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.epochs=5 (repeatable)",
    )
    add_flag(
        parser,
        "--output",
        "run directory (run again with the same config to resume)",
        required=True,
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start the run over: delete the folder's checkpoints, logs and "
        "model from a run of another config",
    )
    add_debug_flag(parser)
    return parser


def train_main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)

    from training import ConfigError, DataError, NonFiniteLoss, load_config, train

    run_command(
        lambda: train(load_config(args.config, args.set), args.output, overwrite=args.overwrite),
        (ConfigError, DataError, NonFiniteLoss, OSError),
        args.debug,
        lambda: _kept(args.output),
        extra="train",
    )


def _kept(output: str) -> str:
    """What an interrupted run leaves, as the folder shows it now."""
    model = os.path.join(output, "model.keras")
    if os.path.exists(model):  # the Ctrl-C came after the last epoch, while finishing up
        return f"training had finished: {model} is written whole"
    folder = os.path.join(output, "checkpoints")
    epochs = glob.glob(os.path.join(folder, "epoch_*.weights.h5"))  # training.callbacks' files
    if not epochs:
        return "no epoch had finished, so none was saved; run the same command again to start"
    return (
        f"every finished epoch is kept in {folder} (last: {os.path.basename(max(epochs))}); "
        "run the same command again to resume"
    )
