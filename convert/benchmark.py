"""``convert benchmark MODEL.tflite [MODEL2.tflite ...]``: LiteRT latency, side by side.

Each model runs in its own fresh worker process per thread count (so load
time and peak memory are its own), and the workers take turns, a round of
runs each, so drift on a shared machine hits every model alike. Reported per
model and thread count: load time, median/p10/p90 latency, the worker's peak
memory above its baseline, the XNNPACK partitions and the ops left outside
them; the accuracy from the model's conversion report when there is one.
LiteRT's Python API has no op profiler: run LiteRT's ``benchmark_model
--enable_op_profiling=true`` for a per-op time profile (README, "Deploying to
phones").
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Callable

import numpy as np

from convert import runtime
from convert.modes import MODES
from convert.worker import Worker, serve
from mixer_base.commands import run_command


def benchmark(
    paths: list[str],
    threads: tuple[int, ...] = (1, 2, 4),
    runs: int = 30,
    warmup: int = 5,
    rounds: int = 5,
    log: Callable[[str], None] = print,
) -> dict:
    """Measures every model at every thread count; returns the results dict."""
    from keras_mixer.files import check_input

    for path in paths:
        check_input(path)
    cores = len(os.sched_getaffinity(0))  # the cores this process may use
    beyond = [count for count in threads if count > cores]
    if beyond:
        log(
            f"note: --threads {','.join(map(str, beyond))} beyond this machine's {cores} CPU "
            "cores: the threads share them, so those rows measure the contention, not a "
            "faster run"
        )
    rows = []
    for count in threads:
        log(f"[benchmark] {count} thread(s): loading {len(paths)} model(s)")
        workers = [_Worker(path, count) for path in paths]
        try:
            for worker in workers:
                worker.call(warmup)
            times = [[] for _ in workers]
            for round_index in range(rounds):
                for worker, found in zip(workers, times):
                    found += worker.call(max(1, runs // rounds))
                log(f"[benchmark] {count} thread(s): round {round_index + 1}/{rounds}")
            for worker in workers:
                worker.close()  # reads its peak memory
            rows += [_row(worker, found) for worker, found in zip(workers, times)]
        finally:
            for worker in workers:
                worker.close()
    return {
        "threads": list(threads),
        "runs": runs,
        "warmup": warmup,
        "results": rows,
        "machine": _machine(),
    }


def table(results: dict) -> str:
    """The results as a fixed-width text table."""
    lines = [
        f"{'model':<32} {'thr':>3} {'median':>9} {'p10':>9} {'p90':>9} {'load':>8} "
        f"{'memory':>8} {'parts':>5} {'top-1':>6}  ops outside XNNPACK"
    ]
    for row in results["results"]:
        accuracy = "" if row["accuracy"] is None else f"{row['accuracy']:.4f}"
        outside = ", ".join(f"{op} x{n}" for op, n in row["ops_outside"].items()) or "none"
        lines.append(
            f"{row['name'][:32]:<32} {row['threads']:>3} {row['median_ms']:>7.2f}ms "
            f"{row['p10_ms']:>7.2f}ms {row['p90_ms']:>7.2f}ms {row['load_ms']:>6.0f}ms "
            f"{row['peak_memory_mb']:>6.1f}MB {row['partitions']:>5} {accuracy:>6}  {outside}"
        )
    return "\n".join(lines)


def save(results: dict, json_path: str) -> str:
    """Writes ``json_path`` and the plot beside it (same name, .png)."""
    from keras_mixer.files import atomic_path, write_json

    write_json(results, json_path)
    png = plot_path(json_path)
    with atomic_path(png) as tmp:
        plot(results, tmp)
    return png


def plot_path(json_path: str) -> str:
    return os.path.splitext(json_path)[0] + ".png"


def output_files(json_path: str) -> list:
    """(path, suffix, ours, what) of the files ``save(results, json_path)``
    writes, for ``keras_mixer.files.check_outputs``."""
    from keras_mixer.files import json_with, our_png

    return [
        (json_path, ".json", json_with("threads", "results"), "a benchmark result"),
        (plot_path(json_path), ".png", our_png("benchmark"), "a benchmark plot keras-mixer wrote"),
    ]


def plot(results: dict, path: str) -> None:
    """Median latency per model and thread count; latency against accuracy
    when the models' conversion reports give it."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from keras_mixer.files import plot_metadata

    rows = results["results"]
    names = list(dict.fromkeys(row["name"] for row in rows))
    with_accuracy = [row for row in rows if row["accuracy"] is not None]
    fig, axes = plt.subplots(
        1, 2 if with_accuracy else 1, figsize=(12 if with_accuracy else 7, 4), squeeze=False
    )
    bars = axes[0][0]
    width = 0.8 / len(results["threads"])
    for i, count in enumerate(results["threads"]):
        medians = [
            next(r["median_ms"] for r in rows if r["name"] == n and r["threads"] == count)
            for n in names
        ]
        bars.bar(np.arange(len(names)) + i * width, medians, width, label=f"{count} thread(s)")
    bars.set_xticks(np.arange(len(names)) + width * (len(results["threads"]) - 1) / 2)
    bars.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
    bars.set_ylabel("median latency (ms)")
    bars.legend()
    if with_accuracy:
        scatter = axes[0][1]
        for count in results["threads"]:
            chosen = [r for r in with_accuracy if r["threads"] == count]
            scatter.plot(
                [r["median_ms"] for r in chosen],
                [r["accuracy"] for r in chosen],
                "o",
                label=f"{count} thread(s)",
            )
            for r in chosen:
                scatter.annotate(r["name"], (r["median_ms"], r["accuracy"]), fontsize=7)
        scatter.set_xlabel("median latency (ms)")
        scatter.set_ylabel("top-1 accuracy")
        scatter.legend()
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110, metadata=plot_metadata("benchmark"))
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    """``convert benchmark`` (also ``python -m convert.benchmark``): ``convert.cli``'s parser."""
    from convert import cli

    return cli.main(["benchmark", *(sys.argv[1:] if argv is None else argv)])


