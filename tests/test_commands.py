"""How every command line ends: one line and exit 2 for the user's mistakes,
130 for Ctrl-C, one line and exit 1 for the unexpected (a traceback on request)."""

import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from mixer_base.commands import DEBUG_ENV, run_command
from tests.training_helpers import ROOT


def failing(error):
    def action():
        raise error

    return action


@pytest.mark.parametrize(
    "error, code, line",
    [
        (ValueError("Model file 'x' does not exist."), 2, "error: Model file 'x' does not exist."),
        (KeyboardInterrupt(), 130, "interrupted: the checkpoints are kept"),
        (
            ZeroDivisionError("division\nby zero"),
            1,
            f"error: unexpected ZeroDivisionError: division by zero (run again with --debug or "
            f"{DEBUG_ENV}=1 for the traceback)",
        ),
    ],
)
def test_each_ending_is_one_line_and_its_exit_code(capsys, monkeypatch, error, code, line):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    with pytest.raises(SystemExit) as ended:
        run_command(failing(error), (ValueError,), kept="the checkpoints are kept")
    assert ended.value.code == code
    assert capsys.readouterr().err == line + "\n"


@pytest.mark.parametrize("flag, env", [(True, ""), (False, "1")])
def test_debug_keeps_the_traceback(monkeypatch, flag, env):
    monkeypatch.setenv(DEBUG_ENV, env)
    for error in (ValueError("expected"), ZeroDivisionError("unexpected")):
        with pytest.raises(type(error)):
            run_command(failing(error), (ValueError,), debug=flag)


def test_success_returns_the_result():
    assert run_command(lambda: 42, (ValueError,)) == 42


BIN = pathlib.Path(sys.executable).parent


@pytest.mark.parametrize(
    "command, kept",
    [
        # Each command once, as a console script or with -m (both call the same
        # main, where Keras is imported).
        (["-m", "convert", "model.keras", "--int8", "-o", "m.tflite"], "m.tflite not written"),
        ([BIN / "mixer-convert", "model.keras", "--ptq", "-o", "m.tflite"], "m.tflite not written"),
        ([BIN / "mixer-train", "--config", "digits", "--output", "run"], "no epoch had finished"),
        (["-m", "training.evaluate", "model.keras", "--data", "digits"], "nothing was lost"),
    ],
)
def test_ctrl_c_while_keras_imports_is_one_line_too(tmp_path, command, kept):
    # -X importtime reports each module imported: Ctrl-C once Keras' own begin
    # (debugging: the native stderr it writes to stays open).
    with subprocess.Popen(
        [sys.executable, "-X", "importtime", *map(str, command)],
        cwd=tmp_path,
        env={**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(ROOT), DEBUG_ENV: "1"},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    ) as proc:
        for line in proc.stderr:
            if re.search(r"\|\s+keras\.src\.", line):
                break
        else:
            pytest.fail("the command never imported Keras")
        proc.send_signal(signal.SIGINT)
        said = [line for line in proc.stderr if not line.startswith("import time:")]
    assert proc.returncode == 130
    assert "Traceback" not in "".join(said)
    assert said[-1].startswith(f"interrupted: {kept}")
    assert list(tmp_path.iterdir()) == []


# Busy in a gc callback most of the time, as a conversion can be in JAX's
# (importing TensorFlow imports JAX, which registers one): Python drops an
# exception raised there, a Ctrl-C's KeyboardInterrupt included.
IN_GC_CALLBACKS = """
import gc, sys, time
from mixer_base.commands import run_command

def slow_callback(phase, info):
    started = time.perf_counter()
    while time.perf_counter() - started < 0.002:
        pass

def collect_for_a_while():
    gc.callbacks.append(slow_callback)
    print("busy", flush=True)
    ended = time.time() + 20
    while time.time() < ended:
        cycle = []
        cycle.append(cycle)
    return "finished"

print(run_command(collect_for_a_while, (), kept="the test's line"))
"""


def ctrl_c_once_busy(code, sigint=signal.SIG_DFL):
    """(exit code, stdout after "busy", stderr, seconds from the Ctrl-C to the
    end) of a script run with SIGINT as ``sigint`` and sent one once it says busy."""
    with subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),
    ) as proc:
        assert proc.stdout.readline() == "busy\n"
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        stdout, stderr = proc.communicate(timeout=60)
    return proc.returncode, stdout, stderr, time.monotonic() - started


def test_a_ctrl_c_raised_inside_a_gc_callback_is_not_lost():
    for _ in range(3):
        code, stdout, stderr, _ = ctrl_c_once_busy(IN_GC_CALLBACKS)
        assert (code, stdout) == (130, ""), stderr
        assert stderr.splitlines() == ["interrupted: the test's line"]


BAD_INPUTS = {  # each console script on a mistake found after TensorFlow is imported
    "convert": ["{tmp}/missing.keras", "--ptq", "-o", "{tmp}/m.tflite"],
    "mixer-convert": ["{tmp}/missing.keras", "--ptq", "-o", "{tmp}/m.tflite"],
    "mixer-train": ["--config", "{tmp}/missing.yaml", "--output", "{tmp}/run"],
    "mixer-evaluate": ["{tmp}/missing.keras", "--data", "digits"],
    "convert benchmark": ["{tmp}/missing.tflite"],
}


