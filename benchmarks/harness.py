"""Side-by-side timing: each implementation in its own worker process
(``convert.worker``, the harness ``convert benchmark`` uses too: TensorFlow
and PyTorch never share one, and each gets the same thread count), taking
turns round by round."""

import os

from convert import worker
from convert.benchmark import cpu_description  # noqa: F401 (every benchmark prints it)


def random_classifier(variant, classes=10, seed=0):
    """Mixer-``variant`` (e.g. "S16") with random weights and a head of std
    0.02, so its logits are not all zero: the conversion benchmarks' model."""
    import numpy as np

    import keras_mixer

    model = getattr(keras_mixer, f"Mixer{variant}")(classes=classes)
    head = model.get_layer("head")
    head.kernel.assign(np.random.default_rng(seed).normal(0, 0.02, head.kernel.shape))
    return model


def text_table(rows, columns):
    """Rows as aligned text. ``columns``: [(header, width, cell)], ``cell(row)``
    the cell's text; a negative width aligns the column left."""

    def aligned(text, width):
        return f"{text:<{-width}}" if width < 0 else f"{text:>{width}}"

    lines = [[aligned(header, width) for header, width, _ in columns]]
    lines += [[aligned(cell(row), width) for _, width, cell in columns] for row in rows]
    return "\n".join(" ".join(line).rstrip() for line in lines)


def write_results(report, output, plot):
    """Writes ``report`` as JSON to ``output`` and ``plot(path)``'s figure as
    the PNG beside it, both atomically; returns the PNG's path."""
    from keras_mixer.files import atomic_path, write_json

    write_json(report, output)
    png = os.path.splitext(output)[0] + ".png"
    with atomic_path(png) as tmp:
        plot(tmp)
    return png


class Worker:
    """``python SCRIPT --worker IMPLEMENTATION VARIANT THREADS`` (a
    ``convert.worker.Worker``), answering ``time(batch, runs)`` with a list of
    seconds."""

    def __init__(self, script, implementation, variant, threads):
        self.worker = worker.Worker(
            [script, "--worker", implementation, variant, threads],
            env={"KERAS_BACKEND": "tensorflow"},
            what=f"{implementation} worker for {variant} (is the bench extra installed? "
            "pip install -e .[bench])",
        )

    def time(self, batch, runs):
        return self.worker.ask(f"{batch} {runs}")

    def close(self):
        self.worker.close()


def serve(make_runner, implementation, variant, threads):
    """The worker side: ``make_runner(...)`` gives run(batch) -> seconds."""
    run = make_runner(implementation, variant, threads)

    def answer(request):
        batch, runs = map(int, request.split())
        return [run(batch) for _ in range(runs)]

    worker.serve("ready", answer)
