"""Stage verify: the TFLite file run by LiteRT against the Keras model
(``Verification``), and the report assembled from every stage's result."""

from __future__ import annotations

import dataclasses

import numpy as np

from convert import runtime, verify


@dataclasses.dataclass
class Verification:
    """Stage verify: the file's top-1 on the evaluation images and its report
    section (ops, delegation, agreement and error against Keras, for int8 the
    fidelity, output floor and per-layer error)."""

    top1: float
    found: dict


def verify_file(flatbuffer, converted, samples, options, clock) -> Verification:
    """Stage verify: the model's scores against the Keras model's, its ops
    and delegation and, for int8, its fidelity to the graph it came from and
    the per-layer error."""
    mode = options.recipe
    runner = runtime.interpreter(flatbuffer, options.num_threads)
    scores = runtime.run_all(runner, samples.eval_pixels)
    probs = probabilities(scores, converted)
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
        if options.logits == "int8":
            # The int8 logits' steps (also behind a float32 output's DEQUANTIZE).
            step, zero_point = verify.logits_quantisation(converted.graph)
            step_of = "the int8 logits"
            floor = verify.output_floor(samples.keras_logits, step, zero_point)
            clock(
                f"int8 logits alone (every other tensor float) would agree on "
                f"{floor['top1_agreement']:.4f}: {floor['within_one_step']} images' top two "
                "logits lie within one output step"
            )
        else:  # float32 logits: no output rounding; the last int8 tensor is the pooled one
            step = verify.span_step(graph_scores)
            step_of = "an int8 range spanning the graph's logits (the file's are float32)"
            floor = verify.pooled_floor(converted.graph, samples.eval_pixels)
            clock(
                f"float32 logits; the int8 pooled features alone (every other tensor float) "
                f"would agree on {floor['top1_agreement']:.4f} (relative L2 "
                f"{verify.l2_text(floor['relative_l2'])})"
            )
        found["graph_fidelity"] = {
            **verify.fidelity(scores, graph_scores, step),
            "step": step,
            "step_of": step_of,
        }
        found["output_floor"] = floor
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


def probabilities(scores, converted):
    """Scores comparable with the Keras model's: the model's classifier
    activation applied to logits (an int8 model's output)."""
    activation = converted.spec["classifier_activation"]
    if not converted.logits or activation is None:
        return scores
    if activation == "softmax":
        return runtime.softmax(scores)
    import keras

    return keras.ops.convert_to_numpy(keras.activations.get(activation)(scores))


def report_of(options, float_top1, converted, verification, keep_float, flatbuffer, model):
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
    if mode.integer:
        report["logits"] = options.logits
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
