"""How much int8 error a zoo model's decisions can take, and where its PTQ
graph's error comes from: the bounds behind the agreement targets.

    .venv/bin/python benchmarks/int8_bounds.py [--zoo mnist_narrow] [--models 4]

For each trained model of a ``benchmarks/quantisation.py`` zoo entry (the
same folders: trained once, reused), on the whole held-out split:

- the noise curve: top-1 agreement with the float model after Gaussian
  noise of a given relative L2 is added to its logits (mean of ``DRAWS``
  draws), and the relative L2 at which it falls to each agreement target
  (``TARGETS``): the error budget of a file that is to reach it;
- the default PTQ graph (``--ptq``'s calibration, in TensorFlow: the file
  computes each op of it to within a step, ``graph_fidelity`` in every report) with every
  int8 weight and only the activations of one ``GROUPS`` entry rounded to
  int8 (the others float: what that part costs on its own), and with all
  but that entry's (what removing its error entirely would give);
- the file converted from that graph, run by XNNPACK and by TFLite's
  reference kernels, against float and against the graph, with the float
  model's top-two margin on each image a run decides differently;
- where file and graph part ways: the graph cut after each block (and at
  the logits), converted and run by both, the share of its int8 values
  that differ from the graph's by a step, and by more than one.

Writes benchmarks/results/int8_bounds.json and int8_bounds.png.
"""

import argparse
import os
import re
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from harness import cpu_description, text_table, write_results  # noqa: E402
from quantisation import RESULTS, ZOO, trained  # noqa: E402

TARGETS = (0.993, 0.996, 0.998)  # issue 23: PTQ, QAT on mnist_narrow; QAT on mnist
NOISE_LEVELS = (0.0, 0.0025, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.03, 0.04)
DRAWS = 50
ACTIVATION_BITS = (8, 9, 10, 11, 12)
DIVERGENCE_IMAGES = 64  # images run through each cut of the graph
# Parts of the deployment graph, by the names of their int8 tensors
# (``convert.graph``, ``convert.xnnpack``).
GROUPS = {
    "none (int8 weights only)": r"$^",
    "pixels, stem": r"^(pixels|stem)$",
    "LayerNorm mean..1/sqrt": r"norm\d?_(mean|centre|square|variance|rsqrt_ramps|rsqrt)$",
    "LayerNorm outputs": r"(norm\d?|norm\d?_normalised|norm\d?_gamma)$",
    "GELU": r"_gelu(_.*)?$",
    "Dense outputs": r"_dense\d$",
    "residual adds": r"_residual$",
    "pooling": r"^avg_pool$",
    "logits": r"^head$",
    "every LayerNorm tensor": r"norm\d?(_[a-z_]+)?$",
    "all (the PTQ graph)": r"",
}


class _Bits:
    """A ``convert.quantize`` tap: int8 weights, and every activation rounded
    to ``bits`` bits over the same calibrated (or fixed) range."""

    quantise_weights = True

    def __init__(self, bits):
        self.bits = bits

    def __call__(self, quantizer, tensor, quantised):
        import tensorflow as tf

        low, high = quantizer.range_tensors()
        return tf.quantization.fake_quant_with_min_max_vars(tensor, low, high, self.bits)


class _Int8Where:
    """A ``convert.quantize`` tap: int8 weights, and int8 activations for the
    tensors whose names match ``pattern`` (``invert``: for all the others)."""

    quantise_weights = True

    def __init__(self, pattern, invert=False):
        self.pattern, self.invert = re.compile(pattern), invert

    def __call__(self, quantizer, tensor, quantised):
        matched = self.pattern.search(quantizer.name) is not None
        return quantised if matched != self.invert else tensor


