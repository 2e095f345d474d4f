"""``python -m convert``, and the ``convert`` and ``mixer-convert`` commands."""

from mixer_base.commands import start_command


def main() -> None:
    start_command()
    from convert.cli import main as convert

    convert()


if __name__ == "__main__":
    main()
