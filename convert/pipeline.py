"""``to_tflite``: a keras_mixer model to a TFLite model plus its verification report.

A conversion is a short sequence of stages, each returning its result:
samples (``Samples``: evaluation, calibration and training images) ->
graph, quantise (int8 modes: calibrate the fake-quantised graph), train
(QAT) and convert (``Converted``: the TFLite model, with what calibration
and training did) -> metadata -> verify (``Verification``) -> write; the
report is assembled from those results at the end (``_report``). The
recipe is ``options.recipe``, a ``convert.modes.Mode``.

The report (written as JSON beside the model) holds the op census with
every float op listed, the XNNPACK delegation, top-1 accuracy and agreement
with the Keras model on the evaluation split, the relative L2 distance of
the scores from the float model's, the file size and, for int8, how
faithfully the file computes the fake-quantised graph it came from, the
ranges' calibration and the per-layer int8 error (worst first).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf

from convert import checks, forms, modes, runtime, tflite, verify
from convert.graph import build_graph, layer_norm_variances, mixer_spec, model_values
from convert.metadata import add_metadata
from convert.modes import DEFAULT_CALIBRATION, ESTIMATORS, TECHNIQUES
from convert.outputs import check_output, keep_float_path, report_path
from keras_mixer.files import atomic_path, held, json_text

if TYPE_CHECKING:
    from keras_mixer.datasets import Split


@dataclasses.dataclass(frozen=True)
class ConvertOptions:
    """What ``to_tflite`` does (the CLI's flags).

    ``graph``: for int8, "xnnpack" (every op inside XNNPACK, logits out: the
    softmax is the app's) or "plain" (TFLite's own LayerNorm and GELU ops);
    None picks the mode's default. ``calibration``: the range estimator
    (``convert.calibrate.ESTIMATORS``). ``debug_images``: images for the
    per-layer int8 error (0: skip it). ``keep_float``: also write
    ``<output>_keep_float<N>.tflite``, the int8 model with the N worst
    tensors' layers in float, and report what that buys. ``data``: the
    ``keras_mixer.datasets.DataSettings`` to read ``dataset`` with (the
    run's config, stated settings); None: the defaults for that dataset.
    ``seed``: which calibration images are drawn and the order QAT sees its
    batches in (the evaluation images are the same whatever the seed).
    ``per_channel``, ``bias_correction``: ``convert.modes.TECHNIQUES``."""

    mode: str = "qat"
    dataset: str = "digits"
    graph: str | None = None
    io: str = "uint8"
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
            raise ValueError(f"io must be one of {', '.join(modes.IO_TYPES)}; got {self.io!r}.")
        if self.calibration not in ESTIMATORS:
            raise ValueError(
                f"Calibration must be one of {', '.join(ESTIMATORS)}; got {self.calibration!r}."
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
                "qat_learning_rate must be a finite number above 0; "
                f"got {self.qat_learning_rate!r}."
            )
        if self.debug_images < 0 or self.keep_float < 0:
            raise ValueError("debug_images and keep_float must be 0 or more.")
        if self.keep_float and (not mode.integer or not self.debug_images):
            raise ValueError(
                "Keeping the worst layers in float needs an int8 mode (--int8 or "
                "--ptq) and debug images to rank the layers."
            )
        return dataclasses.replace(self, graph=graph)


def _positive(name, value):
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1; got {value!r}.")


@dataclasses.dataclass
class Samples:
    """The images one conversion uses (raw 0-255 pixels), and the Keras
    model's scores on the evaluation ones."""

    class_names: list
    eval_pixels: np.ndarray
    eval_labels: np.ndarray
    keras_scores: np.ndarray | None = None  # the model's outputs (probabilities for softmax)
    keras_logits: np.ndarray | None = None  # its head's logits
    calibration: np.ndarray | None = None
    train_batches: object = None  # a tf.data.Dataset of (images, one-hot labels), for QAT
    train_steps: int = 0  # batches in one pass over the training split
    held_back: np.ndarray | None = None  # training images QAT does not train on (uint8)
    held_back_logits: np.ndarray | None = None  # the Keras model's logits on them

    def take_calibration(self) -> np.ndarray:
        """The calibration images, handed over: these samples no longer hold
        them, so once the caller drops them the converter's memory peak is
        its own."""
        images, self.calibration = self.calibration, None
        return images


class Clock:
    """Logs each stage with the seconds since the start, and keeps the times."""

    def __init__(self, log: Callable[[str], None]):
        self.log, self.start, self.stages = log, time.perf_counter(), {}

    def __call__(self, text):
        self.log(f"[{time.perf_counter() - self.start:6.1f}s] {text}")

    def stage(self, name: str) -> None:
        """Records the end of a stage (seconds since the previous one)."""
        now = time.perf_counter() - self.start
        self.stages[name] = round(now - sum(self.stages.values()), 2)
        if os.environ.get("KERAS_MIXER_MEMORY"):  # development: peak memory per stage
            with open("/proc/self/status") as f:
                status = dict(line.split(":", 1) for line in f)
            self.log(
                f"    {name}: peak {int(status['VmHWM'].split()[0]) // 1024} MB, "
                f"now {int(status['VmRSS'].split()[0]) // 1024} MB"
            )
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")


@dataclasses.dataclass
class Converted:
    """Stages graph -> quantise -> train -> convert: a TFLite model and the
    graph it was converted from (for int8, the fake-quantised graph, and the
    ``convert.forms`` form it was built in), with what calibration and QAT
    did (their report sections)."""

    flatbuffer: bytes
    graph: object
    spec: dict
    logits: bool  # the output is logits (softmax left to the app)
    form: object = None  # a convert.forms.Form
    calibration: dict | None = None
    qat: dict | None = None
    calibrated_top1: float | None = None  # QAT: the calibrated graph's, in TensorFlow


@dataclasses.dataclass
class Verification:
    """Stage verify: the file's top-1 on the evaluation images and its report
    section (ops, delegation, agreement and error against Keras, for int8 the
    fidelity, output floor and per-layer error)."""

    top1: float
    found: dict


def to_tflite(
    model: keras.Model | str,
    output: str,
    options: ConvertOptions | None = None,
    log: Callable[[str], None] = print,
    **settings: Any,
) -> dict:
    """Converts ``model`` (a keras_mixer classifier, or the path of its
    ``.keras`` file: then its run's ``config.json`` beside it gives the data
    settings), writes ``output`` and, beside it, the report (same name,
    .json), and returns the report.

    ``options``: a ``ConvertOptions``; ``settings`` override its fields
    (``to_tflite(model, path, mode="ptq", dataset="digits")``)."""

    options = dataclasses.replace(options or ConvertOptions(), **settings).checked()
    check_output(output, options)  # before any work
    with held(output):  # one conversion writes an output (and its report) at a time
        return _converted(model, output, options, log)


def _converted(model, output, options, log):
    """``to_tflite``'s stages, once its options and output are checked."""
    from keras_mixer import datasets

    path = None
    if isinstance(model, (str, os.PathLike)):
        from keras_mixer import load_model

        path, model = str(model), load_model(model)
    mode = options.recipe
    spec = mixer_spec(model)  # a keras_mixer classifier, or a clear error
    checks.refuse_non_finite_weights(model)
    if spec["classes"] is None:
        raise ValueError("Conversion needs a classifier: build the model with include_top=True.")
    if options.data is None:
        options = dataclasses.replace(
            options,
            data=datasets.data_settings(
                path, options.dataset, spec["image_shape"][:2], options.preprocessing
            ),
        )
    clock = Clock(log)
    clock(options.data.line())
    samples = load_samples(model, options, clock)
    float_top1 = verify.accuracy(samples.keras_scores, samples.eval_labels)
    clock(f"Keras model: top-1 {float_top1:.4f}")
    clock.stage("samples")
    build = _integer_model if mode.integer else _float_model
    converted = build(model, spec, samples, options, clock)
    with _without_grappler():
        flatbuffer = _with_metadata(
            converted.flatbuffer, spec, options, samples, converted.logits, mode.report_key
        )
        verification = _verify(flatbuffer, converted, samples, options, clock)
        checks.warn_of_few_calibration_images(converted.calibration, verification, clock)
        keep_float = None
        if options.keep_float:
            keep_float = _keep_float(
                model,
                converted,
                samples,
                verification.found["layer_errors"],
                options,
                output,
                clock,
            )
    clock.stage("verify")
    report = _report(options, float_top1, converted, verification, keep_float, flatbuffer, model)
    report["seconds"] = clock.stages
    json_path = report_path(output)
    # Both written before either is renamed into place: a pair from one run.
    with atomic_path(output) as model_part, atomic_path(json_path) as report_part:
        with open(model_part, "wb") as f:
            f.write(flatbuffer)
        with open(report_part, "w") as f:
            f.write(json_text(report))
    clock(f"wrote {output} ({len(flatbuffer) / 1024:.0f} KiB) and {json_path}")
    return report


def _report(options, float_top1, converted, verification, keep_float, flatbuffer, model):
    """The conversion's report (written as JSON beside the model), from the stages' results."""
    mode = options.recipe
    accuracy = {"float": float_top1}
    if converted.calibrated_top1 is not None:
        accuracy["ptq_int8"] = converted.calibrated_top1
    accuracy[mode.report_key] = verification.top1
    report = {
        "mode": mode.name,
        "dataset": options.dataset,
        "data": options.data.report(),
        "io": options.io if mode.integer else "float32",
        "graph": options.graph,
        "accuracy": accuracy,
    }
    for key, section in (("calibration", converted.calibration), ("qat", converted.qat)):
        if section is not None:
            report[key] = section
    report["output"] = "logits" if converted.logits else "probabilities"
    report.update(verification.found)
    if keep_float is not None:
        report["keep_float"] = keep_float
    weights = model.count_params()
    return {
        **report,
        "size_bytes": len(flatbuffer),
        "weights": weights,
        "bytes_per_weight": len(flatbuffer) / weights,
    }


@contextlib.contextmanager
def _without_grappler():
    """TensorFlow's graph optimiser off for the conversion's own functions: on
    these graphs of thousands of small ops it costs more on each function's
    first call (16 s for a Mixer-B/16's traced per-layer error pass, measured) than it saves."""
    option = "disable_meta_optimizer"
    before = tf.config.optimizer.get_experimental_options().get(option, False)
    tf.config.optimizer.set_experimental_options({option: True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({option: before})


def load_samples(model: keras.Model, options: ConvertOptions, clock: Clock) -> Samples:
    """The evaluation split with the Keras model's scores on it (and, for
    int8, calibration images, and for QAT its training batches and the
    images held back from them) of ``options.dataset`` at the model's input
    size, read as ``options.data`` says."""
    from keras_mixer import datasets

    settings = options.data or datasets.data_settings(None, options.dataset, model.input_shape[1:3])
    data_config = settings.config
    val = datasets.read_split(options.dataset, "val", data_config)
    classes = model.output_shape[-1]
    if val.num_classes != classes:
        raise ValueError(
            f"Dataset {options.dataset} has {val.num_classes} classes; the model's "
            f"head has {classes}."
        )

    def drawn(split, limit, seed=0):
        """Up to ``limit`` images drawn across the split (files come sorted by class)."""
        if limit:
            buffer = min(split.size, data_config["shuffle_buffer"])
            split = dataclasses.replace(split, examples=split.examples.shuffle(buffer, seed=seed))
        once = dict(data_config, cache=False)  # read once: nothing to cache
        return _collect(datasets.pipeline(split, False, once, 64, scale=False), limit)

    pixels, labels = drawn(val, options.eval_images)
    samples = Samples(val.class_names, pixels, labels)
    samples.keras_scores, samples.keras_logits = keras_outputs(model, pixels)
    clock(f"evaluation split: {len(labels)} {options.dataset} images")
    if options.recipe.integer:
        train = datasets.read_split(options.dataset, "train", data_config, shuffle_files=False)
        samples.calibration, _ = drawn(train, options.calibration_images, options.seed)
        drawn_images = len(samples.calibration)
        short = (
            f" (asked for {options.calibration_images}: all the split has)"
            if drawn_images < options.calibration_images
            else ""
        )
        clock(f"calibration: {drawn_images} {options.dataset} training images{short}")
    if options.recipe.trains:
        held_back, train = held_back_split(train)
        samples.held_back = np.round(drawn(held_back, HELD_BACK_IMAGES)[0]).astype(np.uint8)
        samples.held_back_logits = keras_outputs(model, samples.held_back)[1]
        samples.train_steps = train.size // options.qat_batch_size
        if not samples.train_steps:
            raise ValueError(
                f"QAT needs at least one batch of {options.qat_batch_size} "
                f"training images; {options.dataset} has {train.size} besides "
                f"the {held_back.size} it holds back to check the training."
            )
        # The images as the app sees them: no augmentation.
        samples.train_batches = datasets.pipeline(
            train,
            True,
            data_config,
            options.qat_batch_size,
            options.seed,
            scale=False,
            augment=False,
        )
    return samples


# QAT holds back every HELD_BACK_EVERY-th training image (at most
# HELD_BACK_IMAGES of them are scored) to choose between the graph it
# trained and the calibrated one it started from.
HELD_BACK_EVERY, HELD_BACK_IMAGES = 10, 512


def held_back_split(split: Split) -> tuple[Split, Split]:
    """(held back, rest) of a training split: every ``HELD_BACK_EVERY``-th
    example in its (fixed) order, the others."""
    indexed = split.examples.enumerate()

    def part(keep):
        return indexed.filter(lambda i, _: keep(i % HELD_BACK_EVERY == 0)).map(
            lambda _, example: example
        )

    held = -(-split.size // HELD_BACK_EVERY)
    return (
        dataclasses.replace(split, examples=part(lambda chosen: chosen), size=held),
        dataclasses.replace(split, examples=part(tf.logical_not), size=split.size - held),
    )


def keras_outputs(
    model: keras.Model, pixels: np.ndarray, batch_size: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """A keras_mixer classifier's outputs and its head's logits on raw pixels."""
    import keras

    import keras_mixer

    head = model.get_layer("head")
    features = keras.Model(model.inputs, head.input)
    pooled = verify.scores_of(features, keras_mixer.preprocess_input(pixels), batch_size)
    kernel, bias = (np.asarray(w, np.float64) for w in head.get_weights())
    logits = (pooled.astype(np.float64) @ kernel + bias).astype(np.float32)
    scores = keras.ops.convert_to_numpy(head.activation(logits))
    return scores, logits


def _float_model(model, spec, samples, options, clock):
    """Stages graph -> convert for a float mode (float32, fp16, dynamic)."""
    plain = build_graph(spec, model_values(model), batch_size=None)
    with _without_grappler():
        flatbuffer = tflite.convert(plain, options.recipe)
    clock.stage("convert")
    return Converted(flatbuffer, plain, spec, spec["classifier_activation"] is None)


def _integer_model(model, spec, samples, options, clock):
    """Stages graph -> quantise (calibrate, and train for QAT) -> convert.
    Int8 graphs output logits: the classifier activation is the app's."""
    from convert.calibrate import calibrate

    values = model_values(model)
    images = samples.take_calibration()
    quantised, graph_form = fake_quantised_graph(spec, values, images, options)
    checks.check_keep_float(quantised, options)
    teacher = None  # QAT's: the float graph ``quantised`` learns to reproduce
    if options.recipe.trains:
        teacher = build_graph(spec, values, graph_form, batch_size=None, logits=True)
    del values  # the graphs hold their own copies (B/16: 240 MB)
    clock.stage("graph")
    with _without_grappler():
        calibrate(quantised, images, options.calibration, options.calibration_batch_size)
        calibration = {
            "estimator": options.calibration,
            "images": len(images),
            "per_channel": options.per_channel,
        }
        clock(
            f"calibrated the {options.graph} graph's ranges ({options.calibration}, "
            f"{len(images)} images; weights per "
            f"{'output unit' if options.per_channel else 'Dense matrix'})"
        )
        if options.bias_correction:
            from convert.bias_correction import correct_biases

            calibration["bias_correction"] = correct_biases(
                quantised, images, options.calibration_batch_size
            )
            clock(f"bias correction: {calibration['bias_correction']['layers']} layers")
        del images  # not needed again: the converter's memory peak is then its own
        gc.collect()
        clock.stage("calibrate")
        qat = calibrated_top1 = None
        if teacher is not None:
            qat, calibrated_top1 = _train(quantised, teacher, samples, options, clock)
            del teacher
            clock.stage("train")
        flatbuffer = tflite.convert(quantised, options.recipe, options.io)
    clock("converted to TFLite")
    clock.stage("convert")
    return Converted(
        flatbuffer, quantised, spec, True, graph_form, calibration, qat, calibrated_top1
    )


def fake_quantised_graph(
    spec: dict, values: dict, images: np.ndarray, options: ConvertOptions
) -> tuple[object, forms.Form]:
    """The fake-quantised deployment graph of ``options.graph`` (not yet
    calibrated) and its ``convert.forms`` form, fitted (XNNPACK's 1/sqrt)
    to the first calibration ``images``."""
    from convert.quantize import quantised_graph

    variances = None
    # (grappler on here: its fusions run the plain graph 2x as fast)
    if forms.form_class(options.graph).needs_variances:
        plain = build_graph(spec, values, batch_size=None)
        variances = layer_norm_variances(plain, images[:VARIANCE_IMAGES])
        del plain
        gc.collect()  # a tf_keras model's reference cycles hold its variables (B/16: 240 MB)
    graph_form = forms.form(options.graph, variances)
    quantised = quantised_graph(spec, values, graph_form, per_channel=options.per_channel)
    return quantised, graph_form


def _train(quantised, teacher, samples, options, clock):
    """QAT: ``quantised`` distilled from ``teacher``, its float graph, then
    kept only if it beats the calibrated graph it started from on the
    held-back training images (``convert.qat.better``). Returns (what it
    did, the calibrated graph's top-1 on the evaluation images)."""
    from convert.qat import better, distil, held_back_score

    calibrated = verify.scores_of(quantised, samples.eval_pixels)
    calibrated_top1 = verify.accuracy(calibrated, samples.eval_labels)
    clock(f"calibrated graph (in TensorFlow): top-1 {calibrated_top1:.4f}")
    start = [variable.numpy() for variable in quantised.weights]
    before = held_back_score(quantised, samples.held_back, samples.held_back_logits)
    steps = options.qat_epochs * (options.qat_steps or samples.train_steps)
    clock(f"quantisation-aware training: {steps} steps of {options.qat_batch_size} images")
    found = distil(
        quantised, teacher, samples.train_batches, steps, options.qat_learning_rate, log=clock
    )
    after = held_back_score(quantised, samples.held_back, samples.held_back_logits)
    trained_wins, why = better(after, before)
    if not trained_wins:
        for variable, value in zip(quantised.weights, start):
            variable.assign(value)
    found["held_back"] = {"images": len(samples.held_back), "calibrated": before, "trained": after}
    found["written"] = "trained" if trained_wins else "calibrated"
    found["why"] = why
    clock(
        f"QAT on {len(samples.held_back)} held-back training images: calibrated agreement "
        f"{before['top1_agreement']:.4f}, relative L2 {verify.l2_text(before['relative_l2'])}; "
        f"trained {after['top1_agreement']:.4f}, {verify.l2_text(after['relative_l2'])}: "
        f"writing the {found['written']} graph ({why})"
    )
    return found, calibrated_top1


# The XNNPACK LayerNorms' 1/sqrt interpolation is fitted to the variances
# these many calibration images show (its range is widened 2x each way).
VARIANCE_IMAGES = 32


def _verify(flatbuffer, converted, samples, options, clock) -> Verification:
    """Stage verify: the model's scores against the Keras model's, its ops
    and delegation and, for int8, its fidelity to the graph it came from and
    the per-layer error."""
    mode = options.recipe
    runner = runtime.interpreter(flatbuffer, options.num_threads)
    scores = runtime.run_all(runner, samples.eval_pixels)
    probs = _probabilities(scores, converted)
    reference = samples.keras_logits if converted.logits else samples.keras_scores
    ops, float_ops = runtime.op_census(flatbuffer)
    top1 = verify.accuracy(probs, samples.eval_labels)
    found = {
        "ops": ops,
        "float_ops": float_ops,
        "xnnpack": runtime.delegation(runner),
        "top1_agreement": verify.agreement(probs, samples.keras_scores),
        "mean_abs_prob_error": float(np.abs(probs - samples.keras_scores).mean()),
        "relative_l2": verify.relative_l2(scores, reference),
        "eval_images": len(scores),
    }
    distance = found["relative_l2"]
    clock(
        f"{mode.report_key}: top-1 {top1:.4f}, agreement with "
        f"Keras {found['top1_agreement']:.4f}, relative L2 from Keras " + verify.l2_text(distance)
    )
    if mode.integer:
        graph_scores, rows = verify.quantised_pass(
            converted.graph, samples.eval_pixels, min(options.debug_images, len(scores))
        )
        # The int8 logits' steps (also behind a float32 output's DEQUANTIZE).
        output_scale, zero_point = verify.logits_quantisation(converted.graph)
        found["graph_fidelity"] = verify.fidelity(scores, graph_scores, output_scale)
        found["output_floor"] = verify.output_floor(samples.keras_logits, output_scale, zero_point)
        clock(
            f"int8 logits alone (every other tensor float) would agree on "
            f"{found['output_floor']['top1_agreement']:.4f}: "
            f"{found['output_floor']['within_one_step']} images' top two logits lie within "
            "one output step"
        )
        clock(
            "fidelity to the fake-quantised graph: top-1 "
            f"{found['graph_fidelity']['top1_agreement']:.4f}, within 2 output steps "
            f"{found['graph_fidelity']['within_2_steps']:.4f}"
        )
        if options.debug_images:
            found["layer_errors"] = rows
            for row in rows[:5]:
                clock(
                    f"  {row['rmse_per_scale']:5.2f} steps RMSE  {row['op']:<16} "
                    f"{row['layer']}  ({row['clipped']:.2%} clipped)"
                )
    return Verification(top1, found)


def _probabilities(scores, converted):
    """Scores comparable with the Keras model's: the model's classifier
    activation applied to logits (an int8 model's output)."""
    activation = converted.spec["classifier_activation"]
    if not converted.logits or activation is None:
        return scores
    if activation == "softmax":
        return runtime.softmax(scores)
    import keras

    return keras.ops.convert_to_numpy(keras.activations.get(activation)(scores))


def _keep_float(model, converted, samples, layer_errors, options, output, clock):
    """The int8 model with the layers of the ``options.keep_float`` worst
    tensors in float (``verify.keep_float_candidates``), written beside
    ``output``; what it buys."""
    from convert.quantize import copy_variables, quantised_graph

    candidates = set(verify.keep_float_candidates(converted.graph))
    ranked = [row["layer"] for row in layer_errors if row["layer"] in candidates]
    names = ranked[: options.keep_float]
    graph = quantised_graph(
        converted.spec,
        model_values(model),
        converted.form,
        float_layers=names,
        per_channel=options.per_channel,
    )
    copy_variables(converted.graph, graph)  # QAT's weights and ranges
    flatbuffer = _with_metadata(
        tflite.convert(graph, options.recipe, options.io),
        converted.spec,
        options,
        samples,
        converted.logits,
        f"int8 with {len(names)} float layers",
    )
    probs = _probabilities(
        runtime.run_all(runtime.interpreter(flatbuffer, options.num_threads), samples.eval_pixels),
        converted,
    )
    path = keep_float_path(output, options.keep_float)
    found = {
        "path": path,
        "float_layers": names,
        "accuracy": verify.accuracy(probs, samples.eval_labels),
        "top1_agreement": verify.agreement(probs, samples.keras_scores),
        "float_ops": runtime.op_census(flatbuffer)[1],
        "size_bytes": len(flatbuffer),
    }
    tflite.write(flatbuffer, path)
    clock(
        f"int8 with the {len(names)} worst layers in float: top-1 {found['accuracy']:.4f}; "
        f"wrote {path}"
    )
    return found


def _with_metadata(flatbuffer, spec, options, samples, logits, kind):
    data = options.data.config
    return add_metadata(
        flatbuffer,
        name=spec["name"],
        labels=samples.class_names,
        logits=logits,
        description=f"MLP-Mixer (patch {spec['patch_size']}, hidden {spec['hidden_size']}, "
        f"{spec['num_blocks']} blocks) for {options.dataset}, {kind} TFLite by "
        "keras-mixer. Input: RGB pixels 0-255.",
        preprocessing={"eval_crop": data["eval_crop"], "resize_method": data["resize_method"]},
    )


def _collect(batches, limit):
    """(images, class indices) from one pass over ``batches``, at most ``limit``."""
    images, labels = [], []
    for x, y in batches:
        images.append(x.numpy())
        labels.append(y.numpy().argmax(-1))
        if limit and len(images) * len(images[0]) >= limit:
            break
    return np.concatenate(images)[:limit], np.concatenate(labels)[:limit]
