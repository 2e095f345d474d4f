"""How every command line ends: one line and exit 2 for the user's mistakes,
130 for Ctrl-C, one line and exit 1 for the unexpected (a traceback on request)."""

import pytest

from keras_mixer.commands import DEBUG_ENV, run_command


def failing(error):
    def action():
        raise error
    return action


@pytest.mark.parametrize("error, code, line", [
    (ValueError("Model file 'x' does not exist."), 2, "error: Model file 'x' does not exist."),
    (KeyboardInterrupt(), 130, "interrupted: the checkpoints are kept"),
    (ZeroDivisionError("division\nby zero"), 1,
     f"error: unexpected ZeroDivisionError: division by zero (run again with --debug or "
     f"{DEBUG_ENV}=1 for the traceback)"),
])
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
