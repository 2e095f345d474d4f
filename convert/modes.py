"""The conversion choices: modes, graph forms and range estimators, read
by the CLI, the pipeline, the converter and the runtime (free of
TensorFlow, like ``convert.runtime``)."""

import dataclasses

# The deployment graph's forms (``convert.graph``): "xnnpack" runs whole in
# XNNPACK's int8 kernels, "plain" keeps TFLite's own LayerNorm and GELU ops.
FORMS = ("xnnpack", "plain")
# Range estimators of int8 calibration (``convert.calibrate``); percentile
# gave the lowest logit error on Mixer-S/16 and MNIST (README, "Quantisation").
ESTIMATORS = ("minmax", "percentile", "mse")
DEFAULT_CALIBRATION = "percentile"
# Input/output types of int8 models ("uint8": raw pixels in, as cameras give them).
IO_TYPES = ("uint8", "int8", "float32")
# How an int8 model's logits are made: "int8", the head in int8 and its
# logits out in the --io type; "float32", the head in float after the int8
# body (a DEQUANTIZE and a float FULLY_CONNECTED inside the same XNNPACK
# partition), float32 logits out.
LOGITS_TYPES = ("int8", "float32")
INT8_LEVELS = 255  # the steps of an int8 range


@dataclasses.dataclass(frozen=True)
class Mode:
    """One way to convert.

    ``integer``: a full-integer int8 model, made from the fake-quantised graph
    (``convert.quantize``); ``trains``: quantisation-aware training first;
    ``report_key``: the key of this model's accuracy in the report;
    ``graphs``: the deployment graphs it can be written in (the first is the
    default); ``flags``: its CLI spellings; ``optimise``: the converter
    stores the weights smaller (int8, or ``float16``) (``convert.tflite``)."""

    name: str
    integer: bool
    trains: bool
    report_key: str
    graphs: tuple
    flags: tuple
    help: str
    optimise: bool = True
    float16: bool = False


MODES = {
    mode.name: mode
    for mode in (
        Mode(
            "qat",
            True,
            True,
            "qat_int8",
            ("xnnpack", "plain"),
            ("--int8", "--qat"),
            "quantisation-aware training (distilled from the float model), then full-integer int8",
        ),
        Mode(
            "ptq",
            True,
            False,
            "ptq_int8",
            ("xnnpack", "plain"),
            ("--ptq",),
            "post-training full-integer int8: ranges calibrated, no training",
        ),
        Mode(
            "fp16",
            False,
            False,
            "fp16",
            ("plain",),
            ("--fp16",),
            "float16 weights, float computation",
            float16=True,
        ),
        Mode(
            "dynamic",
            False,
            False,
            "dynamic",
            ("plain",),
            ("--dynamic-range",),
            "int8 weights, float activations",
        ),
        Mode(
            "float32",
            False,
            False,
            "float32",
            ("plain",),
            (),
            "float32 (the default without a mode flag)",
            optimise=False,
        ),
    )
}
# Without a mode flag; also the reference ``convert --benchmark`` measures against.
FLOAT32 = MODES["float32"]


@dataclasses.dataclass(frozen=True)
class Technique:
    """A switch of int8 conversion (``--NAME`` / ``--no-NAME`` on the command
    line, a ``ConvertOptions`` field), on by ``default`` only where it
    measured better (README, "Quantisation quality")."""

    name: str
    default: bool
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


TECHNIQUES = {
    technique.name: technique
    for technique in (
        Technique(
            "per_channel",
            True,
            "one int8 weight scale per output unit of every Dense and convolution (TFLite's "
            "FULLY_CONNECTED and XNNPACK take them); --no-per-channel: one per Dense matrix",
        ),
        Technique(
            "bias_correction",
            False,
            "fold into each layer's bias the mean shift quantising its weights gives its "
            "outputs, measured on the calibration images",
        ),
    )
}


# Other names users write for the modes (``convert compare --modes fp32,int8``).
ALIASES = {"fp32": "float32", "int8": "qat", "dynamic-range": "dynamic"}


def get(name: str | Mode) -> Mode:
    """The Mode called ``name`` or one of its ``ALIASES`` (a Mode is itself),
    or a ValueError listing the known ones."""
    if isinstance(name, Mode):
        return name
    name = ALIASES.get(name, name)
    if name not in MODES:
        known = ", ".join([*MODES, *ALIASES])
        raise ValueError(f"mode must be one of {known}; got {name!r}.")
    return MODES[name]
