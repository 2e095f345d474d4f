import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_mixer
from keras_mixer import datasets
from tests.training_helpers import folder_checksums, run_main, run_module, write_config
from training import ConfigError, load_config, train
from training import data as data_lib
from training.cli import train_main
from training.config import DEFAULTS
from training.evaluate import evaluate
from training.evaluate import main as evaluate_main
from training.recipe import WarmupDecay, make_optimizer

# ------------------------------------------------------------------ config


@pytest.mark.parametrize("name", ["digits", "imagenet_b16", "finetune"])
def test_shipped_configs_load(name):
    config = load_config(name)
    assert set(config) == set(DEFAULTS)


def test_paper_recipe_in_imagenet_config():
    config = load_config("imagenet_b16")
    assert config["model"]["variant"] == "B/16"
    assert config["train"]["batch_size"] == 4096
    assert config["optimizer"]["warmup_steps"] == 10_000
    assert config["optimizer"]["weight_decay"] == 0.1
    assert config["optimizer"]["global_clipnorm"] == 1.0
    assert config["optimizer"]["decay"] == "linear"


def test_overrides_and_unknown_keys(tmp_path):
    config = load_config(
        "digits",
        [
            "train.epochs=3",
            "data.dataset=tfds:mnist",
            "optimizer.decay=cosine",
            "data.crop_scale=(0.5, 1.0)",
        ],
    )
    assert config["train"]["epochs"] == 3
    assert config["data"]["dataset"] == "tfds:mnist"
    assert config["data"]["crop_scale"] == (0.5, 1.0)
    with pytest.raises(
        ConfigError,
        match=r"Unknown config key 'train\.epoch'; known keys in "
        r"'train': .*epochs",
    ):
        load_config("digits", ["train.epoch=3"])
    with pytest.raises(ConfigError, match="Unknown config key 'trian'"):
        load_config("digits", ["trian.epochs=3"])
    yaml_path = tmp_path / "bad.yaml"
    yaml_path.write_text("data:\n  imagesize: 32\n")
    with pytest.raises(ConfigError, match=r"Unknown config key 'data\.imagesize'"):
        load_config(str(yaml_path))
    with pytest.raises(ConfigError, match="no shipped config of that name"):
        load_config("cifar_huge")
    for override, problem in [
        ("train.batch_size=eight", "'train.batch_size' takes a whole number (default"),
        ("train.epochs=1.5", "'train.epochs' takes a whole number"),
        ("train.epochs=True", "'train.epochs' takes a whole number"),
        ("optimizer.learning_rate=fast", "'optimizer.learning_rate' takes a number"),
        ("data.flip=yes", "'data.flip' takes True or False (default False); got 'yes'"),
        ("data.crop_scale=0.5", "'data.crop_scale' takes a pair of numbers"),
        ("data.dataset=3", "'data.dataset' takes a string"),
        ("model.patch_size=4.0", "'model.patch_size' takes a whole number or None"),
        ("model.gelu_approximate=1", "'model.gelu_approximate' takes True or False or None"),
        ("train.jit_compile=None", "'train.jit_compile' takes True or False or a string"),
        ("train.epochs=0", "'train.epochs' must be a finite number >= 1; got 0"),
        ("optimizer.learning_rate=-1", "'optimizer.learning_rate' must be a finite number > 0"),
        ("optimizer.learning_rate=1e999", "'optimizer.learning_rate' must be a finite number > 0"),
        ("model.num_blocks=0", "'model.num_blocks' must be a finite number >= 1; got 0"),
        ("model.hidden_size=-8", "'model.hidden_size' must be a finite number >= 1; got -8"),
        ("optimizer.beta_2=1", "'optimizer.beta_2' must be a finite number >= 0 and < 1"),
        ("train.label_smoothing=1.5", "'train.label_smoothing' must be a finite number >= 0"),
        ("data.crop_scale=(0, 1)", "'data.crop_scale' must be a finite number > 0 and <= 1"),
        ("optimizer.global_clipnorm=0", "'optimizer.global_clipnorm' must be a finite number > 0"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(problem)):
            load_config("digits", [override])
    assert load_config("digits", ["optimizer.learning_rate=1"])["optimizer"]["learning_rate"] == 1
    assert load_config("digits", ["model.variant=S/16"])["model"]["variant"] == "S/16"
    assert load_config("digits", ["train.jit_compile=auto"])["train"]["jit_compile"] == "auto"
    assert load_config("digits", ["data.crop_scale=[0.2, 1]"])["data"]["crop_scale"] == (0.2, 1)


def test_config_files_that_do_not_parse_are_named_with_their_line(tmp_path):
    broken_yaml = tmp_path / "broken.yaml"
    broken_yaml.write_text("train:\n  epochs: 3\n  batch_size: [8\n")
    with pytest.raises(ConfigError, match=r"Config .*broken\.yaml, line 4: not valid YAML \("):
        load_config(str(broken_yaml))
    a_list = tmp_path / "list.yaml"
    a_list.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"list\.yaml: expected sections .*got list"):
        load_config(str(a_list))
    broken_python = tmp_path / "broken.py"
    broken_python.write_text("def get_config():\n    return {'train': {'epochs': 7}\n")
    with pytest.raises(ConfigError, match=r"Config .*broken\.py, line \d: "):
        load_config(str(broken_python))