def calibrated(model_path, dataset, seed):
    """(fake-quantised PTQ graph as ``convert --ptq`` calibrates it, the
    held-out images, the float model's logits on them)."""
    import keras

    from convert.building import fake_quantised_graph
    from convert.calibrate import calibrate
    from convert.clock import Clock
    from convert.graph import mixer_spec, model_values
    from convert.options import ConvertOptions
    from convert.pipeline import resolve_data
    from convert.samples import load_samples

    model = keras.models.load_model(model_path)
    options = ConvertOptions(mode="ptq", dataset=dataset, seed=seed).checked()
    options = resolve_data(options, model, model_path)
    samples = load_samples(model, options, Clock(lambda text: None))
    images = samples.take_calibration()
    quantised, _ = fake_quantised_graph(mixer_spec(model), model_values(model), images, options)
    calibrate(quantised, images, options.calibration, options.calibration_batch_size)
    return quantised, samples.eval_pixels, samples.keras_logits


def _tapped_score(quantised, pixels, reference, tap):
    """Agreement and relative L2 of the graph's logits with ``tap`` in it."""
    from convert import verify
    from convert.quantize import tapped

    with tapped(quantised, tap):  # traced in here: the tap is in the graph
        logits = verify.scores_of(quantised, pixels, batch_size=256)
    return {
        "top1_agreement": verify.agreement(logits, reference),
        "relative_l2": verify.relative_l2(logits, reference),
    }


def bits_rows(quantised, pixels, reference):
    """The PTQ graph with its activations rounded to each of ``ACTIVATION_BITS``
    bits over the same ranges (weights int8): how many bits the targets need."""
    return [
        {"bits": bits, **_tapped_score(quantised, pixels, reference, _Bits(bits))}
        for bits in ACTIVATION_BITS
    ]


def group_rows(quantised, pixels, reference):
    """One row per ``GROUPS`` entry: agreement and relative L2 of the graph
    with only that group's activations in int8 (``alone``) and with all
    but that group's (``without``: what removing its error entirely gives)."""

    def scored(tap):
        return _tapped_score(quantised, pixels, reference, tap)

    return [
        {
            "group": group,
            "alone": scored(_Int8Where(pattern)),
            "without": scored(_Int8Where(pattern, invert=True)),
        }
        for group, pattern in GROUPS.items()
    ]


def file_rows(quantised, pixels, reference):
    """The PTQ graph, then the TFLite file converted from it run by XNNPACK
    and by TFLite's reference kernels: each one's agreement and relative L2
    from float, and its agreement with the graph."""
    from convert import runtime, tflite, verify

    graph = verify.scores_of(quantised, pixels)
    flatbuffer = tflite.convert(quantised, "ptq")
    found = {"the PTQ graph (TensorFlow)": graph}
    for name, delegates in (("the file, XNNPACK", True), ("the file, reference kernels", False)):
        runner = runtime.interpreter(flatbuffer, delegates=delegates)
        found[name] = runtime.run_all(runner, pixels)
    top_two = np.sort(reference, -1)[:, -2:]
    margins = top_two[:, 1] - top_two[:, 0]  # the float model's, per image
    return [
        {
            "run": name,
            "top1_agreement": verify.agreement(logits, reference),
            "relative_l2": verify.relative_l2(logits, reference),
            "agreement_with_graph": verify.agreement(logits, graph),
            "lost_margins": sorted(
                float(m) for m in margins[logits.argmax(-1) != reference.argmax(-1)]
            ),
            "median_margin": float(np.median(margins)),
        }
        for name, logits in found.items()
    ]


def divergence_rows(quantised, pixels, layers):
    """For each of ``layers`` (names of int8 tensors, in graph order): the
    graph cut there, converted and run by XNNPACK and by the reference
    kernels, against the graph's own values: the share of values a step or
    more apart, more than a step apart, and the largest distance in steps."""
    import tf_keras

    from convert import runtime, tflite

    rows = []
    for name in layers:
        cut = tf_keras.Model(quantised.inputs, quantised.get_layer(name).output)
        graph = cut.predict(pixels.astype(np.float32), batch_size=64, verbose=0)
        flatbuffer = tflite.convert(cut, "ptq", io="int8")
        row = {"layer": name}
        for run, delegates in (("xnnpack", True), ("reference", False)):
            runner = runtime.interpreter(flatbuffer, delegates=delegates)
            scale = runner.get_output_details()[0]["quantization"][0]
            steps = np.abs(runtime.run_all(runner, pixels).reshape(graph.shape) - graph) / scale
            row[run] = {
                "apart": float(np.mean(steps > 0.5)),
                "over_a_step": float(np.mean(steps > 1.5)),
                "max_steps": float(np.round(steps.max())),
            }
        rows.append(row)
    return rows


