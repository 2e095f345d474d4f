"""The XNNPACK form of a deployment graph: LayerNorm and GELU in ops XNNPACK
runs in int8, and the weight folding they need.

XNNPACK has no int8 RSQRT, GELU or SQUARED_DIFFERENCE, so an int8 model
using them leaves XNNPACK at every LayerNorm and GELU. Here 1/sqrt is
interpolated by two 1x1 convolutions, GELU is a sigmoid gate of tanh-made
terms, and the affines of the LayerNorms followed by a Dense over channels
live in that Dense (``XnnpackForm.values``). Same interface as
``convert.forms.PlainForm``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import tf_keras

from convert.forms import Wrap, centre, normalise, unwrapped
from convert.layers import PROBABILITY_RANGE, TANH_RANGE, Activation, AddConstant, Mean, Product

if TYPE_CHECKING:
    import tensorflow as tf

# The XNNPACK GELU (``gelu``): y * sigmoid(y * (OFFSET + y * tanh(y))) on
# y = GELU_SCALE * x; its sigmoid input is clamped to +-GATE_CLAMP.
GELU_SCALE, GELU_OFFSET, GATE_CLAMP = 0.4656563583704978, 3.3690024973585513, 10.0
GATE_INPUT = "gate_input"
# Geometric knots over the widened range: 48 segments keep the interpolation
# within 0.4% of 1/sqrt for variances spanning 1000x in calibration (0.06% for 10x).
RSQRT_SEGMENTS = 48


class XnnpackForm:
    """LayerNorm and GELU as XNNPACK's int8 kernels run them.

    ``variances``: {LayerNorm name: (min, max)} of the per-token variance each
    LayerNorm sees in calibration (``convert.graph.layer_norm_variances``),
    the range its 1/sqrt interpolation is fitted to."""

    name = "xnnpack"
    folds_affines = True
    logits_only = True
    needs_variances = True

    def __init__(self, variances: dict):
        self.variances = variances

    def layer_norm(
        self,
        x: tf.Tensor,
        name: str,
        epsilon: float,
        affine: bool = True,
        wrap: Wrap = unwrapped,
    ) -> tf.Tensor:
        """LayerNorm on ``x`` as MEAN, SUB, MUL, MEAN for the variance, then
        1/sqrt(variance + eps) interpolated piecewise-linearly over the
        calibrated range widened 2x each way, as two 1x1 convolutions:
        segment k's clamped ramp relu6(6 (v - t_k) / (t_k+1 - t_k)) (every
        ramp spans the same 0..6, so one int8 scale suits all), then the sum
        of the ramps weighted by each segment's rise / 6 (all of similar
        size, so int8 weights hold them). 1x1 convolutions rather than Dense:
        the converter fuses their bias and relu6, where a Dense on 3-D input
        leaves an int8 tensor before the bias."""
        _, centred = centre(x, name, wrap)
        square = wrap(Product(name=f"{name}_square"))([centred, centred])
        variance = wrap(Mean(name=f"{name}_variance"))(square)
        inverse_std = interpolated_rsqrt(variance, self.variances[name], epsilon, name, wrap)
        return normalise(centred, inverse_std, name, affine, wrap)

    def gelu(self, x: tf.Tensor, name: str, approximate: bool, wrap: Wrap = unwrapped) -> tf.Tensor:
        """GELU, taking ``y = GELU_SCALE * x`` (the Dense before is scaled:
        ``values``) and returning ``GELU_SCALE * gelu(x)`` (the Dense after
        divides), as

            y * sigmoid(v),   v = y * (GELU_OFFSET + y * tanh(y))

        in TANH, MUL, ADD, MUL, LOGISTIC, MUL. v follows the tanh form's
        2 sqrt(2/pi) (x + 0.044715 x^3) where the sigmoid is not saturated,
        with y tanh(y) standing in for y^2 (the cube would overflow int8
        ranges, and XNNPACK's int8 MUL of a tensor by itself is several times
        slower than of two tensors); GELU_SCALE and GELU_OFFSET minimise the
        largest error, 0.0013 against either GELU form (``approximate`` is
        immaterial). v's int8 range is fixed to +-GATE_CLAMP, where the
        sigmoid is saturated, so int8 resolves it in steps of 0.08 whatever
        the calibration (the layer is named ``..._gate_input``: its int8
        output saturates by design)."""
        squash = wrap(Activation("tanh", TANH_RANGE, name=f"{name}_tanh"))(x)
        v = wrap(Product(name=f"{name}_square"))([x, squash])
        v = wrap(AddConstant(GELU_OFFSET, name=f"{name}_offset"))(v)
        v = wrap(Product((-GATE_CLAMP, GATE_CLAMP), name=f"{name}_{GATE_INPUT}"))([x, v])
        gate = wrap(Activation("sigmoid", PROBABILITY_RANGE, name=f"{name}_gate"))(v)
        return wrap(Product(name=name))([x, gate])

    def values(self, values: dict, num_blocks: int) -> dict:
        """Official-path weights for this form, computing the same function: a
        LayerNorm followed by a Dense over channels (channel mixing, and the
        pre-head one through the mean over tokens) keeps only the
        normalisation: its gamma scales the Dense's kernel rows and
        beta @ kernel joins the bias; every MLP's first Dense is scaled by
        ``GELU_SCALE`` and its second Dense's kernel divided by it (``gelu``
        works scaled)."""
        values = dict(values)

        def fold_affine(norm, dense):
            gamma, beta = values.pop(f"{norm}/gamma"), values.pop(f"{norm}/beta")
            kernel = values[f"{dense}/kernel"]
            values[f"{dense}/bias"] = values[f"{dense}/bias"] + beta @ kernel
            values[f"{dense}/kernel"] = gamma[:, None] * kernel

        for i in range(num_blocks):
            block = f"MixerBlock_{i}"
            fold_affine(f"{block}/LayerNorm_1", f"{block}/channel_mixing/Dense_0")
            for mlp in ("token_mixing", "channel_mixing"):
                first, second = f"{block}/{mlp}/Dense_0", f"{block}/{mlp}/Dense_1"
                values[f"{first}/kernel"] = values[f"{first}/kernel"] * GELU_SCALE
                values[f"{first}/bias"] = values[f"{first}/bias"] * GELU_SCALE
                values[f"{second}/kernel"] = values[f"{second}/kernel"] / GELU_SCALE
        fold_affine("pre_head_layer_norm", "head")
        return values


def interpolated_rsqrt(
    variance: tf.Tensor,
    variance_range: tuple[float, float],
    epsilon: float,
    name: str,
    wrap: Wrap = unwrapped,
) -> tf.Tensor:
    """1/sqrt(variance + epsilon), piecewise linear over ``variance_range``
    widened 2x each way (``XnnpackForm.layer_norm``)."""
    knots = np.geomspace(variance_range[0] / 2, variance_range[1] * 2, RSQRT_SEGMENTS + 1)
    values = 1 / np.sqrt(knots + epsilon)
    widths, rises = np.diff(knots), np.diff(values)
    # Geometric knots give every ramp the same bias; TF 2.21's converter then
    # quantises that splat per-channel bias with the first channel's scale
    # only, for all: nudged apart by a millionth, they convert correctly.
    biases = -6 * knots[:-1] / widths * (1 + 1e-6 * np.arange(RSQRT_SEGMENTS))
    init = tf_keras.initializers.Constant
    L = tf_keras.layers
    tokens = variance.shape[1]
    variance = L.Reshape((tokens, 1, 1), name=f"{name}_variance_4d")(variance)
    ramps = wrap(
        L.Conv2D(
            RSQRT_SEGMENTS,
            1,
            activation="relu6",
            kernel_initializer=init(6 / widths),
            bias_initializer=init(biases),
            trainable=False,
            name=f"{name}_rsqrt_ramps",
        )
    )(variance)
    inverse_std = L.Conv2D(
        1,
        1,
        kernel_initializer=init(rises / 6),
        bias_initializer=init(values[:1]),
        trainable=False,
        name=f"{name}_rsqrt",
    )
    # Its int8 range is everything the interpolation can give: a variance
    # rounded below the calibrated ones must not clip its 1/sqrt.
    inverse_std.output_range = (0.0, float(values[0]))
    inverse_std = wrap(inverse_std)(ramps)
    return L.Reshape((tokens, 1), name=f"{name}_inverse_std")(inverse_std)
