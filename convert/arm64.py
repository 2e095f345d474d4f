"""``convert check-arm FILE.tflite... --data DATASET``: the files run on ARM64's
int8 kernels, emulated, against their x86 run.

LiteRT's aarch64 wheel runs under QEMU user-mode emulation in an arm64 Python
from Debian's packages, once per CPU model (``CPUS``: QEMU's ``-cpu`` sets the
features XNNPACK picks its int8 kernels by), at one thread, on evaluation
images prepared on x86 with each file's own preprocessing. Emulated time is no
phone's: it is shown as emulated seconds only. What it needs is prepared once
(``prepare``) into the Keras cache. The same module runs inside the emulated
Python (``_emulated``), so its imports stay light.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from functools import partial

import numpy as np

# ai-edge-litert 2.3.0's aarch64 wheel segfaults on import under QEMU 7.2; 1.4.0 runs.
WHEELS = ("ai-edge-litert==1.4.0", "numpy==2.2.6")
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64")
PYTHON = "3.11"
DEBS = (
    f"python{PYTHON}-minimal libpython{PYTHON}-minimal libpython{PYTHON}-stdlib libc6 libexpat1 "
    "zlib1g libffi8 libssl3 libstdc++6 libgcc-s1 libbz2-1.0 liblzma5 libsqlite3-0"
).split()
QEMU = "qemu-aarch64-static"
# QEMU's CPU model: the int8 kernel family XNNPACK selects on it.
CPUS = {"cortex-a53": "NEON", "cortex-a76": "NEON dot product", "max": "i8mm"}
INSTALL = (
    "as root: dpkg --add-architecture arm64 && apt-get update && apt-get install "
    "qemu-user-static (Debian 12), with Debian's mirrors and PyPI reachable; then run again"
)
_BOOT = "import sys; sys.path[:0] = sys.argv[1:3]; from convert.arm64 import _emulated; _emulated()"


class Unprepared(RuntimeError):
    """This machine cannot emulate ARM64 as ``prepare`` needs: one line, with what to install."""


def prepare(log=print) -> dict:
    """{"qemu", "root", "site"}: QEMU, the arm64 Python's root and its wheels'
    folder, each prepared once (cached) with a progress line."""
    from keras_mixer.files import keras_home

    home = os.path.join(keras_home(), "keras_mixer_arm64")
    root, site = os.path.join(home, "root"), os.path.join(home, "site")
    os.makedirs(home, exist_ok=True)
    steps = [
        (shutil.which(QEMU), "installing Debian's qemu-user-static (apt-get)", _install_qemu),
        (_ready(root, DEBS), f"unpacking Debian's arm64 Python {PYTHON}", partial(_unpack, root)),
        (_ready(site, WHEELS), f"fetching {', '.join(WHEELS)} (aarch64)", partial(_unzip, site)),
    ]
    todo, start = [(what, step) for done, what, step in steps if not done], time.monotonic()
    for number, (what, step) in enumerate(todo, 1):
        log(f"[check-arm] preparing {number}/{len(todo)} (once): {what}")
        step()
    if todo:
        log(f"[check-arm] prepared in {time.monotonic() - start:.0f} s, cached in {home}")
    found = {"qemu": shutil.which(QEMU), "root": root, "site": site}
    if not found["qemu"]:
        raise Unprepared(f"{QEMU} is not on the PATH after installing it; {INSTALL}")
    return found


def _ready(folder, spec):
    try:
        with open(os.path.join(folder, ".keras-mixer-ready")) as f:
            return f.read() == " ".join(spec)
    except OSError:
        return False


def _privileged():
    """The prefix that runs apt-get and dpkg as root here ([] or sudo -n), or an Unprepared."""
    if os.geteuid() == 0:
        return []
    if (
        shutil.which("sudo")
        and not subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode
    ):
        return ["sudo", "-n"]
    raise Unprepared(f"ARM64 emulation needs root to install Debian packages; {INSTALL}")


def _run(command, what, cwd=None):
    """Runs a preparation step's command; its failure is an Unprepared naming it."""
    if not shutil.which(command[0]):
        raise Unprepared(f"ARM64 emulation needs {command[0]} (Debian's); {INSTALL}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        said = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()
        said = next((line for line in said if line.startswith("E:")), said[-1])
        raise Unprepared(f"{what} failed ({said}); {INSTALL}")


def _apt(args, what, privileged=False, cwd=None):
    """apt-get ``args`` (as root if ``privileged``); if it fails, once more after an update."""
    command = [*(_privileged() if privileged else []), "apt-get", *args]
    try:
        _run(command, what, cwd)
    except Unprepared:
        _run([*_privileged(), "apt-get", "update", "-q"], "apt-get update")
        _run(command, what, cwd)


def _install_qemu():
    _apt(["install", "-y", "-q", "qemu-user-static"], "apt-get install qemu-user-static", True)


def _unpack(root):
    foreign = subprocess.run(["dpkg", "--print-foreign-architectures"], capture_output=True)
    if b"arm64" not in foreign.stdout.split():
        sudo = _privileged()
        _run([*sudo, "dpkg", "--add-architecture", "arm64"], "dpkg --add-architecture arm64")
        _run([*sudo, "apt-get", "update", "-q"], "apt-get update")
    with _building(root, DEBS) as work:
        debs = os.path.join(work, "debs")
        os.makedirs(debs)
        _apt(["download", *(f"{name}:arm64" for name in DEBS)], "apt-get download", cwd=debs)
        for name in sorted(os.listdir(debs)):
            _run(["dpkg", "-x", os.path.join(debs, name), work], f"dpkg -x {name}")
        shutil.rmtree(debs)
        if not os.path.isfile(os.path.join(work, "usr", "bin", f"python{PYTHON}")):
            raise Unprepared(f"Debian's packages held no python{PYTHON}; {INSTALL}")


def _unzip(site):
    with _building(site, WHEELS) as work:
        platforms = [flag for name in PLATFORMS for flag in ("--platform", name)]
        wheels = os.path.join(work, "wheels")
        command = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check"]
        command += ["--only-binary=:all:", "--no-deps", "--python-version", PYTHON, *platforms]
        _run([*command, "-d", wheels, *WHEELS], f"pip download {' '.join(WHEELS)}")
        for name in os.listdir(wheels):
            with zipfile.ZipFile(os.path.join(wheels, name)) as wheel:
                wheel.extractall(work)
        shutil.rmtree(wheels)


@contextlib.contextmanager
def _building(folder, spec):
    """A temporary folder beside ``folder``, marked ready with ``spec`` and
    renamed to it when the block succeeds."""
    work = tempfile.mkdtemp(dir=os.path.dirname(folder), prefix=".building-")
    try:
        yield work
        with open(os.path.join(work, ".keras-mixer-ready"), "w") as f:
            f.write(" ".join(spec))
        shutil.rmtree(folder, ignore_errors=True)  # an older or partial one
        os.replace(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------ running


def emulate(prepared: dict, cpu: str, jobs: list[tuple[str, np.ndarray]]) -> dict:
    """Runs each (model path, input tensors) of ``jobs`` in the emulated
    LiteRT on ``cpu``, one thread: {"features": the CPU's as the process
    sees them, "kernel": what XNNPACK said of its kernels, "results": [{raw
    "outputs", "partitions", "ops_outside", "seconds" (emulated)}]}."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    root = prepared["root"]
    with tempfile.TemporaryDirectory(prefix="check-arm-") as work:
        np.savez(os.path.join(work, "inputs.npz"), *[inputs for _, inputs in jobs])
        with open(os.path.join(work, "models.json"), "w") as f:
            json.dump([os.path.abspath(model) for model, _ in jobs], f)
        python = [os.path.join(root, "usr", "bin", f"python{PYTHON}"), "-I", "-S", "-c", _BOOT]
        command = [prepared["qemu"], "-cpu", cpu, "-L", root, *python]
        done = subprocess.run(
            [*command, prepared["site"], repo, work], capture_output=True, text=True
        )
        if done.returncode or not os.path.exists(os.path.join(work, "outputs.npz")):
            lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
            raise RuntimeError(f"The emulated LiteRT on {cpu} failed: {lines[-1]}")
        with open(os.path.join(work, "answer.json")) as f:
            answer = json.load(f)
        with np.load(os.path.join(work, "outputs.npz")) as found:
            for i, result in enumerate(answer["results"]):
                result["outputs"] = found[f"arr_{i}"]
    said = [line for line in done.stderr.splitlines() if _KERNEL_WORDS.search(line)]
    answer["kernel"] = said[0].strip() if said else "not reported"
    return answer


_KERNEL_WORDS = re.compile(r"ukernel|microkernel|i8mm|dotprod|neondot|gemm", re.I)


def outputs(runner, inputs: np.ndarray) -> np.ndarray:
    """The raw output tensors (as the file holds them) for each input tensor."""
    inp, out = runner.get_input_details()[0], runner.get_output_details()[0]
    found = []
    for tensor in inputs:
        runner.set_tensor(inp["index"], tensor[None])
        runner.invoke()
        found.append(runner.get_tensor(out["index"])[0].copy())
    return np.stack(found)


def _emulated():
    """Inside the emulated Python: runs the models in the folder ``emulate`` wrote (argv[3])."""
    import ctypes

    from convert import runtime

    work = sys.argv[3]
    with open(os.path.join(work, "models.json")) as f:
        models = json.load(f)
    libc = ctypes.CDLL(None)
    libc.getauxval.restype = ctypes.c_ulong
    hwcap, hwcap2 = libc.getauxval(16), libc.getauxval(26)  # AT_HWCAP, AT_HWCAP2
    bits = (("neon", hwcap >> 1), ("dot", hwcap >> 20), ("i8mm", hwcap2 >> 13))
    results, found = [], []
    with np.load(os.path.join(work, "inputs.npz")) as inputs:
        for i, model in enumerate(models):
            start = time.perf_counter()
            runner = runtime.interpreter(model, num_threads=1)
            found.append(outputs(runner, inputs[f"arr_{i}"]))
            results.append({**runtime.delegation(runner), "seconds": time.perf_counter() - start})
    with open(os.path.join(work, "answer.json"), "w") as f:
        json.dump({"features": [name for name, bit in bits if bit & 1], "results": results}, f)
    np.savez(os.path.join(work, "outputs.npz"), *found)  # last: emulate sees it once all is done


# ------------------------------------------------------------------ the command


def check(paths, dataset=None, cpus=tuple(CPUS), images=100, log=print) -> dict:
    """Runs each file on x86 and on each emulated ARM64 ``cpus``; the results dict."""
    from importlib import metadata

    from convert import held_out, runtime

    for path in paths:
        if not os.path.isfile(path):
            raise ValueError(f"Model file {path!r} does not exist or is not a file.")
    if images < 1:
        raise ValueError(f"--images must be at least 1; got {images}.")
    prepared = prepare(log)
    known = subprocess.run([prepared["qemu"], "-cpu", "help"], capture_output=True, text=True)
    unknown = [cpu for cpu in cpus if cpu not in known.stdout.split()]
    if unknown:
        raise ValueError(f"QEMU knows no CPU {', '.join(unknown)}: {known.stdout.split()[2:]}.")
    files, arrays = [], []
    for path in paths:
        runner = runtime.interpreter(path, num_threads=1)
        detail, classes = runner.get_input_details()[0], runner.get_output_details()[0]["shape"][-1]
        pixels, labels, info = held_out.evaluation_images(
            path, dataset, images, detail["shape"][1:3], classes
        )
        inputs = np.stack([runtime.quantize(image, detail, raw_pixels=True) for image in pixels])
        x86 = outputs(runner, inputs)
        files.append({"path": path, "x86_top1": float(np.mean(x86.argmax(-1) == labels)), **info})
        arrays.append((inputs, x86, labels))
        said = ", ".join(str(value) for value in info["data"].values())
        floated = info["float_top1_in_report"]
        floated = "" if floated is None else f"; float top-1 {floated:.4f} in its report"
        log(f"[check-arm] {path} ({said}): x86 top-1 {files[-1]['x86_top1']:.4f}{floated}")
    rows = []
    for cpu in cpus:
        log(f"[check-arm] {cpu}: {len(files)} file(s) x {images} images in the emulated LiteRT")
        answer = emulate(prepared, cpu, [(path, found[0]) for path, found in zip(paths, arrays)])
        for path, found, result in zip(paths, arrays, answer["results"]):
            rows.append(_row(path, cpu, answer, result, *found[1:]))
    version = subprocess.run([prepared["qemu"], "--version"], capture_output=True, text=True)
    return {
        "images": images,
        "threads": 1,
        "litert": {"x86": metadata.version("ai-edge-litert"), "arm64": WHEELS[0].split("==")[1]},
        "qemu": version.stdout.splitlines()[0] if version.stdout else QEMU,
        "files": files,
        "results": rows,
    }


def _row(path, cpu, answer, result, x86, labels):
    arm = result["outputs"]
    differences = np.abs(arm.astype(np.float64) - x86.astype(np.float64))
    steps = np.issubdtype(x86.dtype, np.integer)
    top = arm.argmax(-1)
    return {
        "file": path,
        "cpu": cpu,
        "kernels_expected": CPUS.get(cpu, "unknown"),
        "features": answer["features"],
        "kernel_reported": answer["kernel"],
        "partitions": result["partitions"],
        "ops_outside": result["ops_outside"],
        "top1": float(np.mean(top == labels)),
        "agreement_x86": float(np.mean(top == x86.argmax(-1))),
        "max_steps": int(differences.max()) if steps else None,
        "max_abs_difference": None if steps else float(differences.max()),
        "differing": float(np.mean(differences > 0)),
        "same_bytes": bool(np.array_equal(arm, x86)),
        "emulated_seconds": result["seconds"],
    }


def table(results: dict) -> str:
    """The results as a fixed-width text table (emulated seconds are no latency)."""
    lines = [
        f"{'file':<28} {'cpu':<11} {'features':<20} {'parts':>5} {'top-1':>6} {'=x86':>6} "
        f"{'steps':>5} {'differ':>7} {'emulated s':>10}  kernel; ops outside XNNPACK"
    ]
    for row in results["results"]:
        outside = ", ".join(f"{op} x{n}" for op, n in row["ops_outside"].items()) or "none"
        steps = row["max_steps"] if row["max_steps"] is not None else "float"
        lines.append(
            f"{os.path.basename(row['file'])[:28]:<28} {row['cpu'][:11]:<11} "
            f"{'+'.join(row['features'])[:20]:<20} {row['partitions']:>5} {row['top1']:>6.4f} "
            f"{row['agreement_x86']:>6.4f} {steps:>5} {row['differing']:>7.2%} "
            f"{row['emulated_seconds']:>10.1f}  {row['kernel_reported']}; {outside}"
        )
    lines.append(
        f"ARM64: {results['qemu']}, LiteRT {results['litert']['arm64']} (x86: "
        f"{results['litert']['x86']}), {results['images']} images, 1 thread; steps: the largest "
        "output difference from x86 in output steps; emulated s: QEMU's time, not a phone's"
    )
    return "\n".join(lines)


def command(args) -> dict:
    """``convert check-arm`` as ``convert.cli`` read its command line."""
    from mixer_base.commands import run_command

    def checked():
        from keras_mixer.files import check_output, json_with, write_json

        if args.json:
            check_output(args.json, ".json", json_with("results", "qemu"), "a check-arm result")
        cpus = tuple(cpu.strip() for cpu in args.cpus.split(",") if cpu.strip())
        results = check(args.models, args.data, cpus, args.images)
        print(table(results))
        if args.json:
            write_json(results, args.json)
            print(f"wrote {args.json}")
        return results

    return run_command(checked, (ValueError, RuntimeError, OSError), args.debug, extra="convert")
