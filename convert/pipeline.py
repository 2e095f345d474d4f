"""``to_tflite``: a keras_mixer model to a TFLite model plus its verification report.

Modes: "qat" (quantisation-aware fine-tuning on a dataset, then full int8),
"ptq" (full int8 calibrated on the dataset), "fp16", "dynamic", "float32".
Every model gets TFLite metadata (name, description, normalisation, the
dataset's class names as labels). The report (written as JSON beside the
model) holds the op census with every float op listed, agreement with the
Keras model and top-1 accuracy on the evaluation split, the file size and,
for int8, the per-layer quantisation error (worst first).
"""

import dataclasses
import os
import time

import numpy as np

from convert import runtime, tflite
from convert.graph import build_tf_keras, layer_norm_variances, mixer_spec, twin_values
from convert.metadata import add_metadata

MODES = ("qat", "ptq", "fp16", "dynamic", "float32")
GRAPHS = ("xnnpack", "plain")


def to_tflite(model, output, mode="qat", dataset="digits", io="uint8", qat_epochs=1,
              qat_steps=None, qat_batch_size=32, calibration_images=200, eval_images=None,
              debug_images=16, keep_float=0, graph="xnnpack", num_threads=2, data_config=None,
              log=print):
    """Converts ``model`` (a keras_mixer classifier) and writes ``output`` and
    ``output`` with a .json suffix. Returns the report dict.

    ``data_config``: the data section of the model's training config
    (augmentation for QAT, evaluation crop); defaults otherwise.
    ``debug_images``: images for the per-layer error of int8 (0: skip it).
    ``keep_float``: also write ``<output>_keep_float<N>.tflite``, the PTQ
    model with the N worst layers in float, and report what that buys.
    ``graph``: for int8, "xnnpack" (every op runs inside XNNPACK; logits out,
    the softmax is the app's: ``convert.graph.build_tf_keras``) or "plain"
    (LayerNorm and GELU as TFLite's own ops)."""
    from training import data as data_lib
    from training.config import DEFAULTS

    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}.")
    if graph not in GRAPHS:
        raise ValueError(f"graph must be one of {', '.join(GRAPHS)}; got {graph!r}.")
    if keep_float and (mode not in ("qat", "ptq") or not debug_images):
        raise ValueError("Keeping the worst layers in float needs an int8 mode (--int8 or "
                         "--ptq) and debug images to rank the layers.")
    spec = mixer_spec(model)  # a keras_mixer classifier, or a clear error
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise ValueError(f"Output folder {folder!r} does not exist.")
    data_config = {**DEFAULTS["data"], **(data_config or {}), "dataset": dataset,
                   "image_size": model.input_shape[1]}
    val = data_lib.read_split(dataset, "val", data_config)
    classes = model.output_shape[-1]
    if val.num_classes != classes:
        raise ValueError(f"Dataset {dataset} has {val.num_classes} classes; the model's head "
                         f"has {classes}.")
    steps = time.perf_counter()

    def phase(text):
        log(f"[{time.perf_counter() - steps:6.1f}s] {text}")

    def raw_batches(split, train, batch):
        return data_lib.pipeline(split, train, data_config, DEFAULTS["train"], batch,
                                 scale=False)

    def sample(split, limit):
        """Up to ``limit`` images drawn across the split (files come sorted by class)."""
        if limit:
            buffer = min(split.size, data_config["shuffle_buffer"])
            split = dataclasses.replace(split, examples=split.examples.shuffle(buffer, seed=0))
        return _collect(raw_batches(split, False, 64), limit)

    eval_pixels, eval_labels = sample(val, eval_images)
    phase(f"evaluation split: {len(eval_labels)} {dataset} images")

    integer = mode in ("qat", "ptq")
    graph = graph if integer else "plain"
    # The XNNPACK graph leaves the softmax to the app; scores compare as probabilities.
    logits_out = graph == "xnnpack" or spec["classifier_activation"] != "softmax"
    to_probs = (runtime.softmax if logits_out and spec["classifier_activation"] == "softmax"
                else None)
    report = {"mode": mode, "dataset": dataset, "io": io if integer else "float32",
              "graph": graph, "output": "logits" if logits_out else "probabilities"}
    import keras_mixer

    def with_metadata(flatbuffer, kind):
        return add_metadata(
            flatbuffer, name=model.name, labels=val.class_names, logits=logits_out,
            description=f"MLP-Mixer (patch {spec['patch_size']}, hidden {spec['hidden_size']}, "
                        f"{spec['num_blocks']} blocks) for {dataset}, {kind} TFLite by keras-mixer."
                        " Input: RGB pixels 0-255.")

    keras_probs = model.predict(keras_mixer.preprocess_input(eval_pixels), verbose=0)
    accuracy = {"float": _accuracy(keras_probs, eval_labels)}
    phase(f"Keras model: top-1 {accuracy['float']:.4f}")

    twin = build_tf_keras(model)
    float32 = tflite.convert(twin, "float32")
    if integer:
        train = data_lib.read_split(dataset, "train", data_config)
        calibration, _ = sample(train, calibration_images)

        def representative():
            for image in calibration:
                yield [image[None]]

        if graph == "xnnpack":
            variances = layer_norm_variances(twin, calibration[:64])
            twin = build_tf_keras(model, xnnpack_variances=variances)
        phase(f"post-training quantisation ({graph} graph, {len(calibration)} calibration "
              "images)")
        ptq = tflite.convert(twin, "int8", representative, io)
        accuracy["ptq_int8"] = _accuracy(
            _run_all(runtime.interpreter(ptq, num_threads), eval_pixels, to_probs), eval_labels)
        phase(f"PTQ int8: top-1 {accuracy['ptq_int8']:.4f}")
        if debug_images:
            report.update(_layer_errors(twin, representative, calibration[:debug_images],
                                        keep_float, output, eval_pixels, eval_labels,
                                        keras_probs, to_probs, num_threads, with_metadata, phase))
        flatbuffer = ptq
        if mode == "qat":
            flatbuffer = _quantisation_aware(model, raw_batches(train, True, qat_batch_size),
                                             qat_epochs, qat_steps, io, phase, representative,
                                             calibration, graph == "xnnpack")
    else:
        flatbuffer = float32 if mode == "float32" else tflite.convert(twin, mode)
    key = runtime.ACCURACY_KEYS[mode]
    flatbuffer = with_metadata(flatbuffer, key)
    runner = runtime.interpreter(flatbuffer, num_threads)
    probs = _run_all(runner, eval_pixels, to_probs)
    accuracy[key] = _accuracy(probs, eval_labels)
    phase(f"{key}: top-1 {accuracy[key]:.4f}")

    ops, float_ops = runtime.op_census(flatbuffer)
    report["xnnpack"] = runtime.delegation(runner)
    float32_size = len(flatbuffer if mode == "float32" else with_metadata(float32, "float32"))
    report.update(
        ops=ops, float_ops=float_ops, accuracy=accuracy,
        top1_agreement=_agreement(probs, keras_probs),
        mean_abs_prob_error=float(np.abs(probs - keras_probs).mean()),
        size_bytes=len(flatbuffer), float32_size_bytes=float32_size,
        size_vs_float32=len(flatbuffer) / float32_size, eval_images=len(eval_labels),
    )
    tflite.write(flatbuffer, output)
    from keras_mixer.files import write_json

    json_path = os.path.splitext(output)[0] + ".json"
    write_json(report, json_path)
    phase(f"wrote {output} ({len(flatbuffer) / 1024:.0f} KiB) and {json_path}")
    return report


