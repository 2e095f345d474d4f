"""Forward-pass speed of keras-mixer against timm's PyTorch Mixer, on this CPU.

    python benchmarks/forward.py [--models S/16,B/16] [--threads 2] [--runs 20]

For each model and thread count: batch-1 latency (median, p10, p90) and batch-32
throughput, for our Keras model called three ways (``model.predict_on_batch``,
a ``tf.function`` graph, and the same with XLA ``jit_compile``) and for timm
(PyTorch eager, ``inference_mode``). Each implementation runs in its own worker
process with the same thread count; the workers take turns, round by round,
so drift on a shared machine hits them alike. Prints a table and writes JSON
and a PNG to benchmarks/results/.
"""

import argparse
import os
import sys
import time

import numpy as np
from harness import Worker, cpu_description, serve

IMPLEMENTATIONS = ("keras-predict", "keras-graph", "keras-xla", "timm")
PEER = "timm"
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def gflop_per_image(variant, image_size=224):
    """Multiply-adds x 2 of the stem, the blocks and the head (1000 classes)."""
    from keras_mixer.presets import VARIANTS

    preset = VARIANTS[variant]
    patch, hidden, blocks = preset.patch_size, preset.hidden_size, preset.num_blocks
    tokens_mlp, channels_mlp = preset.tokens_mlp_dim, preset.channels_mlp_dim
    tokens = (image_size // patch) ** 2
    macs = tokens * patch * patch * 3 * hidden
    macs += blocks * 2 * (hidden * tokens * tokens_mlp + tokens * hidden * channels_mlp)
    macs += hidden * 1000
    return 2 * macs / 1e9


# ---------------------------------------------------------------- worker side


def make_runner(implementation, variant, threads):
    """Returns run(batch) -> seconds for one forward pass of a batch."""
    code = variant.replace("/", "").lower()
    if implementation == PEER:
        import timm
        import torch

        torch.set_num_threads(threads)
        model = timm.create_model(f"mixer_{code}_224").eval()
        inputs = {}

        def run(batch):
            x = inputs.setdefault(batch, torch.randn(batch, 3, 224, 224))
            start = time.perf_counter()
            with torch.inference_mode():
                model(x)
            return time.perf_counter() - start

        return run

    os.environ["KERAS_BACKEND"] = "tensorflow"
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras_mixer

    model = getattr(keras_mixer, f"Mixer{code.upper()}")()
    if implementation == "keras-predict":
        forward = model.predict_on_batch
    else:
        forward = tf.function(
            lambda x: model(x, training=False),
            jit_compile=implementation == "keras-xla",
        )
    inputs = {}

    def run(batch):
        x = inputs.setdefault(batch, tf.random.normal((batch, 224, 224, 3)))
        start = time.perf_counter()
        np.asarray(forward(x))
        return time.perf_counter() - start

    return run


# ------------------------------------------------------------ controller side


def measure(variant, threads, implementations, args):
    workers = {}
    for name in implementations:
        print(f"  starting {name} (Mixer-{variant}, {threads} threads)", flush=True)
        workers[name] = Worker(__file__, name, variant, threads)
    times = {name: {1: [], 32: []} for name in implementations}
    for batch, warmup, runs in ((1, 3, args.runs), (32, 1, args.runs_batch32)):
        for w in workers.values():
            w.time(batch, warmup)
        for round_ in range(runs):
            for name, w in workers.items():
                times[name][batch] += w.time(batch, 1)
            print(f"  Mixer-{variant} batch {batch}: round {round_ + 1}/{runs}", flush=True)
    for w in workers.values():
        w.close()

    gflop = gflop_per_image(variant)
    rows = []
    for name in implementations:
        one, big = np.array(times[name][1]), np.array(times[name][32])
        rows.append(
            {
                "model": f"Mixer-{variant}",
                "implementation": name,
                "threads": threads,
                "batch1_ms_median": 1e3 * float(np.median(one)),
                "batch1_ms_p10": 1e3 * float(np.percentile(one, 10)),
                "batch1_ms_p90": 1e3 * float(np.percentile(one, 90)),
                "batch32_img_per_s": 32 / float(np.median(big)),
                "batch32_gflop_per_s": 32 * gflop / float(np.median(big)),
                "gflop_per_image": gflop,
                "batch1_runs": len(one),
                "batch32_runs": len(big),
            }
        )
    if PEER in implementations:
        peer = next(r for r in rows if r["implementation"] == PEER)
        for r in rows:
            r["batch1_latency_vs_timm"] = r["batch1_ms_median"] / peer["batch1_ms_median"]
            r["batch32_throughput_vs_timm"] = r["batch32_img_per_s"] / peer["batch32_img_per_s"]
    return rows


def print_table(rows):
    header = (
        f"{'model':<11} {'implementation':<14} {'thr':>3} {'b1 median ms':>12} "
        f"{'p10-p90':>13} {'b32 img/s':>9} {'GFLOP/s':>8} {'b1 vs timm':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        ratio = r.get("batch1_latency_vs_timm")
        print(
            f"{r['model']:<11} {r['implementation']:<14} {r['threads']:>3} "
            f"{r['batch1_ms_median']:>12.1f} "
            f"{r['batch1_ms_p10']:>6.1f}-{r['batch1_ms_p90']:<6.1f} "
            f"{r['batch32_img_per_s']:>9.2f} {r['batch32_gflop_per_s']:>8.1f} "
            f"{'' if ratio is None else f'{ratio:.2f}x':>10}"
        )


def plot(rows, path):
    import matplotlib

    from keras_mixer.files import atomic_path

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({(r["model"], r["threads"]) for r in rows})
    names = [n for n in IMPLEMENTATIONS if any(r["implementation"] == n for r in rows)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        for ax, key in zip(axes, ("batch1_ms_median", "batch32_img_per_s")):
            values = [
                next(
                    (
                        r[key]
                        for r in rows
                        if (r["model"], r["threads"]) == g and r["implementation"] == name
                    ),
                    0,
                )
                for g in groups
            ]
            ax.bar(np.arange(len(groups)) + i * width, values, width, label=name)
    for ax, title in zip(
        axes,
        ("batch-1 latency, ms (lower is better)", "batch-32 throughput, img/s (higher is better)"),
    ):
        ax.set_xticks(np.arange(len(groups)) + 0.4 - width / 2)
        ax.set_xticklabels([f"{m}\n{t} threads" for m, t in groups])
        ax.set_title(title)
    axes[0].legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        return serve(make_runner, sys.argv[2], sys.argv[3], int(sys.argv[4]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="S/16,B/16")
    parser.add_argument("--threads", default="2", help="comma-separated thread counts")
    parser.add_argument("--implementations", default=",".join(IMPLEMENTATIONS))
    parser.add_argument("--runs", type=int, default=20, help="timed batch-1 runs")
    parser.add_argument("--runs-batch32", type=int, default=3, help="timed batch-32 runs")
    parser.add_argument("--output", default=os.path.join(RESULTS, "forward.json"))
    args = parser.parse_args()
    print(cpu_description(), flush=True)

    unknown = set(args.implementations.split(",")) - set(IMPLEMENTATIONS)
    if unknown:
        parser.error(
            f"unknown implementations {', '.join(sorted(unknown))}; known: "
            f"{', '.join(IMPLEMENTATIONS)}"
        )
    rows = []
    for variant in args.models.split(","):
        for threads in map(int, args.threads.split(",")):
            rows += measure(variant, threads, args.implementations.split(","), args)
    print()
    print_table(rows)

    import platform

    from keras_mixer.files import write_json  # not at the top: timm workers must not load TF

    report = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.processor(),
        },
        "runs": {"batch1": args.runs, "batch32": args.runs_batch32},
        "results": rows,
    }
    write_json(report, args.output)
    png = os.path.splitext(args.output)[0] + ".png"
    plot(rows, png)
    print(f"\nwrote {args.output} and {png}")


if __name__ == "__main__":
    main()