def command(args: argparse.Namespace) -> dict:
    """``convert benchmark`` as ``convert.cli`` read its command line."""

    def measured():
        if args.json:
            check_outputs(args.json)
        results = benchmark(args.models, args.threads, args.runs, args.warmup)
        print(table(results))
        if args.json:
            print(f"wrote {args.json} and {save(results, args.json)}")
        return results

    return run_command(measured, (ValueError, RuntimeError, OSError), args.debug, extra="convert")


def check_outputs(json_path: str) -> None:
    """Refuses, before any measuring, a ``--json`` path that is not a .json
    file of benchmark results (an input model's conversion report, say) or
    whose plot would replace a file that is not a PNG."""
    from keras_mixer.files import check_outputs

    check_outputs(output_files(json_path))


# ------------------------------------------------------------------ workers


class _Worker:
    """One model in one process at one thread count (a ``convert.worker.Worker``),
    answering "run N" with N invoke times."""

    def __init__(self, path, threads):
        self.path, self.threads = path, threads
        self.worker = Worker(
            ["-m", "convert.benchmark", "--worker", path, threads],
            what=f"Running {path!r} in LiteRT",
        )
        self.info = self.worker.hello

    def call(self, runs):
        return self.worker.ask(str(runs))

    def close(self):
        """Ends the worker (idempotent), keeping its peak memory in ``info``."""
        if "peak_kb" not in self.info and self.worker.process.poll() is None:
            self.info["peak_kb"] = self.worker.ask("peak")
        self.worker.close()


def _row(worker, seconds):
    ms = np.asarray(seconds) * 1000
    report = _conversion_report(worker.path)
    mode = MODES.get(report.get("mode"))
    key = mode.report_key if mode else None
    return {
        "name": os.path.splitext(os.path.basename(worker.path))[0],
        "path": worker.path,
        "threads": worker.threads,
        "median_ms": float(np.median(ms)),
        "p10_ms": float(np.percentile(ms, 10)),
        "p90_ms": float(np.percentile(ms, 90)),
        "runs": len(ms),
        "load_ms": worker.info["load_s"] * 1000,
        "peak_memory_mb": (worker.info["peak_kb"] - worker.info["baseline_kb"]) / 1024,
        "partitions": worker.info["partitions"],
        "ops_outside": worker.info["ops_outside"],
        "input_dtype": worker.info["input_dtype"],
        "size_bytes": os.path.getsize(worker.path),
        "accuracy": report.get("accuracy", {}).get(key),
    }


def _conversion_report(path):
    try:
        with open(os.path.splitext(path)[0] + ".json") as f:
            report = json.load(f)
        return report if isinstance(report, dict) else {}
    except (OSError, ValueError):
        return {}


def _memory_kb(field):
    """This process's VmRSS (now) or VmHWM (peak) in KiB. Linux resets VmHWM
    at exec, where ru_maxrss keeps the forking parent's peak; elsewhere
    ru_maxrss (in KiB on Linux, bytes on macOS) is the fallback."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def _serve(path, threads):
    baseline = _memory_kb("VmRSS")
    start = time.perf_counter()
    runner = runtime.interpreter(path, threads)
    load = time.perf_counter() - start
    detail = runner.get_input_details()[0]
    rng = np.random.default_rng(0)
    if np.issubdtype(detail["dtype"], np.integer):
        info = np.iinfo(detail["dtype"])
        data = rng.integers(info.min, info.max, detail["shape"], endpoint=True)
    else:
        data = rng.uniform(0, 255, detail["shape"])
    runner.set_tensor(detail["index"], data.astype(detail["dtype"]))

    def answer(request):
        if request == "peak":
            return _memory_kb("VmHWM")
        seconds = []
        for _ in range(int(request)):
            start = time.perf_counter()
            runner.invoke()
            seconds.append(time.perf_counter() - start)
        return seconds

    serve(
        {
            "load_s": load,
            "baseline_kb": baseline,
            "input_dtype": np.dtype(detail["dtype"]).name,
            **runtime.delegation(runner),
        },
        answer,
    )


def _machine():
    import platform

    return {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "cpu": cpu_description(),
        "python": platform.python_version(),
    }


# The CPU features that decide int8 and float speed (several-fold between them).
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16")


def cpu_description() -> str:
    """One line naming the CPU, its core count and which of ``CPU_FLAGS`` it has:
    printed with every benchmark, since timings compare only within one CPU."""
    import platform

    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    present = [flag for flag in CPU_FLAGS if flag in flags]
    return f"CPU: {model}, {os.cpu_count()} cores, flags: {' '.join(present) or 'unknown'}"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _serve(sys.argv[2], int(sys.argv[3]))
    else:
        main()
