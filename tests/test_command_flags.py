"""One command surface: every parser of every command built (never run), and
each flag name meaning one thing wherever it appears (``mixer_base.flags``)."""

import argparse
import os
import re

import pytest

from convert import cli
from mixer_base.commands import CommandParser
from mixer_base.flags import FLAGS, Renamed, add_flag
from training import cli as train_cli
from training import evaluate


def parsers():
    """{command: parser} of every command line of the package."""
    convert = cli.parser()
    return {
        "convert": convert,
        **{f"convert {name}": sub for name, sub in convert.commands.items()},
        "mixer-train": train_cli.parser(),
        "mixer-evaluate": evaluate.parser(),
    }


def meaning(action):
    """What a flag is, beside its default and help text."""
    return {
        "names": tuple(action.option_strings),
        "action": type(action).__name__,
        "dest": action.dest,
        "type": action.type,
        "nargs": action.nargs,
        "choices": None if action.choices is None else tuple(action.choices),
        "metavar": action.metavar,
        "const": action.const,
    }


def flags_of(parser):
    """{option string: meaning} of ``parser``'s flags, the renamed ones left out
    (a former name, kept one release: ``test_a_renamed_flag_still_works_and_says_so``)."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | Renamed):
            continue
        for name in action.option_strings:
            found[name] = meaning(action)
    return found


def test_every_command_is_walked():
    commands = parsers()
    assert set(commands) == {
        "convert",
        "convert benchmark",
        "convert compare",
        "convert check-arm",
        "mixer-train",
        "mixer-evaluate",
    }
    assert all(isinstance(parser, CommandParser) for parser in commands.values())
    assert commands["convert benchmark"].prog == "convert benchmark"


def test_a_flag_name_means_one_thing_in_every_command():
    where = {}  # option string -> {meaning: [commands]}
    for command, parser in parsers().items():
        for name, found in flags_of(parser).items():
            where.setdefault(name, {}).setdefault(repr(found), []).append(command)
    differing = {name: list(meanings.values()) for name, meanings in where.items()}
    differing = {name: groups for name, groups in differing.items() if len(groups) > 1}
    assert not differing, f"one flag name, several meanings (by command): {differing}"
    # A flag two commands take is defined once, in mixer_base.flags.
    shared = {name for name, meanings in where.items() if sum(map(len, meanings.values())) > 1}
    assert shared >= {"--threads", "--output", "--data", "--debug", "--runs", "--eval-images"}
    defined = {name for flag in FLAGS.values() for name in flag.names}
    assert shared <= defined, shared - defined
    for name in shared:
        reference = CommandParser(prog="reference")
        expected = meaning(
            add_flag(reference, next(k for k, f in FLAGS.items() if name in f.names))
        )
        (found,) = where[name]  # the one meaning (above), as its repr
        assert found == repr(expected), name


def test_threads_is_a_list_of_thread_counts_everywhere():
    commands = parsers()
    defaults = {
        command: commands[command].parse_args(args).threads
        for command, args in [
            ("convert", ["m.keras", "-o", "m.tflite"]),
            ("convert benchmark", ["m.tflite"]),
            ("convert compare", ["m.keras", "-o", "out"]),
        ]
    }
    assert defaults == {"convert": (2,), "convert benchmark": (1, 2, 4), "convert compare": (1, 2)}
    parsed = cli.parser().parse_args(["m.keras", "-o", "m.tflite", "--threads", "1,4"])
    assert parsed.threads == (1, 4) and parsed.benchmark is False


def test_a_flag_is_added_only_with_its_own_meaning():
    with pytest.raises(TypeError, match="only its default"):
        add_flag(CommandParser(prog="x"), "--threads", type=int)


def test_the_conversion_is_the_default_command_and_the_subcommands_parse_their_own():
    parser = cli.parser()
    args = parser.parse_args(["m.keras", "--int8", "--data", "digits", "-o", "m.tflite"])
    assert (args.command, args.model, args.mode, args.data, args.output) == (
        None,
        "m.keras",
        "qat",
        "digits",
        "m.tflite",
    )
    args = parser.parse_args(["benchmark", "a.tflite", "b.tflite", "--threads", "1"])
    assert (args.command, args.models, args.threads) == (
        "benchmark",
        ["a.tflite", "b.tflite"],
        (1,),
    )
    args = parser.parse_args(["compare", "--variants", "S32", "--variant-size", "64", "-o", "c"])
    assert (args.command, args.variants, args.variant_size) == ("compare", "S32", 64)


def test_help_lists_the_subcommands_and_each_shows_its_own_flags(capsys):
    parser = cli.parser()
    text = parser.format_help()
    assert re.search(r"^ +benchmark +\S", text, re.M) and re.search(r"^ +compare +\S", text, re.M)
    assert "usage: convert [-h]" in text and "--int8" in text and "--benchmark]" in text
    for name, own in [("benchmark", "--warmup"), ("compare", "--variant-size")]:
        with pytest.raises(SystemExit) as ended:
            parser.parse_args([name, "--help"])
        assert ended.value.code == 0
        shown = capsys.readouterr().out
        assert shown.startswith(f"usage: convert {name} ") and own in shown
        assert "--int8" not in shown
    assert "--image-size" not in parser.commands["compare"].format_help()  # renamed: hidden


def test_a_renamed_flag_still_works_and_says_so(capsys):
    parser = cli.parser()
    args = parser.parse_args(["compare", "--variants", "S32", "--image-size", "96", "-o", "c"])
    assert args.variant_size == 96
    assert capsys.readouterr().err == (
        "note: --image-size is now --variant-size in convert compare; the old name goes in "
        "the next release\n"
    )
    args = parser.parse_args(["m.keras", "--benchmark", "1,2", "-o", "m.tflite"])
    assert (args.benchmark, args.threads) == (True, (1, 2))
    assert "--benchmark 1,2 is now --benchmark --threads 1,2" in capsys.readouterr().err
    for command, parser in parsers().items():  # every former name is hidden and points on
        for action in parser._actions:
            if isinstance(action, Renamed):
                assert action.help == argparse.SUPPRESS, command
                assert action.new in flags_of(parser), command


def test_usage_errors_are_one_line_with_exit_2(capsys):
    for args in (["benchmark", "a.tflite", "--threads", "0"], ["m.keras", "--threads", "x"]):
        with pytest.raises(SystemExit) as ended:
            cli.parser().parse_args(args)
        assert ended.value.code == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "thread counts are positive integers" in error


def test_train_help_lists_every_shipped_config():
    shipped = sorted(
        name[:-3]
        for name in os.listdir(os.path.join(os.path.dirname(train_cli.__file__), "configs"))
        if name.endswith(".py")
    )
    assert "mnist" in shipped and "digits" in shipped
    text = " ".join(train_cli.parser().format_help().split())
    assert f"a shipped config ({', '.join(shipped)})" in text