def block_outputs(quantised):
    """The int8 tensors each block ends at, and the logits."""
    from convert.graph import block_count

    return [f"block{i}_channel_residual" for i in range(block_count(quantised))] + ["head"]


def divergence_table(rows):
    def cells(run):
        return [
            (f"{run}: apart", 16, lambda row: f"{row[run]['apart']:.4f}"),
            ("> 1 step", 9, lambda row: f"{row[run]['over_a_step']:.4f}"),
            ("max", 5, lambda row: f"{row[run]['max_steps']:.0f}"),
        ]

    return text_table(
        rows,
        [
            ("file vs graph, cut at", -28, lambda row: row["layer"]),
            *cells("xnnpack"),
            *cells("reference"),
        ],
    )


def noise_curve(reference, seed=0):
    """[(relative L2, mean agreement)] of the logits under Gaussian noise."""
    from convert import verify

    rng = np.random.default_rng(seed)
    reference = np.asarray(reference, np.float64)
    size = np.linalg.norm(reference)
    curve = []
    for level in NOISE_LEVELS:
        found = []
        for _ in range(DRAWS):
            noise = rng.standard_normal(reference.shape)
            found.append(
                verify.agreement(
                    reference + noise * level * size / np.linalg.norm(noise), reference
                )
            )
        curve.append((level, float(np.mean(found))))
    return curve


def budget(curve, target):
    """The relative L2 at which the noise curve falls to ``target`` (linear
    between its points; 0 if even the smallest noise falls below it, None
    if even the largest does not)."""
    levels, agreements = zip(*curve)
    if agreements[0] < target:
        return 0.0
    for i in range(1, len(curve)):
        if agreements[i] < target:
            share = (agreements[i - 1] - target) / (agreements[i - 1] - agreements[i])
            return levels[i - 1] + share * (levels[i] - levels[i - 1])
    return None


def _score_cells(scores, label, width=14):
    """The columns of a mean over models (``_over_models``) that ``scores(row)`` gives."""
    return [
        (label, width, lambda row: f"{scores(row)['top1_agreement']:.4f}"),
        ("range", 14, lambda row: "{:.4f}-{:.4f}".format(*scores(row)["agreement_range"])),
        ("rel L2", 8, lambda row: f"{scores(row)['relative_l2']:.4f}"),
    ]


def table(rows):
    return text_table(
        rows,
        [
            ("part in int8 (alone) / float (without)", -40, lambda row: row["group"]),
            *_score_cells(lambda row: row["alone"], "alone: agree"),
            *_score_cells(lambda row: row["without"], "without: agree"),
        ],
    )


def _over_models(scores):
    """Agreement and relative L2 of the same run on each model: their means,
    and agreement's range."""
    agreements = [score["top1_agreement"] for score in scores]
    return {
        "top1_agreement": float(np.mean(agreements)),
        "agreement_range": (min(agreements), max(agreements)),
        "relative_l2": float(np.mean([score["relative_l2"] for score in scores])),
    }


def summarised(found):
    """Per group and kind: the means over models, and agreement's range."""
    rows = []
    for group in GROUPS:
        row = {"group": group}
        for kind in ("alone", "without"):
            row[kind] = _over_models(
                [r[kind] for model in found for r in model["groups"] if r["group"] == group]
            )
        rows.append(row)
    return rows


def bits_summary(found):
    """Per activation bit width: the means over models, and agreement's range."""
    return [
        {"bits": bits, **_over_models([model["activation_bits"][i] for model in found])}
        for i, bits in enumerate(ACTIVATION_BITS)
    ]


def bits_table(rows):
    return text_table(
        rows,
        [
            ("activations (weights int8)", -28, lambda row: f"{row['bits']} bits"),
            *_score_cells(lambda row: row, "agreement", 10),
        ],
    )