def test_python_config_file(tmp_path):
    path = tmp_path / "my.py"
    path.write_text("def get_config():\n    return {'train': {'epochs': 7}}\n")
    assert load_config(str(path))["train"]["epochs"] == 7


# ------------------------------------------------------------------ recipe


def test_warmup_then_linear_and_cosine_decay():
    linear = WarmupDecay(1.0, total_steps=110, warmup_steps=10, decay="linear")
    values = [float(linear(s)) for s in (0, 5, 10, 60, 110, 200)]
    np.testing.assert_allclose(values, [0, 0.5, 1.0, 0.5, 0.0, 0.0], atol=1e-6)
    cosine = WarmupDecay(2.0, total_steps=110, warmup_steps=10, decay="cosine")
    np.testing.assert_allclose(float(cosine(60)), 1.0, atol=1e-6)
    np.testing.assert_allclose(float(cosine(35)), 1.0 + np.cos(np.pi / 4), atol=1e-5)
    restored = WarmupDecay(**linear.get_config())
    assert float(restored(60)) == pytest.approx(0.5)


def test_weight_decay_spares_biases_and_layer_norms():
    model = keras_mixer.MlpMixer(4, 8, 1, 4, 16, input_shape=(8, 8, 3), classes=3)
    for variable in model.weights:
        variable.assign(np.ones(variable.shape))
    config = {
        **DEFAULTS["optimizer"],
        "learning_rate": 0.1,
        "weight_decay": 0.5,
        "decay": "constant",
    }
    optimizer = make_optimizer(config, total_steps=10)
    zeros = [np.zeros(v.shape, np.float32) for v in model.trainable_variables]
    optimizer.apply_gradients(zip(zeros, model.trainable_variables))
    for variable in model.trainable_variables:
        value = float(np.mean(variable.numpy()))
        if variable.name == "kernel":
            assert value == pytest.approx(1 - 0.1 * 0.5), variable.path
        else:
            assert value == pytest.approx(1.0), variable.path


# ------------------------------------------------------------------ data


def data_config(**overrides):
    return {**datasets.DATA_DEFAULTS, "image_size": 16, "eval_crop": 1.0, **overrides}


def augmented_batch(**train_settings):
    """(images, labels) of the first training batch of 16 digits, whole images
    (no crop, no flip), with ``train_settings``' augmentation, and without it."""
    config = data_config(crop_scale=(1.0, 1.0), flip=False)
    split = datasets.read_split("digits", "train", config)

    def first(settings):
        train_config = {**DEFAULTS["train"], "batch_size": 16, **settings}
        batches = data_lib.training_batches(split, config, train_config)
        images, labels = next(iter(batches))
        return images.numpy(), labels.numpy()

    return first(train_settings), first({})


