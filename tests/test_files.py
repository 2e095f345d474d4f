import json

import pytest

from keras_mixer.files import atomic_path, write_json


def test_atomic_path_renames_on_success(tmp_path):
    target = tmp_path / "sub" / "model.weights.h5"
    with atomic_path(target) as tmp:
        assert tmp.endswith(".weights.h5") and tmp != str(target)
        open(tmp, "w").write("done")
    assert target.read_text() == "done"
    assert [p.name for p in target.parent.iterdir()] == ["model.weights.h5"]


def test_atomic_path_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "report.json"
    write_json({"run": 1}, target)
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            open(tmp, "w").write('{"run": ')
            raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"run": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def strict_json(path):
    """The file parsed as standard JSON: NaN and Infinity are not JSON."""

    def refuse(constant):
        raise ValueError(f"{path} holds {constant}, which is not JSON")

    with open(path) as f:
        return json.load(f, parse_constant=refuse)


def test_non_finite_numbers_are_written_as_null_with_what_they_were(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(
        {
            "val_loss": float("nan"),
            "history": [{"epoch": 1, "loss": float("inf")}, {"epoch": 2, "loss": 0.5}],
            "scores": (1.0, float("-inf")),
            "epochs": 2,
        },
        path,
    )
    assert strict_json(path) == {
        "val_loss": None,
        "history": [
            {"epoch": 1, "loss": None, "non_finite": {"loss": "inf"}},
            {"epoch": 2, "loss": 0.5},
        ],
        "scores": [1.0, None],
        "epochs": 2,
        "non_finite": {"val_loss": "nan", "scores[1]": "-inf"},
    }


def test_no_room_in_a_nested_write_is_named_once(tmp_path):
    import errno

    from keras_mixer.files import atomic_path

    model, report = tmp_path / "m.tflite", tmp_path / "m.json"
    with pytest.raises(OSError) as raised:
        with atomic_path(model), atomic_path(report):  # a pair, as a conversion writes it
            raise OSError(errno.ENOSPC, "No space left on device")
    assert raised.value.strerror.count("No room to write") == 1
    assert raised.value.strerror.startswith(f"No room to write {report}: No space left on device")
    assert list(tmp_path.iterdir()) == []
