"""The private TensorFlow, LiteRT and Keras attributes we use are all still there."""

import pytest

from mixer_base import internals


def test_every_private_attribute_we_use_exists():
    assert internals.missing() == [], "gone after an upgrade (see mixer_base/internals.py)"


def test_a_missing_one_is_named(monkeypatch):
    gone = ("ai_edge_litert.interpreter", "Interpreter._no_such_method", "convert.runtime: a test")
    monkeypatch.setattr(internals, "PRIVATE", (*internals.PRIVATE, gone))
    assert internals.missing() == ["ai_edge_litert.interpreter:Interpreter._no_such_method"]
    with pytest.raises(internals.PrivateApiError, match=r"_no_such_method is gone.*a test"):
        internals._required(*gone[:2])
