"""``ConvertOptions``: what a conversion does (the ``convert`` command's
flags), checked before any work."""

from __future__ import annotations

import dataclasses
import math

from convert import modes
from convert.modes import DEFAULT_CALIBRATION, ESTIMATORS, TECHNIQUES


@dataclasses.dataclass(frozen=True)
class ConvertOptions:
    """What ``to_tflite`` does (the CLI's flags).

    ``graph``: for int8, "xnnpack" (every op inside XNNPACK, logits out: the
    softmax is the app's) or "plain" (TFLite's own LayerNorm and GELU ops);
    None picks the mode's default. ``calibration``: the range estimator
    (``convert.calibrate.ESTIMATORS``). ``debug_images``: images for the
    per-layer int8 error (0: skip it). ``keep_float``: also write
    ``<output>_keep_float<N>.tflite``, the int8 model with the N worst
    tensors' layers in float, and report what that buys. ``preprocessing``: the
    evaluation settings the command line stated; ``data``: the
    ``keras_mixer.datasets.DataSettings`` they resolve to
    (``convert.pipeline.resolve_data``: stated, then what the model carries,
    then its run's config, then the defaults; ``to_tflite`` resolves them
    once, when the caller has not).
    ``seed``: which calibration images are drawn and the order QAT sees its
    batches in (the evaluation images are the same whatever the seed).
    ``per_channel``, ``bias_correction``: ``convert.modes.TECHNIQUES``.
    ``logits``: for int8, "int8" (the head in int8, its logits out in the
    ``io`` type) or "float32" (the head in float, float32 logits out; the
    input stays ``io``): ``convert.modes.LOGITS_TYPES``."""

    mode: str = "qat"
    dataset: str = "digits"
    graph: str | None = None
    io: str = "uint8"
    logits: str = "int8"
    calibration: str = DEFAULT_CALIBRATION
    calibration_images: int = 200
    calibration_batch_size: int = 16
    qat_epochs: int = 1
    qat_steps: int | None = None
    qat_batch_size: int = 32
    qat_learning_rate: float = 1e-4
    eval_images: int | None = None
    debug_images: int = 16
    keep_float: int = 0
    num_threads: int = 2
    data: object = None  # a keras_mixer.datasets.DataSettings
    preprocessing: dict = dataclasses.field(default_factory=dict)
    seed: int = 0
    per_channel: bool = TECHNIQUES["per_channel"].default
    bias_correction: bool = TECHNIQUES["bias_correction"].default

    @property
    def recipe(self) -> modes.Mode:
        """The ``convert.modes.Mode`` named by ``mode``."""
        return modes.get(self.mode)

    def checked(self) -> ConvertOptions:
        """These options with the graph chosen, or a ValueError naming the bad one."""
        mode = self.recipe
        graph = self.graph or mode.graphs[0]
        if graph not in mode.graphs:
            raise ValueError(
                f"Mode {mode.name} writes the {' or '.join(mode.graphs)} graph; "
                f"got graph {graph!r}."
            )
        if self.io not in modes.IO_TYPES:
            raise ValueError(
                f"{flag_named('io')} must be one of {', '.join(modes.IO_TYPES)}; got {self.io!r}."
            )
        if self.logits not in modes.LOGITS_TYPES:
            raise ValueError(
                f"{flag_named('logits')} must be one of {', '.join(modes.LOGITS_TYPES)}; "
                f"got {self.logits!r}."
            )
        if self.logits != "int8" and not mode.integer:
            raise ValueError(
                f"{flag_named('logits')} {self.logits}: float logits are for an int8 mode "
                f"(--int8 or --ptq); a {mode.name} model's outputs are float already."
            )
        if self.calibration not in ESTIMATORS:
            raise ValueError(
                f"{flag_named('calibration')} must be one of {', '.join(ESTIMATORS)}; "
                f"got {self.calibration!r}."
            )
        for name in (
            "calibration_images",
            "calibration_batch_size",
            "qat_epochs",
            "qat_batch_size",
            "num_threads",
        ):
            _positive(name, getattr(self, name))
        for name in ("qat_steps", "eval_images"):
            if getattr(self, name) is not None:
                _positive(name, getattr(self, name))
        if not (
            isinstance(self.qat_learning_rate, (int, float))
            and 0 < self.qat_learning_rate < math.inf
        ):
            raise ValueError(
                f"{flag_named('qat_learning_rate')} must be a finite number above 0; "
                f"got {self.qat_learning_rate!r}."
            )
        for name in ("debug_images", "keep_float"):
            if getattr(self, name) < 0:
                raise ValueError(f"{flag_named(name)} must be 0 or more.")
        if self.keep_float and (not mode.integer or not self.debug_images):
            raise ValueError(
                "Keeping the worst layers in float needs an int8 mode (--int8 or "
                "--ptq) and debug images to rank the layers."
            )
        return dataclasses.replace(self, graph=graph)


def _positive(name, value):
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{flag_named(name)} must be a whole number of at least 1; got {value!r}.")


# Options whose command-line flag is not their name with dashes.
# Options whose command-line flag is not their name with dashes (None: no flag).
FLAGS = {"num_threads": "--threads", "calibration_batch_size": None}


def flag_named(option: str) -> str:
    """How a message names an option: the flag the user typed, then the
    option's own name for those who set it in Python (``--eval-images
    (eval_images)``); an option no flag sets, by its name alone."""
    flag = FLAGS.get(option, "--" + option.replace("_", "-"))
    return option if flag is None else f"{flag} ({option})"
