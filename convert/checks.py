"""What a conversion refuses or warns of that its options alone do not show
(non-finite weights: ``keras_mixer.architecture.refuse_non_finite_weights``):
``--keep-float`` beyond the graph's keepable layers,
too few calibration images (the stages of ``convert.pipeline`` call these)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from convert import verify
from convert.options import flag_named

if TYPE_CHECKING:
    import tf_keras

    from convert.clock import Clock
    from convert.options import ConvertOptions
    from convert.verification import Verification


# Below this many calibration images the ranges miss what other images hold.
# Measured on the tiny digits model (PTQ, relative L2 from Keras): 1 image
# 0.209, 4 0.087, 16 0.039, 32 0.028, 64 0.025, 200 0.024.
MIN_CALIBRATION_IMAGES = 32


def warn_of_few_calibration_images(
    calibration: dict | None, verification: Verification, clock: Clock
) -> None:
    """One warning line (also in the report's ``calibration``) when the
    ranges came from fewer than ``MIN_CALIBRATION_IMAGES``, with what this
    model's int8 outputs then measure."""
    if calibration is None or calibration["images"] >= MIN_CALIBRATION_IMAGES:
        return
    distance = verify.l2_text(verification.found["relative_l2"], digits=3)
    calibration["warning"] = (
        f"only {calibration['images']} calibration images (at least "
        f"{MIN_CALIBRATION_IMAGES} advised): this model's int8 outputs lie at relative L2 "
        f"{distance} from Keras (top-1 agreement "
        f"{verification.found['top1_agreement']:.4f}); ranges from few images clip what "
        "other images hold (the digits model: 0.087 at 4 images, 0.024 at 200)"
    )
    clock(f"warning: {calibration['warning']}")


def check_keep_float(quantised: tf_keras.Model, options: ConvertOptions) -> None:
    """Refuses ``--keep-float N`` beyond the layers the graph can keep in float."""
    available = len(verify.keep_float_candidates(quantised))
    if options.keep_float > available:
        raise ValueError(
            f"{flag_named('keep_float')} {options.keep_float}: this model's {options.graph} "
            "int8 graph has "
            f"{available} layers that can be kept in float; choose at most {available}."
        )