def test_mixup_blends_two_images_and_their_labels_alike():
    (mixed, soft), (images, labels) = augmented_batch(mixup_alpha=0.4)
    assert np.array_equal(labels, np.eye(10)[labels.argmax(-1)])  # plain: one-hot
    blended = 0
    for i in range(len(images)):
        # mixed = w images[i] + (1 - w) images[j], soft = w labels[i] + (1 - w) labels[j]
        found = []
        for j in range(len(images)):
            difference = (images[i] - images[j]).ravel()
            if not difference.any():
                continue
            w = float((mixed[i] - images[j]).ravel() @ difference / (difference @ difference))
            if np.allclose(mixed[i], w * images[i] + (1 - w) * images[j], atol=1e-4):
                found.append(np.allclose(soft[i], w * labels[i] + (1 - w) * labels[j], atol=1e-4))
        assert found and any(found), i
        blended += not np.allclose(mixed[i], images[i], atol=1e-4)
    assert blended >= len(images) // 2


def test_cutmix_pastes_a_patch_of_another_image_and_mixes_labels_by_its_area():
    (mixed, soft), (images, labels) = augmented_batch(cutmix_alpha=1.0)
    pasted = 0
    for i in range(len(images)):
        changed = np.any(mixed[i] != images[i], axis=-1)
        if not changed.any():
            continue
        rows, cols = np.nonzero(changed)
        box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
        # Inside the box the pixels are another image's; outside, the image's own.
        donors = [
            j
            for j in range(len(images))
            if np.array_equal(mixed[i][box], images[j][box]) and j != i
        ]
        assert donors and np.array_equal(mixed[i][~changed], images[i][~changed]), i
        other = labels[donors[0]].argmax()
        if other != labels[i].argmax():  # the label's share of the other class: the patch's
            share = soft[i][other]  # area (Keras takes it from the box's float corners)
            height, width = changed.shape
            edge = (height + width) / (height * width)  # one row and one column of pixels
            box_area = changed[box].size / changed.size
            assert changed.mean() - edge <= share <= box_area + edge, i
            assert soft[i][labels[i].argmax()] == pytest.approx(1 - share, abs=1e-6)
        pasted += 1
    assert pasted >= len(images) // 2


def test_randaugment_changes_images_not_labels():
    (augmented, same_labels), (images, labels) = augmented_batch(randaugment_ops=2)
    np.testing.assert_array_equal(same_labels, labels)
    changed = [not np.allclose(a, b, atol=1e-3) for a, b in zip(augmented, images)]
    assert sum(changed) >= len(images) // 2
    assert augmented.min() >= -1 and augmented.max() <= 1  # still pixels, scaled


# ------------------------------------------------------------------ a whole run


