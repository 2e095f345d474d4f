"""A run folder belongs to one run: concurrent runs, changed configs and
folders of other kinds are refused before anything in them changes."""

import json
import os
import resource
import shutil

import pytest

from tests.training_helpers import folder_checksums as checksums
from tests.training_helpers import run_main, run_module, write_config
from training import ConfigError, load_config, run_folder, train
from training.cli import train_main

# Refusals run the command in this process (they come before any training);
# runs that train are processes of their own, as a user starts them.


def refused(result, message):
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, result.stderr[-2000:]
    assert sum(line.startswith("error: ") for line in result.stderr.splitlines()) == 1
    return last


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished one-epoch run of the tiny config: (its config file, the folder)."""
    folder = tmp_path_factory.mktemp("finished")
    path = write_config(folder / "tiny.yaml", train={"epochs": 1, "steps_per_epoch": 2})
    train(load_config(path), str(folder / "run"), verbose=0)
    return path, folder / "run"


def test_a_run_in_progress_refuses_a_second(tmp_path):
    path = write_config(tmp_path / "tiny.yaml")
    folder = tmp_path / "race"
    with run_folder.claimed(str(folder), load_config(path)):  # a run holding the folder
        before = checksums(folder)
        refused(
            run_main(train_main, "--config", path, "--output", folder),
            f"Run folder {folder} is in use by a run in progress (process {os.getpid()})",
        )
        assert checksums(folder) == before
    with run_folder.claimed(str(folder), load_config(path)):  # released when it ended
        pass


def test_a_changed_config_is_refused_with_the_keys_until_overwrite(finished_run, tmp_path):
    path, folder = finished_run
    before = checksums(folder)
    stderr = refused(
        run_main(
            train_main,
            "--config",
            path,
            "--set",
            "model.hidden_size=48",
            "--set",
            "train.seed=3",
            "--output",
            folder,
        ),
        "was started with another config (model.hidden_size 16 -> 48; train.seed 0 -> 3)",
    )
    assert "--overwrite" in stderr
    assert checksums(folder) == before  # config.json, checkpoints and model untouched

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)  # the fixture's run stays as it was for other tests
    (copy / "notes.txt").write_text("mine")
    result = run_module(
        "training",
        "--config",
        path,
        "--set",
        "model.hidden_size=24",
        "--output",
        copy,
        "--overwrite",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((copy / "config.json").read_text())["model"]["hidden_size"] == 24
    assert (copy / "notes.txt").read_text() == "mine"  # not a run file: kept
    assert "Resuming" not in result.stdout


def test_same_config_resumes_and_execution_settings_may_change(finished_run, tmp_path):
    path, folder = finished_run
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    trained = checksums(copy / "checkpoints")
    # (A run killed part-way resumes where it was: tests/test_distributed.py.)
    result = run_main(
        train_main,
        "--config",
        path,
        "--set",
        "train.epochs=2",
        "--set",
        "distribute.strategy='default'",
        "--output",
        copy,
    )
    refused(result, "train.epochs 1 -> 2")  # the config changed: refused...
    result = run_module(
        "training", "--config", path, "--set", "distribute.strategy='default'", "--output", copy
    )
    assert result.returncode == 0, result.stderr[-2000:]  # ...an execution setting may change
    assert "Resuming after epoch 1" in result.stdout
    assert checksums(copy / "checkpoints") == trained  # nothing left to train, nothing redone
    history = json.loads((copy / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1]
    assert json.loads((copy / "config.json").read_text())["distribute"]["strategy"] == "auto"


def test_a_run_started_before_a_key_existed_resumes(finished_run, tmp_path):
    path, folder = finished_run
    older = tmp_path / "older"
    shutil.copytree(folder, older)
    started = json.loads((older / "config.json").read_text())
    del started["data"]["resize_method"]  # data.resize_method came later, at its default
    (older / "config.json").write_text(json.dumps(started))
    with run_folder.claimed(str(older), load_config(path)):
        pass
    changed = load_config(path, ["data.resize_method='area'"])
    with pytest.raises(ConfigError, match=r"data\.resize_method 'bilinear' -> 'area'"):
        with run_folder.claimed(str(older), changed):
            pass


def test_a_config_may_change_until_an_epoch_is_done(tmp_path):
    path = write_config(tmp_path / "bad.yaml", data={"dataset": str(tmp_path / "missing")})
    refused(run_main(train_main, "--config", path, "--output", tmp_path / "run"), "does not exist")
    assert not (tmp_path / "run").exists()  # a refused run leaves nothing behind
    for seed in (5, 7):  # a run that began but finished no epoch, then a corrected one
        with run_folder.claimed(
            str(tmp_path / "run"), load_config(path, [f"train.seed={seed}"])
        ) as claim:
            claim.begin()
        assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["seed"] == seed


@pytest.mark.parametrize("content", ["model.keras", "config.json"])
def test_folders_of_other_kinds_are_refused(tmp_path, content):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / content).write_text('{"name": "someone else\'s"}')
    config = load_config(write_config(tmp_path / "tiny.yaml"))
    with pytest.raises(ConfigError, match="choose another --output"):
        with run_folder.claimed(str(folder), config, overwrite=True):
            pass
    assert (folder / content).read_text() == '{"name": "someone else\'s"}'


def test_an_output_that_is_a_file_is_refused(tmp_path):
    output = tmp_path / "results.txt"
    output.write_text("keep me")
    refused(
        run_main(train_main, "--config", write_config(tmp_path / "tiny.yaml"), "--output", output),
        f"Output '{output}' is a file, not a run folder.",
    )
    assert output.read_text() == "keep me"


def test_a_full_disk_stops_the_run_in_one_line_and_it_resumes_once_there_is_room(tmp_path):
    path = write_config(tmp_path / "tiny.yaml")
    folder = tmp_path / "run"

    def small_files():  # as `ulimit -f 40` does: no file over 40 KB
        resource.setrlimit(resource.RLIMIT_FSIZE, (40 * 1024, 40 * 1024))

    full = run_module("training", "--config", path, "--output", folder, preexec_fn=small_files)
    refused(full, f"No room to write {folder}/checkpoints/epoch_0001.weights.h5: it needs about")
    left = sorted(
        os.path.relpath(os.path.join(root, name), folder)
        for root, _, files in os.walk(folder)
        for name in files
    )
    assert not [
        name
        for name in left
        if "checkpoints" in name
        or "model" in name
        or (os.path.basename(name).startswith(".") and name != run_folder.LOCK)
    ], left

    resumed = run_module("training", "--config", path, "--output", folder)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    history = json.loads((folder / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    assert (folder / "model.keras").exists()
