"""``convert compare --variants``, the deployment view: the variants built at
a size with a 10-class head (release weights where the release has them),
and the paper's published ImageNet top-1 for each."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from convert.compare import CompareOptions


# A variant's conversion and rows carry these (compare.json).
PUBLISHED = ("published_top1", "published_source")


def stem(path: str) -> str:
    """A model's name in file names: its run folder's for a run's model.keras."""
    name = os.path.splitext(os.path.basename(path))[0]
    return os.path.basename(os.path.dirname(os.path.abspath(path))) if name == "model" else name


def variant_name(text: str) -> str:
    """ "B/16" from "B16" or "B/16"."""
    return text if "/" in text else f"{text[:1]}/{text[1:]}"


def variant_models(options: CompareOptions, folder: str, log: Callable[[str], None]) -> list[str]:
    """The ``options.variants`` at ``options.variant_size`` with a 10-class head,
    saved as ``Mixer-B16.keras`` in ``folder`` (kept for a rerun): the release
    ``options.weights`` where it has the variant, random weights otherwise;
    the head random (std 0.02) either way, so the logits are not all zero."""
    import numpy as np

    import keras_mixer
    from keras_mixer.files import atomic_path
    from keras_mixer.presets import RELEASES

    os.makedirs(folder, exist_ok=True)
    paths = []
    for variant in options.variants:
        path = os.path.join(folder, f"Mixer-{variant.replace('/', '')}.keras")
        paths.append(path)
        if os.path.exists(path):
            continue
        released = options.weights and variant in RELEASES[options.weights].variants
        size, source = options.variant_size, options.weights if released else "random"
        log(f"building Mixer-{variant} at {size} ({source} weights)")
        model = keras_mixer.models.CONSTRUCTORS[variant](
            weights=options.weights if released else None, input_shape=(size, size, 3), classes=10
        )
        head = model.get_layer("head")
        head.kernel.assign(np.random.default_rng(0).normal(0, 0.02, head.kernel.shape))
        with atomic_path(path) as tmp:  # a rerun reuses only whole files
            model.save(tmp)
    return paths


def published(path: str, options: CompareOptions) -> dict:
    """A variant's published ImageNet top-1 and its source (empty for models given)."""
    if not options.variants:
        return {}
    from keras_mixer.presets import PUBLISHED_TOP1, RELEASES

    variant = variant_name(stem(path).removeprefix("Mixer-"))
    release = (
        options.weights
        if options.weights and variant in RELEASES[options.weights].variants
        else None
    )
    top1, source = PUBLISHED_TOP1.get((variant, release), (None, None))
    return {
        "published_top1": None if top1 is None else top1 / 100,
        "published_source": source or "no published number",
    }
