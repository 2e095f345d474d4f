"""Mixer latency on LiteRT's CPU path (XNNPACK), in one run, at one thread count.

Per variant (random weights, 224 px, 1000 classes, batch 1): float32 TFLite,
the plain int8 graph (TFLite's LayerNorm and GELU ops), our XNNPACK int8 graph,
that graph's matrix skeleton (the stem convolution, Dense, transposes and
residual adds, plus the final mean: the floor for int8 on this hardware) and
the skeleton with only the XNNPACK graph's GELUs or only its LayerNorms put
back (what each costs), all with int8 I/O; and the Keras model (XLA, batch 1
and 32). The machine's sgemm rate (numpy, same threads) is the practical peak.

    .venv/bin/python benchmarks/latency.py [--variants B/16,S/16,S/32] [--threads 2]

Writes benchmarks/results/latency.json and latency.png.
"""

import argparse
import os
import subprocess
import sys

import numpy as np
from forward import gflop_per_image
from harness import Worker, cpu_description

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def build_models(variant, folder, calibration_images=8):
    """{kind: path} of the .tflite files of ``variant``, written to ``folder``."""
    import keras_mixer
    from convert import tflite
    from convert.calibrate import calibrate
    from convert.forms import PlainForm
    from convert.graph import build_graph, layer_norm_variances, mixer_spec, model_values
    from convert.modes import FLOAT32, MODES
    from convert.quantize import quantised_graph
    from convert.xnnpack import XnnpackForm

    model = getattr(keras_mixer, f"Mixer{variant.replace('/', '')}")()
    spec, values = mixer_spec(model), model_values(model)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (calibration_images, 224, 224, 3)).astype(np.float32)
    plain = build_graph(spec, values, batch_size=None)
    variances = layer_norm_variances(plain, images)
    skeleton_variances = layer_norm_variances(  # its 1/sqrt fits need this graph's variances
        matrix_skeleton(spec, norm=PlainForm(), quantised=False), images
    )
    graphs = {
        "float32": plain,
        "int8_plain": quantised_graph(spec, values, PlainForm()),
        "int8_xnnpack": quantised_graph(spec, values, XnnpackForm(variances)),
        "int8_skeleton": matrix_skeleton(spec),
        "int8_skeleton_gelu": matrix_skeleton(spec, gelu=True),
        "int8_skeleton_norm": matrix_skeleton(spec, XnnpackForm(skeleton_variances)),
    }
    paths = {}
    for kind, graph in graphs.items():
        print(f"[latency] {variant}: converting {kind}", flush=True)
        paths[kind] = os.path.join(folder, f"{variant.replace('/', '')}_{kind}.tflite")
        if graph is plain:
            flatbuffer = tflite.convert(graph, FLOAT32)
        else:
            calibrate(graph, images)
            flatbuffer = tflite.convert(graph, MODES["ptq"], io="int8")
        tflite.write(flatbuffer, paths[kind])
    return paths


def matrix_skeleton(spec, norm=None, gelu=False, quantised=True):
    """The XNNPACK graph's matrix work alone, fake-quantised like it
    (``quantised``): LayerNorm and GELU removed. ``norm`` puts its LayerNorms
    back in that ``convert.forms`` form (the plain one to measure the
    variances the XNNPACK one needs); ``gelu=True`` its GELUs, in the XNNPACK
    form. Weights are random with a fixed seed,
    so every call builds the same ones; each MLP's second Dense starts small,
    as residual branches do in a trained model, so activations keep realistic
    ranges without LayerNorm."""
    import tf_keras

    from convert.graph import PIXEL_RANGE
    from convert.layers import Pixels
    from convert.quantize import wrapper
    from convert.xnnpack import XnnpackForm

    tf_keras.utils.set_random_seed(0)
    wrap = wrapper() if quantised else (lambda layer: layer)
    L = tf_keras.layers
    tokens = spec["grid"][0] * spec["grid"][1]

    def normalise(x, name, affine=False):
        if norm is None:
            return x
        return norm.layer_norm(x, name, spec["layer_norm_epsilon"], affine, wrap)

    def mlp(x, hidden_units, units, name):
        x = wrap(L.Dense(hidden_units, kernel_initializer="lecun_normal"))(x)
        x = XnnpackForm({}).gelu(x, f"{name}_gelu", True, wrap) if gelu else x
        return wrap(L.Dense(units, kernel_initializer=tf_keras.initializers.VarianceScaling(1e-2)))(
            x
        )

    images = tf_keras.Input(spec["image_shape"])
    x = wrap(Pixels(PIXEL_RANGE))(images)
    x = wrap(
        L.Conv2D(
            spec["hidden_size"],
            spec["patch_size"],
            strides=spec["patch_size"],
            kernel_initializer=tf_keras.initializers.VarianceScaling(1 / 127.5**2),
        )
    )(x)
    x = L.Reshape((tokens, spec["hidden_size"]))(x)
    for i in range(spec["num_blocks"]):
        y = L.Permute((2, 1))(normalise(x, f"block{i}_norm0", affine=True))
        y = mlp(y, spec["tokens_mlp_dim"], tokens, f"block{i}_token")
        x = wrap(L.Add(name=f"block{i}_token_residual"))([x, L.Permute((2, 1))(y)])
        y = normalise(x, f"block{i}_norm1")
        y = mlp(y, spec["channels_mlp_dim"], spec["hidden_size"], f"block{i}_channel")
        x = wrap(L.Add(name=f"block{i}_channel_residual"))([x, y])
    x = wrap(L.GlobalAveragePooling1D())(normalise(x, "pre_head_layer_norm"))
    return tf_keras.Model(images, wrap(L.Dense(spec["classes"]))(x))


