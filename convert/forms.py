"""The forms a deployment graph's LayerNorms and GELUs take (``FORMS``), and
the plain one: TFLite's own ops.

A form is a plug of ``convert.graph.build_graph``: how each LayerNorm and
GELU is written out op by op, which LayerNorm affines the Dense after them
absorbs, and how the official weights are rewritten to match. The other
form, ``convert.xnnpack.XnnpackForm``, runs whole in XNNPACK's int8
kernels; ``form`` builds either by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import tf_keras

from convert.layers import (
    AddConstant,
    ChannelScale,
    ChannelShift,
    Difference,
    Gelu,
    Mean,
    Product,
    Rsqrt,
    SquaredDifference,
)
from convert.modes import FORMS

if TYPE_CHECKING:
    import tensorflow as tf

Wrap = Callable[[tf_keras.layers.Layer], tf_keras.layers.Layer]


def unwrapped(layer: tf_keras.layers.Layer) -> tf_keras.layers.Layer:
    """The ``wrap`` of the float graph: every layer as it is."""
    return layer


class Form(Protocol):
    """How a deployment graph writes LayerNorm and GELU.

    ``folds_affines``: the channel-mixing and pre-head LayerNorms leave their
    gamma and beta to the Dense after them (``values`` moves them there);
    ``logits_only``: the graph always ends at the head's logits;
    ``needs_variances``: built from the variances each LayerNorm sees
    (``convert.graph.layer_norm_variances`` on the plain graph)."""

    name: str
    folds_affines: bool
    logits_only: bool
    needs_variances: bool

    def layer_norm(
        self, x: tf.Tensor, name: str, epsilon: float, affine: bool, wrap: Wrap
    ) -> tf.Tensor: ...

    def gelu(self, x: tf.Tensor, name: str, approximate: bool, wrap: Wrap) -> tf.Tensor: ...

    def values(self, values: dict, num_blocks: int) -> dict: ...


class PlainForm:
    """TFLite's own ops: LayerNorm as MEAN, SUB, SQUARED_DIFFERENCE, MEAN, ADD
    (epsilon), RSQRT, MUL (and gamma, beta); GELU as one GELU op."""

    name = "plain"
    folds_affines = False
    logits_only = False
    needs_variances = False

    def layer_norm(
        self,
        x: tf.Tensor,
        name: str,
        epsilon: float,
        affine: bool = True,
        wrap: Wrap = unwrapped,
    ) -> tf.Tensor:
        mean, centred = centre(x, name, wrap)
        variance = wrap(SquaredDifference(name=f"{name}_squared_difference"))([x, mean])
        variance = wrap(Mean(name=f"{name}_variance"))(variance)
        variance = wrap(AddConstant(epsilon, name=f"{name}_variance_eps"))(variance)
        inverse_std = wrap(Rsqrt(name=f"{name}_inverse_std"))(variance)
        return normalise(centred, inverse_std, name, affine, wrap)

    def gelu(self, x: tf.Tensor, name: str, approximate: bool, wrap: Wrap = unwrapped) -> tf.Tensor:
        return wrap(Gelu(approximate, name=name))(x)

    def values(self, values: dict, num_blocks: int) -> dict:
        return values


def centre(x: tf.Tensor, name: str, wrap: Wrap) -> tuple[tf.Tensor, tf.Tensor]:
    """A LayerNorm's first ops: (the mean over channels, x less it)."""
    mean = wrap(Mean(name=f"{name}_mean"))(x)
    return mean, wrap(Difference(name=f"{name}_centre"))([x, mean])


def normalise(
    centred: tf.Tensor, inverse_std: tf.Tensor, name: str, affine: bool, wrap: Wrap
) -> tf.Tensor:
    """A LayerNorm's last ops, the output layer named ``name``: the centred
    input times 1/sqrt(variance + eps), then (``affine``) gamma's MUL and
    beta's ADD."""
    normalised = wrap(Product(name=f"{name}_normalised" if affine else name))(
        [centred, inverse_std]
    )
    if not affine:
        return normalised
    scaled = wrap(ChannelScale(name=f"{name}_gamma"))(normalised)
    return wrap(ChannelShift(name=name))(scaled)


def form_class(name: str) -> type:
    """The class of the form called ``name`` (``FORMS``)."""
    from convert.xnnpack import XnnpackForm

    found = {cls.name: cls for cls in (PlainForm, XnnpackForm)}
    assert set(found) == set(FORMS), "convert.modes.FORMS names every form"
    if name not in found:
        raise ValueError(f"graph must be one of {', '.join(FORMS)}; got {name!r}.")
    return found[name]


def form(name: str, variances: dict | None = None) -> Form:
    """The form called ``name``, given the variances each LayerNorm sees where
    it ``needs_variances``."""
    cls = form_class(name)
    if not cls.needs_variances:
        return cls()
    if variances is None:
        raise ValueError(f"The {name} form needs the variances each LayerNorm sees.")
    return cls(variances)
