"""The quick-start job: build a Mixer, classify a batch, save and reload it.

    python -m keras_mixer.demo [--variant S/16] [--output runs/demo]

(Grows into train -> int8 -> benchmark as the training and convert stages land.)
"""

import argparse
import os
import time

import numpy as np

import keras
import keras_mixer
from keras_mixer.files import atomic_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="S/16", choices=sorted(keras_mixer.VARIANTS))
    parser.add_argument("--output", default="runs/demo")
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args(argv)

    code = args.variant.replace("/", "")
    print(f"[1/4] building Mixer-{args.variant}", flush=True)
    model = getattr(keras_mixer, f"Mixer{code}")()
    print(f"      {model.count_params():,} parameters, input {model.input_shape[1:]}")

    print(f"[2/4] classifying {args.batch} images", flush=True)
    pixels = np.random.default_rng(0).integers(0, 256, (args.batch, 224, 224, 3), np.uint8)
    x = keras_mixer.preprocess_input(pixels)
    model.predict(x, verbose=0)  # warm-up (graph tracing)
    start = time.perf_counter()
    probs = model.predict(x, verbose=0)
    print(f"      output {probs.shape}, {1e3 * (time.perf_counter() - start) / args.batch:.1f} "
          "ms/image (an untrained model: zero head, uniform probabilities)")

    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, f"mixer_{code.lower()}.keras")
    print(f"[3/4] saving {path}", flush=True)
    with atomic_path(path) as tmp:
        model.save(tmp)

    print("[4/4] reloading and checking outputs", flush=True)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), probs)
    print(f"      identical outputs; {os.path.getsize(path) / 2**20:.1f} MiB on disk")


if __name__ == "__main__":
    main()
