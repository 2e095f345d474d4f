"""ImageNet class names of the released heads (keras_mixer.labels)."""

import numpy as np
import pytest

import keras_mixer


def test_decode_predictions_with_shipped_imagenet_labels():
    preds = np.zeros((2, 1000), np.float32)
    preds[0, 1], preds[0, 0] = 0.9, 0.1
    preds[1, 999] = 1.0
    first, second = keras_mixer.decode_predictions(preds, top=2)
    assert first == [
        ("n01443537", "goldfish", pytest.approx(0.9)),
        ("n01440764", "tench", pytest.approx(0.1)),
    ]
    assert second[0][:2] == ("n15075141", "toilet tissue")
    wide = np.zeros((1, 21843))
    wide[0, 0] = 1
    assert keras_mixer.decode_predictions(wide, top=1)[0][0][:2] == ("n00004475", "organism")
    with pytest.raises(
        ValueError, match=r"\(batch, 1000\) or \(batch, 21843\); got shape \(2, 10\)"
    ):
        keras_mixer.decode_predictions(np.zeros((2, 10)))


def test_labels_helper():
    assert len(keras_mixer.labels()) == 1000
    names = keras_mixer.labels("imagenet21k")
    assert len(names) == 21843 and len(set(names)) > 20000
    assert keras_mixer.labels(full=True)[0] == "tench, Tinca tinca"
    with pytest.raises(ValueError, match="Unknown label set 'jft'"):
        keras_mixer.labels("jft")
