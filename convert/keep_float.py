"""Stage keep-float (``--keep-float N``): the int8 model with the layers of
the N worst tensors in float, written beside the output, and what it buys."""

from __future__ import annotations

from convert import runtime, tflite, verify
from convert.graph import model_values
from convert.metadata import with_metadata
from convert.outputs import keep_float_path
from convert.verification import probabilities


def keep_float(model, converted, samples, layer_errors, options, output, clock):
    """The int8 model with the layers of the ``options.keep_float`` worst
    tensors in float (``verify.keep_float_candidates``), written beside
    ``output``; what it buys."""
    from convert.building import float_layers
    from convert.quantize import copy_variables, quantised_graph

    candidates = set(verify.keep_float_candidates(converted.graph))
    ranked = [row["layer"] for row in layer_errors if row["layer"] in candidates]
    names = ranked[: options.keep_float]
    graph = quantised_graph(
        converted.spec,
        model_values(model),
        converted.form,
        float_layers=float_layers(options, tuple(names)),
        per_channel=options.per_channel,
    )
    copy_variables(converted.graph, graph)  # QAT's weights and ranges
    flatbuffer = with_metadata(
        tflite.convert(graph, options.recipe, options.io, options.logits),
        converted.spec,
        options,
        samples.class_names,
        converted.logits,
        f"int8 with {len(names)} float layers",
    )
    probs = probabilities(
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
