"""How every command line of this package starts and ends (training,
evaluate, convert and its subcommands): an expected failure is one line on
stderr and exit code 2 (as argparse's usage errors), Ctrl-C is exit 130
with a line saying what was kept, and an unexpected error is one line too,
its traceback shown with ``--debug`` or ``KERAS_MIXER_DEBUG=1``.

Light on purpose (no Keras, no TensorFlow): the commands parse their
arguments, so ``--help`` and usage errors answer at once, before importing
them. Importing Keras then takes seconds: the entry points
(``convert.__main__``, ``training.__main__``) call ``start_command`` first,
which blocks SIGINT until ``run_command`` unblocks it (a Ctrl-C while the
command starts ends here too, with its one line) and, unless debugging,
sends the C++ logging of TensorFlow and LiteRT (written straight to file
descriptor 2) to nowhere while Python's own stderr stays the terminal."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import NoReturn, TypeVar

T = TypeVar("T")

DEBUG_ENV = "KERAS_MIXER_DEBUG"
EXPECTED_FAILURE, UNEXPECTED_FAILURE, INTERRUPTED = 2, 1, 130
OUR_PACKAGES = ("keras_mixer", "mixer_base", "training", "convert")


def start_command(argv: list[str] | None = None) -> None:
    """What every entry point does first (module docstring)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    argv = sys.argv[1:] if argv is None else argv
    if "--debug" not in argv and not _debugging():
        quiet_native_logs()


def quiet_native_logs() -> None:
    """From here on, what C++ code writes to file descriptor 2 is dropped;
    ``sys.stderr`` (Python's warnings, tracebacks, our lines) still reaches
    the terminal through a copy of the descriptor. Child processes inherit
    the quiet descriptor 2."""
    sys.stderr.flush()
    terminal = os.dup(2)
    os.set_inheritable(terminal, False)
    sys.stderr = os.fdopen(
        terminal, "w", buffering=1, encoding=sys.stderr.encoding, errors=sys.stderr.errors
    )
    sys.__stderr__ = sys.stderr  # what the interpreter prints an uncaught error on
    nowhere = os.open(os.devnull, os.O_WRONLY)
    os.dup2(nowhere, 2)
    os.close(nowhere)


def _debugging():
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


class CommandParser(argparse.ArgumentParser):
    """The argument parser of our commands: a usage error is one line naming
    the problem and ``--help`` (exit 2), as every other refusal is.

    ``add_commands`` gives a command subcommands (argparse's subparsers) while
    its own arguments stay its default command: ``convert MODEL.keras ...``
    converts, ``convert benchmark ...`` benchmarks, and ``convert --help``
    shows the conversion's flags and lists the subcommands."""

    _commands: argparse._SubParsersAction | None = None

    def error(self, message: str) -> NoReturn:
        self.exit(EXPECTED_FAILURE, f"error: {message} (see {self.prog} --help)\n")

    def add_commands(self) -> argparse._SubParsersAction:
        """The subcommands, each added with ``.add_parser(name, help=...)``:
        a first argument naming one is parsed by its parser (``command`` its
        name); any other, by this parser's own arguments (``command`` None)."""
        commands = self.add_subparsers(
            title="commands",
            description=f"`{self.prog} COMMAND --help` shows a command's own flags",
            dest="command",
            metavar="COMMAND",
            prog=self.prog,
            parser_class=CommandParser,
        )
        self._actions.remove(commands)  # listed by the help, never parsed as a positional
        self._action_groups.insert(0, self._action_groups.pop())  # listed first
        self.set_defaults(command=None)
        self._commands = commands
        return commands

    @property
    def commands(self) -> dict[str, CommandParser]:
        """{name: parser} of the subcommands (``add_commands``)."""
        return dict(self._commands.choices) if self._commands else {}

    def parse_known_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        if args and args[0] in self.commands:
            parsed, extras = self.commands[args[0]].parse_known_args(args[1:], namespace)
            parsed.command = args[0]
            return parsed, extras
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        return self._with_commands(super().format_usage())

    def format_help(self) -> str:
        return self._with_commands(super().format_help())

    def _with_commands(self, text):
        """``text`` with a usage line for the subcommands after the command's own."""
        if not self.commands:
            return text
        usage, blank, rest = text.partition("\n\n")
        names = ",".join(self.commands)
        line = f"{' ' * len('usage: ')}{self.prog} {{{names}}} ..."
        return f"{usage.rstrip()}\n{line}{blank or chr(10)}{rest}"


