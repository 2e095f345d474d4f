"""What a keras_mixer model is: ``architecture(model)``, the one reader of it.

A Mixer's hyperparameters live in the configs of its layers - the
``PatchEmbedding`` stem (patch, hidden size), the ``MixerBlock`` layers
(their count, the MLP widths, the GELU form) and the head - which is where a
``.keras`` file keeps them, for files written before this module as well.
Weights, conversion and training all read them through ``architecture``.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from keras_mixer import presets
from keras_mixer.layers import MixerBlock, PatchEmbedding

HEAD = "head"  # the classification head's layer name


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A Mixer's hyperparameters (``classes`` None: no head)."""

    patch_size: int
    hidden_size: int
    num_blocks: int
    tokens_mlp_dim: int
    channels_mlp_dim: int
    gelu_approximate: bool = True
    classes: int | None = None

    @property
    def variant(self) -> str | None:
        """The preset ("B/16") with these sizes, or None; the token-MLP width
        may differ from the preset's (it grows with the resolution)."""
        return presets.variant_named(
            self.patch_size, self.hidden_size, self.num_blocks, self.channels_mlp_dim
        )


def architecture(model: keras.Model) -> Architecture:
    """The architecture of a keras_mixer model, or a ValueError saying that
    ``model`` is not one."""
    stems = [layer for layer in model.layers if isinstance(layer, PatchEmbedding)]
    blocks = [layer for layer in model.layers if isinstance(layer, MixerBlock)]
    if len(stems) != 1 or not blocks:
        found = f"{len(stems)} PatchEmbedding stems and {len(blocks)} MixerBlock layers"
        raise ValueError(
            f"Model {model.name!r} is not a keras_mixer Mixer (it has {found}; a Mixer has one "
            "stem and at least one block)."
        )
    first = blocks[0]
    head = next((layer for layer in model.layers if layer.name == HEAD), None)
    return Architecture(
        patch_size=stems[0].patch_size,
        hidden_size=stems[0].hidden_size,
        num_blocks=len(blocks),
        tokens_mlp_dim=first.tokens_mlp_dim,
        channels_mlp_dim=first.channels_mlp_dim,
        gelu_approximate=first.gelu_approximate,
        classes=None if head is None else head.units,
    )


def refuse_non_finite_weights(model: keras.Model) -> None:
    """A ValueError naming the first layer with NaN or infinite weights (a
    model saved from a diverged run): its scores, and int8 ranges, would be NaN."""
    for layer in model.layers:
        for variable in layer.weights:
            values = np.asarray(variable)
            bad = int(np.size(values) - np.isfinite(values).sum())
            if bad:
                raise ValueError(
                    f"Model {model.name!r} has NaN/inf weights in layer {layer.name!r} "
                    f"({variable.path}: {bad} of {values.size} values); it cannot be "
                    "scored or converted (was it saved from a run whose loss diverged?)."
                )
