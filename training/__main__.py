"""``python -m training`` and the ``mixer-train`` command; ``evaluate`` is the
``mixer-evaluate`` command (``python -m training.evaluate``)."""

from mixer_base.commands import start_command


def main() -> None:
    start_command()
    from training.cli import train_main

    train_main()


def evaluate() -> None:
    start_command()
    from training.evaluate import main as evaluate_main

    evaluate_main()


if __name__ == "__main__":
    main()
