"""The flags more than one command takes, each defined once (``FLAGS``), so a
flag name means one thing in every command: ``convert``, ``convert
benchmark``, ``convert compare``, ``mixer-train`` and ``mixer-evaluate``.

A command adds one with ``add_flag(parser, "--threads", default=...)``: it
chooses the default, the help text and whether the flag is required, never
its names, type, destination, choices or metavar
(``tests/test_command_flags.py`` walks every parser to hold them to that).
A renamed flag keeps its old name for one release (``add_renamed``): hidden
from the help, it still works and says the new name in one line."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from mixer_base.commands import DEBUG_ENV


def thread_counts(text: str) -> tuple[int, ...]:
    """(1, 2, 4) from "1,2,4": ``--threads``' type (argparse names the flag on a bad one)."""
    try:
        counts = tuple(int(count) for count in text.split(","))
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(
            f"thread counts are positive integers like 1,2,4; got {text!r}"
        )
    return counts


def image_size(text: str) -> int | tuple[int, int]:
    """224 from "224", (224, 160) from "224x160": ``--image-size``' type."""
    height, _, width = text.lower().partition("x")
    try:
        size = (int(height), int(width or height))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}") from None
    return size[0] if size[0] == size[1] else size


@dataclasses.dataclass(frozen=True)
class Flag:
    """A flag as every command takes it: its ``names``, the ``help`` a
    command may reword, and the ``settings`` none may change (argparse's
    action, type, metavar, choices)."""

    names: tuple[str, ...]
    help: str
    settings: dict = dataclasses.field(default_factory=dict)


FLAGS = {
    flag.names[-1]: flag
    for flag in (
        Flag(("-o", "--output"), "where the results are written", {"metavar": "PATH"}),
        Flag(
            ("--data",),
            "digits, mnist, tfds:NAME[:SPLIT] or an image folder",
            {"metavar": "DATASET"},
        ),
        Flag(
            ("--threads",),
            "LiteRT thread counts, comma-separated (e.g. 1,2,4)",
            {"type": thread_counts, "metavar": "N[,N...]"},
        ),
        Flag(("--runs",), "timed runs per model and thread count", {"type": int, "metavar": "N"}),
        Flag(
            ("--eval-images",),
            "evaluate on this many held-out images (default: all)",
            {"type": int, "metavar": "N"},
        ),
        Flag(("--json",), "also write the results here, as JSON", {"metavar": "PATH"}),
        Flag(
            ("--debug",),
            f"show the traceback of an unexpected error (also {DEBUG_ENV}=1)",
            {"action": "store_true"},
        ),
        # How evaluation (and calibration) images are prepared, stated instead
        # of taken from the run's config or the defaults (preprocessing()).
        Flag(
            ("--image-size",),
            "the size images are cropped to: the model's input size (checked; default: the "
            "model's)",
            {"type": image_size, "metavar": "N|HxW"},
        ),
        Flag(
            ("--eval-crop",),
            "resize to cover image-size / FRACTION, then the centred crop; 1.0 keeps the whole "
            "image (default: the model's own, else the run's config.json, else 1.0 for digits and "
            "mnist and 0.875 for other data, said so)",
            {"type": float, "metavar": "FRACTION"},
        ),
        Flag(
            ("--resize-method",),
            "bilinear, bicubic, area or nearest (default: the model's own, else the run's "
            "config.json, else bilinear)",
            {"metavar": "METHOD"},
        ),
        Flag(
            ("--variant-size",),
            "the input size the variants are built at",
            {"type": int, "metavar": "N"},
        ),
    )
}
PREPROCESSING = ("--image-size", "--eval-crop", "--resize-method")


def add_flag(
    parser: argparse.ArgumentParser, name: str, help: str | None = None, **given
) -> argparse.Action:
    """Adds ``FLAGS[name]`` to ``parser``; ``given``: its ``default`` and
    ``required`` there (nothing else: the flag means one thing everywhere)."""
    if set(given) - {"default", "required"}:
        raise TypeError(f"{name}: a command sets only its default and whether it is required")
    flag = FLAGS[name]
    return parser.add_argument(*flag.names, help=help or flag.help, **flag.settings, **given)


def add_renamed(parser: argparse.ArgumentParser, old: str, new: argparse.Action) -> None:
    """``old``, the former name of the flag ``new`` (an ``add_flag`` result),
    kept for one release: hidden from the help, it sets the new flag's value
    and says the new name on stderr."""
    parser.add_argument(
        old,
        action=Renamed,
        dest=new.dest,
        type=new.type,
        metavar=new.metavar,
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
        new=new.option_strings[-1],
    )


class Renamed(argparse.Action):
    """A flag's former name (``add_renamed``)."""

    def __init__(self, option_strings, dest, new, **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None):
        print(
            f"note: {option_string} is now {self.new} in {parser.prog}; the old name goes in "
            "the next release",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, values)


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    add_flag(parser, "--debug")


def add_preprocessing_flags(parser: argparse.ArgumentParser) -> None:
    """``--image-size``, ``--eval-crop`` and ``--resize-method`` (``FLAGS``)."""
    for name in PREPROCESSING:
        add_flag(parser, name, default=None)


def preprocessing(args: argparse.Namespace) -> dict:
    """{key: value} of the preprocessing flags a command line set."""
    return {
        key: getattr(args, key)
        for key in (name[2:].replace("-", "_") for name in PREPROCESSING)
        if getattr(args, key) is not None
    }
