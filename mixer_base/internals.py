"""Every private attribute of TensorFlow, TFLite/LiteRT and Keras this package
uses, in one place (``PRIVATE``), each behind a small function. It lives in
``mixer_base``, which both stages import and which imports nothing on its own
(``keras_mixer`` imports Keras), so ``convert.runtime`` stays free of
TensorFlow.

An upgrade may remove any of them without warning: ``missing()`` names those
the installed libraries lack (``tests/test_internals.py`` fails on it), and
a call to a missing one raises ``PrivateApiError`` naming it, instead of an
``AttributeError`` from deep inside a stage. Nothing is imported until used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

# (module, attribute path, what uses it and why)
PRIVATE = (
    (
        "tensorflow.python.framework.convert_to_constants",
        "_FunctionConverterDataInEager",
        "convert.tflite: freezing a function's variables without re-wrapping it (4-5 s less per "
        "S/16 conversion)",
    ),
    (
        "tensorflow.python.framework.convert_to_constants",
        "_replace_variables_by_constants",
        "convert.tflite: the same",
    ),
    (
        "tensorflow",
        "lite.TFLiteConverter._freeze_concrete_function",
        "convert.tflite: the converter step the quicker freezing replaces",
    ),
    (
        "ai_edge_litert.interpreter",
        "Interpreter._get_ops_details",
        "convert.runtime: the op census and the XNNPACK partitions",
    ),
    (
        "ai_edge_litert.interpreter",
        "Interpreter._get_tensor_details",
        "convert.runtime: each op's input type",
    ),
    (
        "tensorflow.python.distribute.collective_all_reduce_strategy",
        "CollectiveAllReduceExtended._in_multi_worker_mode",
        "training.multi_worker: whether Keras' fit needs the multi-worker fix",
    ),
    (
        "keras",
        "Sequential()._distribute_strategy",
        "training.multi_worker: making Keras' fit skip its symbolic build",
    ),
)
_GONE = object()


class PrivateApiError(RuntimeError):
    """A private attribute this package relies on is gone from the installed library."""


def missing() -> list[str]:
    """The ``module:attribute`` of every ``PRIVATE`` entry the installed libraries lack."""
    return [f"{module}:{path}" for module, path, _ in PRIVATE if _lookup(module, path) is _GONE]


def _lookup(module, path):
    """The attribute at ``path`` ("A.b", "A().b": of an instance) of ``module``, or _GONE."""
    try:
        found = importlib.import_module(module)
    except ImportError:
        return _GONE
    for name in path.split("."):
        found = getattr(found, name.removesuffix("()"), _GONE)
        if found is _GONE:
            return _GONE
        if name.endswith("()"):
            found = found()
    return found


def _required(module, path):
    found = _lookup(module, path)
    if found is _GONE:
        use = next(why for m, p, why in PRIVATE if (m, p) == (module, path))
        raise PrivateApiError(
            f"{module}:{path} is gone from the installed library ({use}); install the "
            "versions setup.cfg pins, or a keras-mixer release that supports this one."
        )
    return found


def ops_details(interpreter: Interpreter) -> list[dict]:
    """LiteRT's description of every op of an interpreter's graph (before delegation)."""
    _required("ai_edge_litert.interpreter", "Interpreter._get_ops_details")
    return interpreter._get_ops_details()


def tensor_details(interpreter: Interpreter, index: int) -> dict:
    """LiteRT's description of tensor ``index`` of an interpreter's graph
    (dtype, quantisation parameters), for any tensor, not only inputs and outputs."""
    _required("ai_edge_litert.interpreter", "Interpreter._get_tensor_details")
    return interpreter._get_tensor_details(index, 0)


def frozen_graph_def(
    function: tf.types.experimental.ConcreteFunction,
) -> tf.compat.v1.GraphDef | None:
    """``function``'s GraphDef with its variables as constants, or None where
    TensorFlow's private freezing is missing (the caller then freezes as
    TFLite does)."""
    module = "tensorflow.python.framework.convert_to_constants"
    data_class = _lookup(module, "_FunctionConverterDataInEager")
    replace = _lookup(module, "_replace_variables_by_constants")
    if data_class is _GONE or replace is _GONE:
        return None
    data = data_class(func=function, lower_control_flow=False, aggressive_inlining=False)
    graph_def, _ = replace(converter_data=data)
    return graph_def


def quick_freezing_converter(
    functions: list[tf.types.experimental.ConcreteFunction], trackable: tf.Module | None
) -> tf.lite.TFLiteConverter:
    """A ``tf.lite.TFLiteConverter`` of concrete ``functions`` (what
    ``from_concrete_functions`` makes) that freezes them with
    ``frozen_graph_def``: TFLite's own freezing wraps the GraphDef back into
    a function, which the converter then only reads the GraphDef of."""
    import tensorflow as tf

    _required("tensorflow", "lite.TFLiteConverter._freeze_concrete_function")

    class QuickFreezing(tf.lite.TFLiteConverter):
        def _freeze_concrete_function(self):
            function = self._funcs[0]
            graph_def = frozen_graph_def(function)
            if graph_def is None:
                return super()._freeze_concrete_function()
            inputs = [tensor for tensor in function.inputs if tensor.dtype != tf.resource]
            return graph_def, inputs, function.outputs, function

    return QuickFreezing(functions, trackable)


def in_multi_worker_mode(strategy: tf.distribute.Strategy) -> bool:
    """Whether a MultiWorkerMirroredStrategy spans several workers."""
    _required(
        "tensorflow.python.distribute.collective_all_reduce_strategy",
        "CollectiveAllReduceExtended._in_multi_worker_mode",
    )
    return strategy.extended._in_multi_worker_mode()


def skip_symbolic_build(model: keras.Model) -> None:
    """Keras' TensorFlow trainer builds a model symbolically on its first
    ``fit`` unless it holds no strategy of its own (it then uses the scope's)."""
    _required("keras", "Sequential()._distribute_strategy")
    model._distribute_strategy = None