def _layer_errors(twin, representative, debug_images, keep_float, output, eval_pixels,
                  eval_labels, keras_probs, to_probs, num_threads, with_metadata, phase):
    from convert.layer_errors import LayerErrors

    phase(f"per-layer int8 error (QuantizationDebugger, {len(debug_images)} images)")
    errors = LayerErrors(twin, representative, debug_images)
    for row in errors.worst[:5]:
        phase(f"  {row['rmse_per_scale']:5.2f} steps RMSE  {row['op']:<18} {row['layer']}")
    found = {"layer_errors": errors.worst}
    if keep_float:
        selective = with_metadata(errors.keep_float(keep_float), f"int8 with {keep_float} "
                                  "float layers")
        probs = _run_all(runtime.interpreter(selective, num_threads), eval_pixels, to_probs)
        path = f"{os.path.splitext(output)[0]}_keep_float{keep_float}.tflite"
        found["keep_float"] = {
            "path": path, "float_layers": [row["layer"] for row in errors.worst[:keep_float]],
            "accuracy": _accuracy(probs, eval_labels),
            "top1_agreement": _agreement(probs, keras_probs),
            "float_ops": runtime.op_census(selective)[1], "size_bytes": len(selective)}
        tflite.write(selective, path)
        phase(f"PTQ int8 with the {keep_float} worst layers in float: top-1 "
              f"{found['keep_float']['accuracy']:.4f}; wrote {path}")
    return found


def _quantisation_aware(model, batches, epochs, steps, io, phase, representative, calibration,
                        xnnpack):
    """QAT on the plain graph (TFMOT's fake-quantisation), then the int8 model:
    the plain QAT graph with its learned ranges, or the XNNPACK graph holding
    the QAT-trained weights with every range calibrated (TFMOT cannot place
    its quantisers inside the XNNPACK LayerNorm's tiny tensors)."""
    import tf_keras

    from convert.quantize import qat_model

    trainer = qat_model(model, batch_size=None)
    trainer.compile(tf_keras.optimizers.Adam(1e-4),
                    tf_keras.losses.CategoricalCrossentropy(), metrics=["accuracy"])
    phase(f"quantisation-aware training ({epochs} epoch(s))")
    trainer.fit(batches, epochs=epochs, steps_per_epoch=steps, verbose=2)
    if xnnpack:
        values = twin_values({w.name: w.numpy() for w in trainer.weights},
                             mixer_spec(model)["num_blocks"])
        variances = layer_norm_variances(build_tf_keras(model, values=values), calibration[:64])
        deployable = build_tf_keras(model, xnnpack_variances=variances, values=values)
    else:
        deployable = qat_model(model, batch_size=1)
        deployable.set_weights(trainer.get_weights())
    phase("converting the QAT model to int8")
    # QAT supplies the ranges it learned; calibration supplies the rest.
    return tflite.convert(deployable, "int8", representative, io=io)


def _collect(batches, limit):
    """(images, class indices) from one pass over ``batches``, at most ``limit``."""
    images, labels = [], []
    for x, y in batches:
        images.append(x.numpy())
        labels.append(y.numpy().argmax(-1))
        if limit and len(images) * len(images[0]) >= limit:
            break
    return np.concatenate(images)[:limit], np.concatenate(labels)[:limit]


def _run_all(runner, pixels, to_probs=None):
    scores = np.stack([runtime.run(runner, image) for image in pixels])
    return to_probs(scores) if to_probs else scores


def _agreement(scores, keras_scores):
    return float(np.mean(scores.argmax(-1) == keras_scores.argmax(-1)))


def _accuracy(scores, labels):
    return float(np.mean(np.asarray(scores).argmax(-1) == labels))
