"""``python -m convert``, and the ``convert`` and ``mixer-convert`` commands."""

import signal


def main() -> None:
    # Held until run_command (keras_mixer.commands): Keras imports for seconds first.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    from convert.cli import main as convert

    convert()


if __name__ == "__main__":
    main()
