"""The base both stages stand on (``training`` and ``convert``, and the
``benchmarks`` above them): how every command starts and ends
(``commands``), the flags more than one command takes, each defined once
(``flags``), and every private attribute of TensorFlow, LiteRT and Keras
the package uses (``internals``).

It imports nothing heavy, no Keras and no TensorFlow, so ``--help`` answers
at once and ``convert.runtime`` stays free of TensorFlow. ``keras_mixer``
cannot host it (``import keras_mixer`` imports Keras), nor ``training``
(converting never needs the training stage); it imports none of the
package's other parts.
"""
