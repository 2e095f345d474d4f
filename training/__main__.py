"""``python -m training`` and the ``mixer-train`` command; ``evaluate`` is the
``mixer-evaluate`` command (``python -m training.evaluate``)."""

import signal


def hold_ctrl_c() -> None:
    """Holds SIGINT until run_command (keras_mixer.commands) unblocks it:
    Keras imports for seconds before a command can end with one line."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def main() -> None:
    hold_ctrl_c()
    from training.cli import train_main

    train_main()


def evaluate() -> None:
    hold_ctrl_c()
    from training.evaluate import main as evaluate_main

    evaluate_main()


if __name__ == "__main__":
    main()
