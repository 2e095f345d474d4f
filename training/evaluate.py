"""``python -m training.evaluate MODEL.keras --data DATASET [--split S]``."""

from training.cli import evaluate_main

if __name__ == "__main__":
    evaluate_main()
