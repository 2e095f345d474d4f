"""ImageNet class names shipped with the package, and ``decode_predictions``."""

from __future__ import annotations

import functools
import gzip
import os

import numpy as np

DATA = os.path.join(os.path.dirname(__file__), "data")
LABEL_FILES = {"imagenet1k": "imagenet1k.txt", "imagenet21k": "imagenet21k.txt.gz"}


@functools.cache
def _synsets_and_lemmas(name):
    if name not in LABEL_FILES:
        raise ValueError(f"Unknown label set {name!r}; available: {sorted(LABEL_FILES)}.")
    path = os.path.join(DATA, LABEL_FILES[name])
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t", 1) for line in f]
    return tuple(synset for synset, _ in rows), tuple(lemmas for _, lemmas in rows)


def labels(name: str = "imagenet1k", full: bool = False) -> list[str]:
    """Class names of a released head, in head order.

    Args:
        name: "imagenet1k" (1000 classes; also the heads of the "sam" and
            "gsam" releases) or "imagenet21k" (21,843 classes).
        full: return every WordNet lemma ("tench, Tinca tinca") instead of the
            first ("tench").
    """
    _, lemmas = _synsets_and_lemmas(name)
    return list(lemmas) if full else [lemma.split(", ")[0] for lemma in lemmas]


def decode_predictions(preds, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """Top classes of ImageNet predictions, like ``keras.applications``.

    Args:
        preds: array (batch, 1000) or (batch, 21843) of scores.
        top: how many classes per image.

    Returns:
        One list per image of ``(synset, class_name, score)`` tuples, best first.
    """
    preds = np.asarray(preds)
    sets = {len(_synsets_and_lemmas(n)[0]): n for n in LABEL_FILES}
    if preds.ndim != 2 or preds.shape[1] not in sets:
        raise ValueError(
            "decode_predictions expects a batch of predictions of shape (batch, 1000) "
            f"or (batch, 21843); got shape {preds.shape}."
        )
    synsets, _ = _synsets_and_lemmas(sets[preds.shape[1]])
    names = labels(sets[preds.shape[1]])
    results = []
    for row in preds:
        best = np.argsort(-row, kind="stable")[:top]
        results.append([(synsets[i], names[i], float(row[i])) for i in best])
    return results
