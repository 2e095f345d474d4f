"""How far a Mixer's outputs move when its weights are adapted to another resolution.

    python benchmarks/resolution.py [--epochs 15]

Trains a small Mixer (patch 4, 32x32 input, 8x8 tokens) on scikit-learn's
handwritten digits (real 8x8 scans, upsampled), then loads its weights into
models at other input sizes through ``keras_mixer.load_weights``: the paper's
tile method (integer multiples; widened token MLP) and our resampling method
(any size). Each adapted model sees the same test digits resized to its input
size. Prints a table and writes JSON and a PNG to benchmarks/results/.
"""

import argparse
import os
import tempfile

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
from harness import cpu_description

import keras_mixer
from keras_mixer.files import atomic_path, write_json

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
CONFIG = dict(
    patch_size=4,
    hidden_size=64,
    num_blocks=4,
    tokens_mlp_dim=32,
    channels_mlp_dim=128,
    classes=10,
    classifier_activation=None,
)
BASE = 32


def digits(size):
    """scikit-learn digits as (N, size, size, 3) pixels in [0, 255], and labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    pixels = data.images[..., None].repeat(3, axis=-1) * (255.0 / 16.0)
    resized = keras.ops.image.resize(
        pixels.astype(np.float32), (size, size), interpolation="bilinear", antialias=True
    )
    return np.clip(keras.ops.convert_to_numpy(resized), 0, 255), data.target


def softmax(logits):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--sizes", default="24,40,48,64,96")
    parser.add_argument("--output", default=os.path.join(RESULTS, "resolution.json"))
    args = parser.parse_args()
    print(cpu_description(), flush=True)

    keras.utils.set_random_seed(0)
    x, y = digits(BASE)
    order = np.random.default_rng(0).permutation(len(y))
    train, test = order[:1400], order[1400:]
    print(f"[1/2] training at {BASE}x{BASE} on {len(train)} digits", flush=True)
    model = keras_mixer.MlpMixer(**CONFIG, input_shape=(BASE, BASE, 3))
    model.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(
        keras_mixer.preprocess_input(x[train]),
        y[train],
        epochs=args.epochs,
        batch_size=64,
        verbose=2,
    )
    reference = model.predict(keras_mixer.preprocess_input(x[test]), verbose=0)
    path = os.path.join(tempfile.mkdtemp(), "digits.weights.h5")
    model.save_weights(path)

    print("[2/2] adapting to other sizes", flush=True)
    rows = [
        {
            "size": BASE,
            "method": "original",
            "tokens_mlp_dim": CONFIG["tokens_mlp_dim"],
            "accuracy": float((reference.argmax(-1) == y[test]).mean()),
            "top1_agreement": 1.0,
            "mean_abs_prob_diff": 0.0,
        }
    ]
    for size in map(int, args.sizes.split(",")):
        x_size, _ = digits(size)
        inputs = keras_mixer.preprocess_input(x_size[test])
        methods = [("resample", CONFIG["tokens_mlp_dim"])]
        if size % BASE == 0:
            methods.insert(0, ("tiles", CONFIG["tokens_mlp_dim"] * (size // BASE) ** 2))
        for method, width in methods:
            adapted = keras_mixer.MlpMixer(
                **{**CONFIG, "tokens_mlp_dim": width}, input_shape=(size, size, 3)
            )
            keras_mixer.load_weights(adapted, path)
            logits = adapted.predict(inputs, verbose=0)
            rows.append(
                {
                    "size": size,
                    "method": method,
                    "tokens_mlp_dim": width,
                    "accuracy": float((logits.argmax(-1) == y[test]).mean()),
                    "top1_agreement": float((logits.argmax(-1) == reference.argmax(-1)).mean()),
                    "mean_abs_prob_diff": float(
                        np.abs(softmax(logits) - softmax(reference)).mean()
                    ),
                }
            )
            print(f"      {size}x{size} {method}: done", flush=True)

    print(
        f"\n{'size':>5} {'method':<9} {'D_S':>4} {'accuracy':>9} {'agreement':>10} "
        f"{'mean |dp|':>10}"
    )
    for r in rows:
        print(
            f"{r['size']:>5} {r['method']:<9} {r['tokens_mlp_dim']:>4} {r['accuracy']:>9.3f} "
            f"{r['top1_agreement']:>10.3f} {r['mean_abs_prob_diff']:>10.4f}"
        )

    write_json(
        {
            "config": CONFIG,
            "base_size": BASE,
            "epochs": args.epochs,
            "test_images": len(test),
            "results": rows,
        },
        args.output,
    )
    png = os.path.splitext(args.output)[0] + ".png"
    plot(rows, png)
    print(f"\nwrote {args.output} and {png}")


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for method, marker in (("resample", "o"), ("tiles", "s"), ("original", "*")):
        points = [(r["size"], r["accuracy"]) for r in rows if r["method"] == method]
        if points:
            ax.plot(
                *zip(*points),
                marker=marker,
                linestyle="-" if len(points) > 1 else "",
                markersize=10 if method == "original" else 6,
                label=method,
            )
    ax.set_xlabel("input size (pixels; trained at 32)")
    ax.set_ylabel("test accuracy, no fine-tuning")
    ax.set_title("Mixer weights adapted to other resolutions (digits)")
    ax.set_ylim(0, 1.02)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)


if __name__ == "__main__":
    main()