def keras_latency(variant, threads, runs):
    worker = Worker(os.path.join(HERE, "forward.py"), "keras-xla", variant, threads)
    try:
        worker.time(1, 3)
        batch1 = float(np.median(worker.time(1, runs)))
        worker.time(32, 1)
        batch32 = float(np.median(worker.time(32, 5))) / 32
    finally:
        worker.close()
    return batch1, batch32


def sgemm_gflops(threads):
    """numpy float32 matmul GFLOP/s (best of a Mixer-shaped and a square
    product), in a process limited to ``threads`` BLAS threads."""
    code = (
        "import time, numpy as np\n"
        "best = 0\n"
        "for m, k, n in ((196, 768, 3072), (2048, 2048, 2048)):\n"
        "    a = np.random.rand(m, k).astype(np.float32)\n"
        "    b = np.random.rand(k, n).astype(np.float32)\n"
        "    a @ b\n"
        "    for _ in range(10):\n"
        "        t = time.perf_counter(); a @ b\n"
        "        best = max(best, 2*m*k*n / (time.perf_counter() - t) / 1e9)\n"
        "print(best)\n"
    )
    env = {
        **os.environ,
        **{
            name: str(threads)
            for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        },
    }
    return float(
        subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="B/16,S/16,S/32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--runs",
        type=int,
        default=20,
        help="LiteRT runs per model for B/16; smaller variants get more, in "
        "proportion to their GFLOP, so each model is timed for as long",
    )
    parser.add_argument("--output", default=os.path.join(RESULTS, "latency.json"))
    args = parser.parse_args()
    print(cpu_description(), flush=True)
    from convert import benchmark

    folder = os.path.join(RESULTS, "latency_models")
    os.makedirs(folder, exist_ok=True)
    peak = sgemm_gflops(args.threads)
    print(f"[latency] sgemm: {peak:.1f} GFLOP/s at {args.threads} thread(s)", flush=True)
    summary, rows = [], []
    for variant in args.variants.split(","):
        paths = build_models(variant, folder)
        gflop = gflop_per_image(variant)
        runs = max(args.runs, round(args.runs * gflop_per_image("B/16") / gflop))
        found = benchmark.benchmark(
            list(paths.values()), threads=(args.threads,), runs=runs, rounds=5
        )["results"]
        rows += found
        print(f"[latency] {variant}: Keras (XLA)", flush=True)
        keras_seconds = keras_latency(variant, args.threads, args.runs)
        summary.append(
            variant_summary(
                variant, dict(zip(paths, found)), keras_seconds, peak, args.threads, runs
            )
        )
    results = {"summary": summary, "results": rows, "threads": [args.threads], "runs": args.runs}
    print(benchmark.table(results))
    print()
    print(summary_table(summary))
    png = benchmark.save(results, args.output)
    print(f"wrote {args.output} and {png}")


def variant_summary(variant, found, keras_seconds, peak, threads, runs):
    """One variant's figures: each graph's median, the ratios between them,
    Keras' batch-1 and batch-32 seconds per image against the sgemm rate."""
    gflop = gflop_per_image(variant)
    ms = {kind: row["median_ms"] for kind, row in found.items()}
    keras_b1, keras_b32 = keras_seconds
    return {
        "variant": variant,
        "threads": threads,
        "gflop_per_image": gflop,
        "litert_runs": runs,
        **{f"{kind}_ms": value for kind, value in ms.items()},
        "keras_xla_batch1_ms": keras_b1 * 1000,
        "keras_xla_batch32_ms_per_image": keras_b32 * 1000,
        "keras_batch1_gflops": gflop / keras_b1,
        "keras_batch32_gflops": gflop / keras_b32,
        "sgemm_gflops": peak,
        "keras_batch1_of_sgemm": gflop / keras_b1 / peak,
        "keras_batch32_of_sgemm": gflop / keras_b32 / peak,
        "xnnpack_vs_skeleton": ms["int8_xnnpack"] / ms["int8_skeleton"],
        "gelu_vs_skeleton": ms["int8_skeleton_gelu"] / ms["int8_skeleton"],
        "norm_vs_skeleton": ms["int8_skeleton_norm"] / ms["int8_skeleton"],
        "xnnpack_vs_float32": ms["int8_xnnpack"] / ms["float32"],
        "plain_vs_float32": ms["int8_plain"] / ms["float32"],
        "delegation": {
            kind: {"partitions": row["partitions"], "ops_outside": row["ops_outside"]}
            for kind, row in found.items()
        },
    }


def summary_table(summary):
    lines = [
        f"{'variant':<6} {'fp32':>8} {'int8 plain':>10} {'int8 xnn':>9} {'skeleton':>9} "
        f"{'xnn/skel':>8} {'+gelu':>6} {'+norm':>6} {'xnn/fp32':>8} {'Keras b1':>9} "
        f"{'b32/img':>8} {'Keras/sgemm':>11}"
    ]
    for s in summary:
        lines.append(
            f"{s['variant']:<6} {s['float32_ms']:>6.1f}ms {s['int8_plain_ms']:>8.1f}ms "
            f"{s['int8_xnnpack_ms']:>7.1f}ms {s['int8_skeleton_ms']:>7.1f}ms "
            f"{s['xnnpack_vs_skeleton']:>7.2f}x {s['gelu_vs_skeleton']:>5.2f}x "
            f"{s['norm_vs_skeleton']:>5.2f}x {s['xnnpack_vs_float32']:>7.2f}x "
            f"{s['keras_xla_batch1_ms']:>7.1f}ms {s['keras_xla_batch32_ms_per_image']:>6.1f}ms "
            f"{s['keras_batch1_of_sgemm']:>5.0%}/{s['keras_batch32_of_sgemm']:>4.0%}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
