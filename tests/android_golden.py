"""Golden cases for android_demo/core's GoldenTest (run by its run-tests.sh):
a tiny Mixer trained briefly on the digits, converted by ``convert`` three
ways (uint8 and int8 I/O XNNPACK graphs with logits out, float32 I/O plain
graph with probabilities out, and a uint8-input XNNPACK graph with float32
logits out: ``--logits float32``), each run on two real images (a digit, and two
digits side by side: a wide image that gets centre-cropped).

    python -m tests.android_golden OUT_DIR
"""

import os
import sys
import tempfile

from convert import golden
from convert.pipeline import to_tflite
from keras_mixer.datasets import digits_folder
from tests.training_helpers import write_config
from training import load_config, train

# (input/output type, graph, evaluation crop stated for the conversion: None keeps the
# run's, logits)
CASES = (
    ("uint8", "xnnpack", None, "int8"),
    ("int8", "xnnpack", None, "int8"),
    ("float32", "plain", None, "int8"),
    ("uint8", "xnnpack", 0.875, "int8"),
    ("uint8", "xnnpack", None, "float32"),
)


def images(folder):
    from PIL import Image

    digits = digits_folder()
    seven = os.path.join(digits, "7", sorted(os.listdir(os.path.join(digits, "7")))[0])
    three = os.path.join(digits, "3", sorted(os.listdir(os.path.join(digits, "3")))[0])
    wide = Image.new("RGB", (64, 32))
    wide.paste(Image.open(three).convert("RGB"), (0, 0))
    wide.paste(Image.open(seven).convert("RGB").rotate(10), (32, 0))
    wide_path = os.path.join(folder, "wide.png")
    wide.save(wide_path)
    from sklearn.datasets import load_sample_images

    photo_path = os.path.join(folder, "photo.png")  # 640x427: shrunk 27x, many taps a pixel
    Image.fromarray(load_sample_images().images[0]).save(photo_path)
    return {"seven": seven, "wide": wide_path, "photo": photo_path}


def main(out):
    work = tempfile.mkdtemp()
    config = load_config(
        write_config(os.path.join(work, "tiny.yaml"), train={"epochs": 3, "steps_per_epoch": 20})
    )
    train(config, os.path.join(work, "run"), verbose=0)
    model = os.path.join(work, "run", "model.keras")  # read with its run's config
    pictures = images(work)
    for io, graph, crop, logits in CASES:
        case = f"{io}_{graph}" + (f"_crop{crop}" if crop else "")
        case += "_float_logits" if logits == "float32" else ""
        path = os.path.join(work, f"{case}.tflite")
        report = to_tflite(
            model,
            path,
            mode="ptq",
            io=io,
            graph=graph,
            logits=logits,
            eval_images=32,
            debug_images=0,
            preprocessing={"eval_crop": crop} if crop else {},
            log=lambda *_: None,
        )
        for name, image in pictures.items():
            # The crop as the conversion scored it, not as the metadata under test says.
            crop_scored = report["data"]["eval_crop"]
            found = golden.write_case(path, image, os.path.join(out, f"{case}_{name}"), crop_scored)
            print(io, graph, name, found["top_labels"], found["top_scores"])
    assert len(os.listdir(out)) == len(CASES) * len(pictures)


if __name__ == "__main__":
    main(sys.argv[1])