def run_command(
    action: Callable[[], T],
    expected: tuple[type[BaseException], ...],
    debug: bool = False,
    kept: str | Callable[[], str] = "nothing was lost",
    extra: str | None = None,
) -> T:
    """Returns ``action()``; ends the process as the module docstring says.

    ``expected``: the exception classes that are the user's to fix (bad
    input, missing files); ``kept``: what the interrupted line says was kept
    (or a function that says it, asked when interrupted);
    ``extra``: the package extra this command's libraries come with (a
    missing one is named with the install command)."""
    debug = debug or _debugging()
    if not getattr(sys.unraisablehook, "keeps_interrupts", False):
        sys.unraisablehook = _interrupts_kept(sys.unraisablehook)
    with _CtrlC() as ctrl_c:
        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # one held raises here
            result = action()
            if ctrl_c.pressed.is_set():  # every KeyboardInterrupt was swallowed on the way
                raise KeyboardInterrupt
            return result
        except BaseException as error:
            if isinstance(error, SystemExit):
                raise
            if isinstance(error, KeyboardInterrupt) or ctrl_c.pressed.is_set():
                ctrl_c.heard.set()  # (another error on the way out of a Ctrl-C is the Ctrl-C)
                _say(f"interrupted: {kept if isinstance(kept, str) else kept()}")
                sys.exit(INTERRUPTED)
            if debug or not isinstance(error, Exception):
                raise
            if isinstance(error, ModuleNotFoundError) and not (
                extra is None or (error.name or "").split(".")[0] in OUR_PACKAGES
            ):
                _say(
                    f"error: this command needs {error.name!r}, which is not installed: pip "
                    f"install 'keras-mixer[{extra}]'"
                )
                sys.exit(EXPECTED_FAILURE)
            if isinstance(error, expected) and not isinstance(error, ModuleNotFoundError):
                _say(f"error: {_one_line(error)}")
                sys.exit(EXPECTED_FAILURE)
            _say(
                f"error: unexpected {type(error).__name__}: {_one_line(error)} (run again with "
                f"--debug or {DEBUG_ENV}=1 for the traceback)"
            )
            sys.exit(UNEXPECTED_FAILURE)


class _CtrlC:
    """SIGINT's handler while a command runs (where SIGINT was Python's
    default: a job started with SIGINT ignored keeps ignoring it). The
    KeyboardInterrupt it raises can be lost - raised inside a gc callback or
    ``__del__`` (only reported: importing TensorFlow imports JAX, whose gc
    callback ran during about a third of the Ctrl-Cs sent to a loop making
    garbage), or caught by a library's bare ``except``. So until the command
    hears it (``heard``), a thread started up front sends SIGINT again: every
    ``RESEND_SECONDS`` while none was raised (inside a gc callback the handler
    leaves it to the next one), and only ``GRACE_SECONDS`` after one was
    raised - a second KeyboardInterrupt inside TensorFlow's unwinding of the
    first left it crashing at exit. The handler ignores SIGINT once heard; on
    leaving, the handler before it is restored."""

    RESEND_SECONDS, GRACE_SECONDS = 0.5, 5.0

    def __enter__(self):
        self.pressed, self.heard = threading.Event(), threading.Event()
        self.raised_at = None  # time.monotonic() of the last KeyboardInterrupt raised
        self.before = signal.getsignal(signal.SIGINT)
        if self.before is signal.default_int_handler:
            signal.signal(signal.SIGINT, self.handle)
            self.resender = threading.Thread(target=self._resend, daemon=True)
            self.resender.start()
        return self

    def __exit__(self, *exc_info):
        self.heard.set()
        if self.before is signal.default_int_handler:
            self.pressed.set()  # wakes the resender, which then sees `heard` and ends
            self.resender.join()
            signal.signal(signal.SIGINT, self.before)

    def handle(self, signum, frame):
        if self.heard.is_set():
            return
        self.pressed.set()
        if not _in_gc_callback(frame):  # there it would only be reported: the next one lands
            self.raised_at = time.monotonic()
            raise KeyboardInterrupt

    def _resend(self):
        self.pressed.wait()
        while not self.heard.wait(self.RESEND_SECONDS):
            raised = self.raised_at
            if raised is None or time.monotonic() - raised > self.GRACE_SECONDS:
                os.kill(os.getpid(), signal.SIGINT)


def _say(line: str) -> None:
    """The command's last line, on stderr, starting a line of its own: on a
    terminal, a progress bar (Keras' redraws its line with carriage returns)
    may have left the cursor mid-line."""
    if sys.stdout.isatty():
        sys.stdout.write("\n")
        sys.stdout.flush()
    print(line, file=sys.stderr)


def _in_gc_callback(frame) -> bool:
    """Whether ``frame`` runs inside one of ``gc.callbacks`` (written in Python)."""
    import gc

    callbacks = {getattr(callback, "__code__", None) for callback in gc.callbacks}
    while frame is not None:
        if frame.f_code in callbacks:
            return True
        frame = frame.f_back
    return False


def _interrupts_kept(
    hook: Callable[[object], None],
) -> Callable[[object], None]:
    """``sys.unraisablehook`` that stays quiet about a Ctrl-C Python dropped
    (the KeyboardInterrupt of a signal handled inside a gc callback or
    ``__del__`` is only reported): ``_CtrlC`` sends it again."""

    def resend(unraisable):
        if unraisable.exc_type is None or not issubclass(unraisable.exc_type, KeyboardInterrupt):
            hook(unraisable)

    resend.keeps_interrupts = True
    return resend


def _one_line(error):
    text = str(error)
    if isinstance(error, OSError) and error.strerror:  # without "[Errno N]"
        text = error.strerror + (f": {error.filename}" if error.filename else "")
    text = " ".join(text.split()) or type(error).__name__
    return text if len(text) <= 500 else text[:497] + "..."
