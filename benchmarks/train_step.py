"""Training throughput of Mixer-S/16 at 224 on this CPU, against timm.

    python benchmarks/train_step.py [--model S/16] [--batch 32] [--threads 2] [--runs 5]

One optimisation step = forward, cross-entropy, backward, AdamW update. Ours:
``model.train_on_batch`` after ``compile`` (graph, and XLA ``jit_compile``);
timm: PyTorch eager with ``torch.optim.AdamW``. Each in its own worker
process at the same thread count, taking turns. Prints a table and writes JSON
to benchmarks/results/train_step.json.
"""

import argparse
import os
import sys
import time

import numpy as np
from harness import Worker, cpu_description, serve

IMPLEMENTATIONS = ("keras", "keras-xla", "timm")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def make_runner(implementation, variant, threads):
    """Returns run(batch) -> seconds for one training step."""
    code = variant.replace("/", "").lower()
    if implementation == "timm":
        import timm
        import torch

        torch.set_num_threads(threads)
        model = timm.create_model(f"mixer_{code}_224").train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
        loss_fn = torch.nn.CrossEntropyLoss()
        data = {}

        def run(batch):
            x, y = data.setdefault(
                batch, (torch.randn(batch, 3, 224, 224), torch.randint(0, 1000, (batch,)))
            )
            start = time.perf_counter()
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            return time.perf_counter() - start

        return run

    os.environ["KERAS_BACKEND"] = "tensorflow"
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    import keras_mixer

    model = getattr(keras_mixer, f"Mixer{code.upper()}")(classifier_activation=None)
    model.compile(
        optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.1, global_clipnorm=1.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=implementation == "keras-xla",
    )
    data = {}

    def run(batch):
        rng = np.random.default_rng(0)
        x, y = data.setdefault(
            batch,
            (rng.standard_normal((batch, 224, 224, 3), np.float32), rng.integers(0, 1000, batch)),
        )
        start = time.perf_counter()
        model.train_on_batch(x, y)
        return time.perf_counter() - start

    return run


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        return serve(make_runner, sys.argv[2], sys.argv[3], int(sys.argv[4]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="S/16")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--implementations", default=",".join(IMPLEMENTATIONS))
    parser.add_argument("--output", default=os.path.join(RESULTS, "train_step.json"))
    args = parser.parse_args()
    print(cpu_description(), flush=True)

    names = args.implementations.split(",")
    workers = {}
    for name in names:
        print(f"  starting {name} (Mixer-{args.model}, {args.threads} threads)", flush=True)
        workers[name] = Worker(__file__, name, args.model, args.threads)
    for worker in workers.values():
        worker.time(args.batch, 2)  # warm-up: tracing, compilation, allocator
    times = {name: [] for name in names}
    for round_ in range(args.runs):
        for name, worker in workers.items():
            times[name] += worker.time(args.batch, 1)
        print(f"  round {round_ + 1}/{args.runs}", flush=True)
    for worker in workers.values():
        worker.close()

    rows = [
        {
            "model": f"Mixer-{args.model}",
            "implementation": name,
            "threads": args.threads,
            "batch": args.batch,
            "step_s_median": float(np.median(times[name])),
            "images_per_s": args.batch / float(np.median(times[name])),
            "runs": args.runs,
        }
        for name in names
    ]
    if "timm" in names:
        peer = next(r for r in rows if r["implementation"] == "timm")
        for r in rows:
            r["throughput_vs_timm"] = r["images_per_s"] / peer["images_per_s"]
    print(f"\n{'implementation':<12} {'step s':>8} {'img/s':>8} {'vs timm':>8}")
    for r in rows:
        ratio = r.get("throughput_vs_timm")
        print(
            f"{r['implementation']:<12} {r['step_s_median']:>8.2f} {r['images_per_s']:>8.2f} "
            f"{'' if ratio is None else f'{ratio:.2f}x':>8}"
        )
    from keras_mixer.files import write_json  # not at the top: timm workers must not load TF

    write_json({"results": rows}, args.output)
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
