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