def plot(found, rows, bits, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5.5))
    curve = np.mean([model["noise_curve"] for model in found], axis=0)
    axis.plot(
        curve[:, 0], curve[:, 1], "k-", label="float logits + Gaussian noise (mean of models)"
    )
    for row in rows:
        alone = row["alone"]
        axis.plot(alone["relative_l2"], alone["top1_agreement"], "o")
        axis.annotate(row["group"], (alone["relative_l2"], alone["top1_agreement"]), fontsize=7)
    axis.plot(
        [row["relative_l2"] for row in bits],
        [row["top1_agreement"] for row in bits],
        "kx--",
        label="every activation at 8, 9, ... bits over the same ranges",
    )
    for row in bits[:3]:
        axis.annotate(
            f"{row['bits']} bits", (row["relative_l2"], row["top1_agreement"]), fontsize=7, va="top"
        )
    for target in TARGETS:
        axis.axhline(target, color="grey", linestyle="--", linewidth=1)
        axis.annotate(f"target {target}", (0.0, target), fontsize=7, va="bottom")
    axis.set_xlabel("relative L2 of the logits from float")
    axis.set_ylabel("top-1 agreement with float")
    axis.set_title("PTQ graph, weights int8: one part's activations in int8, or all at N bits")
    axis.legend(loc="lower left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", default="mnist_narrow", choices=list(ZOO))
    parser.add_argument("--models", type=int, default=4, help="trainings (train.seed 0..N-1)")
    parser.add_argument("--seed", type=int, default=0, help="the calibration images drawn")
    parser.add_argument("--output", default=os.path.join(RESULTS, "int8_bounds.json"))
    args = parser.parse_args()
    print(cpu_description(), flush=True)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    found = []
    for trained_seed in range(args.models):
        folder = os.path.join(
            RESULTS,
            "quantisation",
            args.zoo if not trained_seed else f"{args.zoo}_seed{trained_seed}",
        )
        print(f"[int8_bounds] {args.zoo} model {trained_seed}", flush=True)
        quantised, pixels, reference = calibrated(
            trained(args.zoo, folder, trained_seed), ZOO[args.zoo][0], args.seed
        )
        curve = noise_curve(reference, trained_seed)
        found.append(
            {
                "model": trained_seed,
                "eval_images": len(pixels),
                "noise_curve": curve,
                "budgets": {str(target): budget(curve, target) for target in TARGETS},
                "groups": group_rows(quantised, pixels, reference),
                "activation_bits": bits_rows(quantised, pixels, reference),
                "files": file_rows(quantised, pixels, reference),
                "divergence": divergence_rows(
                    quantised, pixels[:DIVERGENCE_IMAGES], block_outputs(quantised)
                ),
            }
        )
        print(divergence_table(found[-1]["divergence"]), flush=True)
        for row in found[-1]["files"]:
            print(
                f"    {row['run']:30s} agreement {row['top1_agreement']:.4f}, relative L2 "
                f"{row['relative_l2']:.4f}, agreement with the graph "
                f"{row['agreement_with_graph']:.4f}; float top-two margins of the images "
                f"lost {', '.join(f'{m:.2f}' for m in row['lost_margins'])} (median image "
                f"{row['median_margin']:.2f})",
                flush=True,
            )
    rows = summarised(found)
    print(table(rows))
    bits = bits_summary(found)
    print(bits_table(bits))
    for target in TARGETS:
        budgets = [model["budgets"][str(target)] for model in found]
        if None in budgets:
            print(
                f"agreement {target}: held by {budgets.count(None)} of {len(budgets)} models "
                f"even at relative L2 {NOISE_LEVELS[-1]} (the most noise measured)"
            )
            budgets = [b for b in budgets if b is not None]
        if budgets:
            print(
                f"agreement {target}: Gaussian logit noise must stay below relative L2 "
                f"{np.mean(budgets):.4f} (models: {', '.join(f'{b:.4f}' for b in budgets)})"
            )
    png = write_results(
        {
            "cpu": cpu_description(),
            "zoo": args.zoo,
            "targets": TARGETS,
            "summary": rows,
            "activation_bits": bits,
            "models": found,
        },
        args.output,
        lambda path: plot(found, rows, bits, path),
    )
    print(f"wrote {args.output} and {png}")


if __name__ == "__main__":
    main()