@pytest.mark.parametrize("command", BAD_INPUTS)
def test_a_refused_command_says_one_line_and_nothing_else(tmp_path, command):
    script, *first = command.split()
    args = [arg.format(tmp=tmp_path) for arg in BAD_INPUTS[command]]
    # A clean environment: no TF_CPP_MIN_LOG_LEVEL to hide TensorFlow's C++ logging.
    env = {"PATH": "", "HOME": str(tmp_path), "KERAS_BACKEND": "tensorflow"}
    result = subprocess.run(
        [str(pathlib.Path(sys.executable).parent / script), *first, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 2
    assert re.fullmatch(r"error: [^\n]*missing[^\n]*\n", result.stderr), result.stderr
    # --debug keeps everything: here TensorFlow's own lines come back with the traceback.
    if script == "convert" and not first:
        debug = subprocess.run(
            [str(pathlib.Path(sys.executable).parent / script), *args, "--debug"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert "Traceback" in debug.stderr and "does not exist" in debug.stderr


USAGE_ERRORS = {  # each console script on a mistake argparse finds
    "convert": (
        ["m.keras", "--ptq", "--threads", "two"],
        "argument --threads: thread counts are positive integers like 1,2,4; got 'two'",
    ),
    "mixer-convert": (["m.keras", "--ptq"], "the following arguments are required: -o/--output"),
    "mixer-train": (["--config", "digits"], "the following arguments are required: -o/--output"),
    "mixer-evaluate": (["m.keras", "--data", "digits", "--top"], "unrecognized arguments: --top"),
    "convert benchmark": ([], "the following arguments are required: models"),
    "convert compare": (["-o", "compared"], "give .keras models, or --variants"),
}


@pytest.mark.parametrize("command", USAGE_ERRORS)
def test_a_usage_error_is_one_line_naming_help(command):
    script, *first = command.split()
    args, problem = USAGE_ERRORS[command]
    result = subprocess.run(
        [str(BIN / script), *first, *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {problem}"), result.stderr
    assert lines[0].endswith(" --help)")


def test_run_py_answers_web_and_usage_without_making_an_environment(tmp_path):
    # A fresh checkout: run.py and the web demo's server, no .venv.
    root = pathlib.Path(ROOT)
    shutil.copy(root / "run.py", tmp_path / "run.py")
    shutil.copytree(
        root / "web_demo", tmp_path / "web_demo", ignore=shutil.ignore_patterns("node_modules")
    )
    (tmp_path / "model.keras").write_bytes(b"PK\x03\x04 a keras zip, not a flatbuffer")

    def run(*args):
        return subprocess.run(
            [sys.executable, "run.py", *args], cwd=tmp_path, capture_output=True, text=True
        )

    helped = run("web", "--help")
    assert helped.returncode == 0 and "usage: serve.py" in helped.stdout
    wrong = run("tset")
    assert wrong.returncode == 2 and wrong.stderr.startswith("usage: python3 run.py {demo,")
    keras_file = run("web", "model.keras")
    assert keras_file.returncode == 2
    assert "error: model 'model.keras' is not a TFLite file" in keras_file.stderr
    assert not (tmp_path / ".venv").exists()


def test_the_last_line_starts_a_line_of_its_own_after_a_progress_bar():
    import pty

    code = (
        "import sys\nfrom mixer_base.commands import run_command\n"
        "def work():\n"
        "    sys.stdout.write('\\r 3/10 ━━━━━━ 2s 140ms/step - loss: 0.9')\n"
        "    sys.stdout.flush()\n"
        "    raise ValueError('Training diverged: the loss became nan')\n"
        "run_command(work, (ValueError,))\n"
    )
    leader, follower = pty.openpty()  # a terminal, as the user's: stdout and stderr on it
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=follower, stderr=follower
    )
    os.close(follower)
    import select

    shown, deadline = b"", time.monotonic() + 60
    while time.monotonic() < deadline:
        if not select.select([leader], [], [], 1)[0]:
            continue
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        shown += chunk
    assert process.wait(timeout=60) == 2
    text = shown.decode()
    assert re.search(r"loss: 0\.9\r?\n+error: Training diverged", text), text


SWALLOWED = """
import time
from mixer_base.commands import run_command

def swallowing():
    print("busy", flush=True)
    swallowed = False
    ended = time.time() + 20
    while time.time() < ended:
        try:
            time.sleep(0.05)
        except BaseException:  # one library call with a bare except eats the Ctrl-C
            if swallowed:
                raise
            swallowed = True
    return "finished"

print(run_command(swallowing, (), kept="the test's line"))
"""


def test_a_ctrl_c_a_library_swallows_still_ends_the_command():
    code, stdout, stderr, seconds = ctrl_c_once_busy(SWALLOWED)
    assert (code, stdout) == (130, ""), stderr
    assert stderr.splitlines() == ["interrupted: the test's line"]
    assert seconds < 15  # the 20 s of work did not run out


def test_run_command_leaves_sigint_as_it_found_it():
    before = signal.getsignal(signal.SIGINT)
    assert run_command(lambda: "done", ()) == "done"
    assert signal.getsignal(signal.SIGINT) is before


IGNORING = """
import time
from mixer_base.commands import run_command

def work():
    print("busy", flush=True)
    time.sleep(1.5)
    return "finished"

print(run_command(work, ()))
"""


def test_a_command_started_with_sigint_ignored_keeps_ignoring_it():
    # As `cmd &` in a non-interactive shell starts it: the terminal's Ctrl-C is not for it.
    code, stdout, stderr, _ = ctrl_c_once_busy(IGNORING, sigint=signal.SIG_IGN)
    assert (code, stdout, stderr) == (0, "finished\n", "")