def test_train_writes_a_complete_run(tmp_path):
    config = load_config(write_config(tmp_path / "tiny.yaml"))
    _, history = train(config, str(tmp_path / "run"), verbose=0)
    run = tmp_path / "run"
    for name in (
        "config.json",
        "model.keras",
        "metrics.json",
        "history.json",
        "history.csv",
        "training_curves.png",
        "checkpoints/epoch_0001.weights.h5",
        "checkpoints/epoch_0002.weights.h5",
    ):
        assert (run / name).exists(), name
    assert os.listdir(run / "logs")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["val_examples"] == 362  # the digits' held-out files
    assert [row["epoch"] for row in history] == [1, 2]
    # metrics.json holds the final model's score: its last epoch's, and an evaluation's.
    assert metrics["val_accuracy"] == pytest.approx(history[-1]["val_accuracy"], abs=1e-6)
    evaluated = evaluate(str(run / "model.keras"), "digits", log=lambda line: None)
    assert metrics["val_accuracy"] == pytest.approx(evaluated["top1"], abs=1e-6)
    assert json.loads((run / "config.json").read_text())["model"]["hidden_size"] == 16
    reloaded = keras.saving.load_model(run / "model.keras")
    assert reloaded.output_shape == (None, 10)
    alone = subprocess.run(  # a user's process: the model package only
        [
            sys.executable,
            "-c",
            "import sys, keras, keras_mixer; m = keras.saving.load_model("
            f"{str(run / 'model.keras')!r}); print(m.output_shape, 'training' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "tensorflow"},
    )
    assert alone.returncode == 0, alone.stderr[-2000:]
    assert alone.stdout.split("\n")[-2] == "(None, 10) False"


def test_a_tiny_mixer_learns_the_digits(digits_model):
    """The session's tiny Mixer (6 short epochs) reaches a real accuracy on the
    362 held-out digits (~87% measured; chance is 10%)."""
    metrics = json.loads((digits_model.parent / "metrics.json").read_text())
    assert metrics["val_accuracy"] >= 0.8 and metrics["val_examples"] == 362


def test_fine_tune_from_checkpoint_to_new_classes_and_resolution(tmp_path):
    source = keras_mixer.MlpMixer(4, 16, 1, 8, 32, input_shape=(16, 16, 3), classes=3)
    source.get_layer("stem").kernel.assign(np.full((4, 4, 3, 16), 0.01, np.float32))
    channel_kernel = source.get_layer("MixerBlock_0").channel_mixing.get_weights()[0]
    source.save_weights(str(tmp_path / "pre.weights.h5"))
    config = load_config(
        write_config(
            tmp_path / "ft.yaml",
            model={"weights": str(tmp_path / "pre.weights.h5")},
            data={"image_size": 32},
            train={"epochs": 1, "steps_per_epoch": 1},
            optimizer={"learning_rate": 1e-4},
        )
    )
    model, _ = train(config, str(tmp_path / "run"), verbose=0)
    assert model.output_shape == (None, 10)  # the digits' classes, not the checkpoint's 3
    assert model.get_layer("MixerBlock_0").tokens_mlp_dim == 32  # 2x resolution: tiles
    # The checkpoint was loaded: one small step from its weights, not a fresh initialisation.
    np.testing.assert_allclose(model.get_layer("stem").kernel.numpy(), 0.01, atol=1e-3)
    np.testing.assert_allclose(
        model.get_layer("MixerBlock_0").channel_mixing.get_weights()[0], channel_kernel, atol=1e-3
    )


def test_mixed_precision_run(tmp_path):
    config = load_config(
        write_config(
            tmp_path / "t.yaml",
            train={"epochs": 1, "steps_per_epoch": 2, "precision": "mixed_bfloat16"},
        )
    )
    try:
        model, history = train(config, str(tmp_path / "run"), verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("MixerBlock_0").compute_dtype == "bfloat16"
    assert model.get_layer("stem").kernel.dtype == "float32"  # variables stay float32
    assert np.isfinite(history[0]["loss"])


def test_batch_size_must_split_across_replicas(tmp_path):
    config = load_config(write_config(tmp_path / "t.yaml", train={"batch_size": 30}))
    config["distribute"]["strategy"] = "default"
    train(config, str(tmp_path / "ok"), verbose=0)  # one replica: any batch size
    result = run_module(
        "training",
        "--config",
        write_config(
            tmp_path / "bad.yaml",
            train={"batch_size": 33},
            distribute={"strategy": "mirrored", "cpu_devices": 2},
        ),
        "--output",
        tmp_path / "bad",
    )
    assert result.returncode == 2
    assert "train.batch_size 33 is not divisible by the 2 replicas" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_errors_are_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("the user's own file")
    before = folder_checksums(tmp_path)
    result = run_main(
        train_main, "--config", "digits", "--set", "train.epoch=3", "--output", tmp_path
    )
    assert result.returncode == 2
    assert "error: Unknown config key 'train.epoch'" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_main(
        train_main, "--config", "digits", "--set", "train.epochs=abc", "--output", tmp_path / "typo"
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: Config key 'train.epochs' takes a whole number (default" in result.stderr
    assert not (tmp_path / "typo").exists()
    result = run_main(
        train_main,
        "--config",
        write_config(tmp_path / "t.yaml", data={"dataset": str(tmp_path / "missing")}),
        "--output",
        tmp_path,
    )
    assert "error: Dataset folder" in result.stderr and "does not exist" in result.stderr
    built = "error: The config's model (model.*, data.image_size) cannot be built: "
    for override, message in (
        (
            "data.image_size=30",
            built + "Input height 30 is not a multiple of the patch size "
            "4 (nearest valid sizes: 28 or 32).",
        ),
        (
            "model.weights='imagenet21kk'",
            built + "Weights 'imagenet21kk': no such file, and not a release name",
        ),
        (
            "optimizer.name=adamx",
            "error: optimizer.name must be one of adam, adamw, sgd; got 'adamx'.",
        ),
    ):
        result = run_main(
            train_main,
            "--config",
            write_config(tmp_path / "t.yaml"),
            "--set",
            override,
            "--output",
            tmp_path / "bad",
        )
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert message in result.stderr
    after = folder_checksums(tmp_path)
    del after["t.yaml"]  # written by this test between the runs
    assert after == before


def test_a_download_that_fails_is_named_as_such_not_as_a_bad_model(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("KERAS_MIXER_WEIGHTS_ORIGIN", "http://127.0.0.1:9")  # nothing listens
    result = run_main(
        train_main,
        "--config",
        write_config(
            tmp_path / "t.yaml",
            model={"variant": "S/32", "weights": "gsam"},
            data={"image_size": 32},
        ),
        "--output",
        tmp_path / "run",
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        "error: Could not fetch gsam Mixer-S/32: Could not download "
        "http://127.0.0.1:9/gsam/Mixer-S_32.npz: [Errno 111] Connection refused; nothing was "
        "cached. Without network access, download the file elsewhere and pass its path as "
        "weights=."
    ]


def test_a_diverging_run_stops_in_one_line_and_saves_no_model(tmp_path):
    folder = tmp_path / "run"
    result = run_main(
        train_main,
        "--config",
        write_config(tmp_path / "t.yaml"),
        "--set",
        "optimizer.learning_rate=1e12",
        "--set",
        "optimizer.global_clipnorm=None",
        "--output",
        folder,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert re.fullmatch(
        r"error: Training diverged: the loss became nan at epoch 1, step \d+\. Stopped before "
        r"saving it: no epoch had finished and no model\.keras was written\. Lower "
        r"optimizer\.learning_rate or set optimizer\.global_clipnorm, then run with --overwrite\.",
        result.stderr.strip(),
    ), result.stderr[-2000:]
    assert not (folder / "model.keras").exists() and not (folder / "metrics.json").exists()
    assert not (folder / "checkpoints").exists() and not (folder / "history.json").exists()


def test_the_divergence_guard_keeps_the_last_finite_epoch(tmp_path):
    """The run's callbacks, in the trainer's order, on a model whose second
    epoch brings a NaN: epoch 1 is logged and checkpointed, epoch 2 neither."""
    from training.callbacks import EpochCheckpoints, NonFiniteLoss, RunLog
    from training.trainer import run_callbacks

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    images = np.ones((6, 4), np.float32)
    images[3] = np.nan  # the first batch of the second epoch
    checkpoints = EpochCheckpoints(str(tmp_path / "checkpoints"))
    callbacks = run_callbacks(RunLog(str(tmp_path)), checkpoints, str(tmp_path))
    with pytest.raises(
        NonFiniteLoss,
        match=r"the loss became nan at epoch 2, step 1\. Stopped before saving it: epoch 1, the "
        r"last finished, stays in .*epoch_0001\.weights\.h5 and no model\.keras was written\.",
    ):
        model.fit(
            images,
            np.zeros((6, 2)),
            batch_size=3,
            epochs=3,
            steps_per_epoch=1,
            shuffle=False,
            callbacks=callbacks,
            verbose=0,
        )
    assert checkpoints.latest()[0] == 1
    assert [row["epoch"] for row in json.loads((tmp_path / "history.json").read_text())] == [1]


def test_evaluate_cli_reports_top1_top5(tmp_path):
    config = load_config(write_config(tmp_path / "tiny.yaml"))
    train(config, str(tmp_path / "run"), verbose=0)
    result = run_main(  # (its own process: tests/test_commands.py)
        evaluate_main,
        tmp_path / "run" / "model.keras",
        "--data",
        "digits",
        "--json",
        tmp_path / "eval.json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "eval.json").read_text())
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert report["top1"] == pytest.approx(metrics["val_accuracy"], abs=1e-6)
    assert report["top5"] == pytest.approx(metrics["val_top5_accuracy"], abs=1e-6)
    assert report["examples"] == metrics["val_examples"]
    assert json.loads(result.stdout) == report  # stdout is the JSON alone: progress is on stderr
    assert "batches" in result.stderr
    # Named for what it is: the run's val_loss includes its label smoothing, this does not.
    assert "loss" not in report and report["cross_entropy"] > 0
    before = folder_checksums(tmp_path / "run")
    result = run_main(
        evaluate_main, tmp_path / "run" / "model.keras", "--data", "digits", "--split", "trian"
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        "error: Split 'trian' of digits: folders, digits and mnist have the splits train "
        "and validation." in result.stderr
    )
    result = run_main(
        evaluate_main, tmp_path / "run" / "model.keras", "--data", "digits", "--batch-size", "0"
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: The batch size must be a whole number of at least 1; got 0." in result.stderr
    for json_path, problem in (
        (tmp_path / "run" / "model.keras", "must end in .json"),
        (tmp_path / "run" / "metrics.json", "exists and is not evaluation results"),
    ):
        result = run_main(
            evaluate_main, tmp_path / "run" / "model.keras", "--data", "digits", "--json", json_path
        )
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert problem in result.stderr and '"top1"' not in result.stdout  # before the work
    assert folder_checksums(tmp_path / "run") == before
    (tmp_path / "run" / "config.json").write_text('{"model_type": "someone else\'s"}')
    result = run_main(
        evaluate_main,
        tmp_path / "run" / "model.keras",
        "--data",
        "digits",
        "--json",
        tmp_path / "foreign.json",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "is not a training run's config; using the default data settings" in result.stderr
    (tmp_path / "cut.keras").write_bytes((tmp_path / "run" / "model.keras").read_bytes()[:999])
    result = run_main(evaluate_main, tmp_path / "cut.keras", "--data", "digits")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is not a whole .keras file" in result.stderr


def test_runs_that_could_not_train_or_would_spoil_their_data_are_refused(tmp_path):
    from tests.test_datasets import write_image_folder

    root = write_image_folder(tmp_path / "pets")  # 12 images, 2 classes
    before = folder_checksums(tmp_path)
    for output, sets, message in (
        (root, [], f"Output '{root}' is inside the image folder '{root}' it trains on"),
        (root / "runs" / "a", [], "is inside the image folder"),
        # steps_per_epoch repeats the split, but a split of fewer images than
        # one batch gives no batch at all: the run would save an untrained model.
        (
            tmp_path / "run",
            ["train.batch_size=64", "train.steps_per_epoch=4"],
            "train.batch_size 64 is larger than the 9 training examples of",
        ),
    ):
        result = run_main(
            train_main,
            "--config",
            write_config(tmp_path / "t.yaml", data={"dataset": str(root), "val_fraction": 0.2}),
            *[arg for value in sets for arg in ("--set", value)],
            "--output",
            output,
        )
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert message in result.stderr
        assert not (tmp_path / "run").exists()
    after = folder_checksums(tmp_path)
    del after["t.yaml"]
    assert after == before


def test_classes_with_no_training_image_are_refused_and_unscored_ones_said(tmp_path):
    from tests.test_datasets import write_image_folder

    # One image a class, as a careless folder has it: some classes' only image
    # lands in validation (crc32 of its name), so they can never be learnt.
    names = [f"class_{i:02d}" for i in range(30)]
    root = write_image_folder(tmp_path / "one_each", classes=names, per_class=1)
    config = write_config(tmp_path / "t.yaml", data={"dataset": str(root), "val_fraction": 0.2})
    result = run_main(train_main, "--config", config, "--output", tmp_path / "run")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert re.search(r"error: \d+ of the 30 classes of .* have no training image", result.stderr)
    assert "lower data.val_fraction" in result.stderr and not (tmp_path / "run").exists()

    # Enough images that every class trains, too few for each to be scored: said, then trained.
    root = write_image_folder(tmp_path / "few", classes=names[:6], per_class=4)
    config = write_config(
        tmp_path / "f.yaml",
        data={"dataset": str(root), "val_fraction": 0.2},
        train={"epochs": 1, "batch_size": 4},
    )
    result = run_main(train_main, "--config", config, "--output", tmp_path / "run")
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"warning: \d of the 6 classes of .* have no validation image", result.stderr)


class _Scale(keras.layers.Layer):
    """Multiplies by a non-trainable weight a test can set (NaN: a diverged model)."""

    def build(self, input_shape):
        self.value = self.add_weight(shape=(), initializer="ones", trainable=False)

    def call(self, x):
        return x * self.value


class _NanAtSecondValidation(keras.callbacks.Callback):
    """Sets the model's scale to NaN just before the second epoch's validation:
    every training batch stays finite, only the epoch's end sees NaN."""

    def __init__(self, scale):
        super().__init__()
        self.scale, self.epoch = scale, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_test_begin(self, logs=None):
        if self.epoch == 1:
            self.scale.value.assign(float("nan"))


def test_a_nan_only_at_an_epoch_s_end_is_neither_logged_nor_checkpointed(tmp_path):
    from training.callbacks import EpochCheckpoints, NonFiniteLoss, RunLog
    from training.trainer import run_callbacks

    scale = _Scale()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2), scale])
    model.compile("sgd", "mse")
    data = (np.ones((6, 4), np.float32), np.zeros((6, 2), np.float32))
    checkpoints = EpochCheckpoints(str(tmp_path / "checkpoints"))
    callbacks = run_callbacks(RunLog(str(tmp_path)), checkpoints, str(tmp_path))
    with pytest.raises(NonFiniteLoss, match=r"val_loss nan after epoch 2\. Stopped before"):
        model.fit(
            *data,
            validation_data=data,
            batch_size=3,
            epochs=3,
            callbacks=[_NanAtSecondValidation(scale), *callbacks],
            verbose=0,
        )
    assert checkpoints.latest()[0] == 1
    assert [row["epoch"] for row in json.loads((tmp_path / "history.json").read_text())] == [1]


def test_a_python_config_that_raises_is_named_with_its_line(tmp_path):
    config = tmp_path / "broken.py"
    config.write_text("def get_config():\n    scale = 0\n    return {'train': 1 / scale}\n")
    result = run_main(train_main, "--config", config, "--output", tmp_path / "run")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"error: Config {config}: get_config() raised ZeroDivisionError at line 3" in (
        result.stderr
    )


def test_evaluate_refuses_a_model_whose_input_is_not_rgb(tmp_path):
    grey = keras_mixer.MlpMixer(4, 16, 1, 8, 16, input_shape=(16, 16, 1), classes=10)
    grey.save(tmp_path / "grey.keras")
    result = run_main(evaluate_main, tmp_path / "grey.keras", "--data", "digits")
    assert result.returncode == 2 and result.stderr == (
        f"error: Model {tmp_path / 'grey.keras'} takes inputs of shape (16, 16, 1); the datasets "
        "give RGB images (height, width, 3).\n"
    )
