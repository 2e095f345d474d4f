"""The ``convert`` command line (also ``mixer-convert`` and ``python -m convert``),
every parser of it here, their shared flags from ``mixer_base.flags``:

    convert MODEL.keras --int8 --data DATASET -o model_int8.tflite   # the conversion
    convert benchmark MODEL.tflite [...]        # LiteRT latency (convert.benchmark)
    convert compare MODEL.keras [...] -o DIR    # which file to ship (convert.compare)
    convert check-arm MODEL.tflite [...] --data D  # on ARM64's kernels, emulated (convert.arm64)

The conversion is the default: a first argument that names no subcommand is
the model to convert."""

import argparse
import sys

from convert import arm64, benchmark
from convert.modes import (
    ALIASES,
    DEFAULT_CALIBRATION,
    ESTIMATORS,
    FLOAT32,
    FORMS,
    IO_TYPES,
    LOGITS_TYPES,
    MODES,
    TECHNIQUES,
)
from mixer_base.commands import CommandParser, run_command
from mixer_base.flags import (
    add_debug_flag,
    add_flag,
    add_preprocessing_flags,
    add_renamed,
    preprocessing,
    thread_counts,
)


def parser() -> CommandParser:
    """``convert``'s command line: the conversion's flags (read from
    ``convert.modes``) and the subcommands ``benchmark`` and ``compare``."""
    parser = CommandParser(
        prog="convert",
        description="Convert a keras_mixer model to TFLite (QAT int8 by default with --int8) "
        "and verify it against the Keras model; or run one of the commands below.",
        formatter_class=_Formatter,
    )
    commands = parser.add_commands()
    _benchmark_arguments(
        commands.add_parser(
            "benchmark",
            help="LiteRT latency of .tflite files, side by side",
            description="LiteRT latency of TFLite models, side by side, with XNNPACK partitions.",
        )
    )
    _compare_arguments(
        commands.add_parser(
            "compare",
            help="which file to ship: models converted in several modes, evaluated, "
            "benchmarked and drawn",
            description="Convert models in several modes, evaluate and benchmark every file, "
            "and draw accuracy against latency.",
        )
    )
    _check_arm_arguments(
        commands.add_parser(
            "check-arm",
            help="runs .tflite files on ARM64's int8 kernels, emulated (QEMU), against x86",
            description="Run TFLite models with LiteRT's aarch64 wheel under QEMU for CPU "
            "models that select XNNPACK's ARM64 int8 kernels, and compare with x86.",
        )
    )
    _conversion_arguments(parser)
    return parser


def _conversion_arguments(parser):
    parser.add_argument("model", help="a .keras file saved by keras_mixer / training")
    kind = parser.add_mutually_exclusive_group()
    for mode in MODES.values():
        if mode.flags:
            kind.add_argument(
                *mode.flags, action="store_const", dest="mode", const=mode.name, help=mode.help
            )
    add_flag(
        parser,
        "--data",
        "digits, mnist, tfds:NAME[:SPLIT] or an image folder (training for QAT, calibration "
        "for int8, evaluation always; default digits)",
        default="digits",
    )
    add_flag(parser, "--output", "the .tflite file to write", required=True)
    parser.add_argument(
        "--io",
        default="uint8",
        choices=IO_TYPES,
        help="input/output type of int8 models (default uint8: raw pixels)",
    )
    parser.add_argument(
        "--logits",
        default="int8",
        choices=LOGITS_TYPES,
        help="int8 models' logits: int8 (the head in int8, out in the --io type; default) or "
        "float32 (the head in float inside the same XNNPACK partition, float32 scores out; "
        "the input stays --io)",
    )
    parser.add_argument(
        "--graph",
        default=None,
        choices=FORMS,
        help="int8 graph: xnnpack (every op inside XNNPACK, logits out; "
        "default) or plain (TFLite's LayerNorm and GELU ops, softmax)",
    )
    parser.add_argument(
        "--calibration",
        default=DEFAULT_CALIBRATION,
        help=f"int8 range estimator: {', '.join(ESTIMATORS)} (default {DEFAULT_CALIBRATION})",
    )
    parser.add_argument("--calibration-images", type=int, default=200)
    for technique in TECHNIQUES.values():
        parser.add_argument(
            technique.flag,
            action=argparse.BooleanOptionalAction,
            default=technique.default,
            help=f"int8: {technique.help} (default: {'on' if technique.default else 'off'})",
        )
    parser.add_argument("--qat-epochs", type=int, default=1)
    parser.add_argument(
        "--qat-steps",
        type=int,
        default=None,
        help="steps per QAT epoch (default: one pass over the training split)",
    )
    parser.add_argument(
        "--qat-batch-size",
        type=int,
        default=32,
        help="QAT batch (memory grows with it for big models)",
    )
    parser.add_argument("--qat-learning-rate", type=float, default=1e-4)
    add_flag(parser, "--eval-images", default=None)
    parser.add_argument(
        "--debug-images", type=int, default=16, help="images for the per-layer int8 error (0: skip)"
    )
    parser.add_argument(
        "--keep-float",
        type=int,
        default=0,
        metavar="N",
        help="also write the int8 model with the layers of the N worst tensors "
        "in float (selective quantisation) and report what it buys",
    )
    add_flag(
        parser,
        "--threads",
        "LiteRT thread counts, comma-separated: the verification runs at the first, "
        "--benchmark at each (default 2)",
        default=(2,),
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="draws the calibration images and orders QAT's batches"
    )
    parser.add_argument(
        "--benchmark",
        action=_Benchmark,
        help="then benchmark the model beside its float32 twin (X_float32.tflite) at each "
        "--threads count: X_benchmark.json and .png",
    )
    add_preprocessing_flags(parser)
    add_debug_flag(parser)


class _Benchmark(argparse.Action):
    """``--benchmark``, a switch; ``--benchmark THREADS``, its form while
    ``--threads`` was one number, works for one release, saying the new form."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs="?", default=False, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        if values is not None:
            try:
                namespace.threads = thread_counts(values)
            except argparse.ArgumentTypeError as error:
                raise argparse.ArgumentError(self, f"takes no value now; {error}") from None
            print(
                f"note: --benchmark {values} is now --benchmark --threads {values} in "
                f"{parser.prog}; the old form goes in the next release",
                file=sys.stderr,
            )
        setattr(namespace, self.dest, True)


class _Formatter(argparse.HelpFormatter):
    """The help shows ``--benchmark`` as the switch it is now (its value is the old form)."""

    def _format_args(self, action, default_metavar):
        return (
            "" if isinstance(action, _Benchmark) else super()._format_args(action, default_metavar)
        )

    def _format_action_invocation(self, action):
        if isinstance(action, _Benchmark):
            return ", ".join(action.option_strings)
        return super()._format_action_invocation(action)


def _benchmark_arguments(parser):
    parser.add_argument("models", nargs="+", help=".tflite files")
    add_flag(
        parser,
        "--threads",
        "LiteRT thread counts, comma-separated (default 1,2,4)",
        default=(1, 2, 4),
    )
    add_flag(parser, "--runs", "timed runs per model and thread count (default 30)", default=30)
    parser.add_argument("--warmup", type=int, default=5)
    add_flag(parser, "--json", "write the results here (and a .png plot beside it)")
    add_debug_flag(parser)


def _compare_arguments(parser):
    parser.add_argument("models", nargs="*", help=".keras models (or --variants)")
    add_flag(parser, "--output", "folder for the files and results", required=True)
    add_flag(
        parser,
        "--data",
        "the dataset evaluated (and calibrated) on: digits, mnist, tfds:NAME[:SPLIT] or an "
        "image folder (default digits)",
        default="digits",
    )
    parser.add_argument(
        "--modes",
        default="fp32,fp16,dynamic,ptq,int8",
        help=f"comma-separated: {', '.join([*MODES, *ALIASES])}",
    )
    add_flag(
        parser,
        "--threads",
        "thread counts, comma-separated, each file benchmarked at each, in LiteRT and in the "
        "page (default 1,2)",
        default=(1, 2),
    )
    add_flag(parser, "--runs", "timed runs per file and thread count (default 30)", default=30)
    parser.add_argument("--within", type=float, default=1.0, help="top-1 points (recommendation)")
    add_flag(parser, "--eval-images", default=None)
    parser.add_argument(
        "--variants",
        default="",
        help="the deployment view: these variants (S32,S16,B32,B16) built instead of models; "
        "accuracy is then the published ImageNet top-1, not measured",
    )
    size = add_flag(parser, "--variant-size", "the variants' input size (default 224)", default=224)
    add_renamed(parser, "--image-size", size)
    parser.add_argument("--weights", default=None, help="a release for the variants (else random)")
    parser.add_argument(
        "--runtime",
        default="litert",
        help="where the files run, comma-separated: litert (Python, this CPU; default), browser "
        "(the web demo's page in headless Chromium, LiteRT.js)",
    )
    add_debug_flag(parser)


def _check_arm_arguments(parser):
    parser.add_argument("models", nargs="+", help=".tflite files")
    add_flag(parser, "--data", "the images' dataset (default: each file's report's)")
    parser.add_argument(
        "--cpus",
        default=",".join(arm64.CPUS),
        help="QEMU CPU models, comma-separated (default: "
        + ", ".join(f"{cpu}: {family}" for cpu, family in arm64.CPUS.items())
        + ")",
    )
    parser.add_argument(
        "--images", type=int, default=100, metavar="N", help="evaluation images (default 100)"
    )
    add_flag(parser, "--json")
    add_debug_flag(parser)


def main(argv: list[str] | None = None) -> None:
    command_line = parser()
    args = command_line.parse_args(argv)
    if args.command == "benchmark":
        return benchmark.command(args)
    if args.command == "check-arm":
        return arm64.command(args)
    if args.command == "compare":
        from convert import compare

        return compare.command(args, command_line.commands["compare"])
    from keras_mixer.datasets import DataError

    kept = (
        f"{args.output} not written (files are written only when finished; any written "
        "before are whole)"
    )
    run_command(
        lambda: _convert(args),
        (DataError, ValueError, RuntimeError, OSError),
        args.debug,
        kept,
        extra="convert",
    )


def _convert(args):
    from convert.outputs import benchmark_paths, check_output
    from convert.pipeline import ConvertOptions, to_tflite

    options = ConvertOptions(
        mode=args.mode or FLOAT32.name,
        dataset=args.data,
        graph=args.graph,
        io=args.io,
        logits=args.logits,
        calibration=args.calibration,
        calibration_images=args.calibration_images,
        qat_epochs=args.qat_epochs,
        qat_steps=args.qat_steps,
        qat_batch_size=args.qat_batch_size,
        qat_learning_rate=args.qat_learning_rate,
        eval_images=args.eval_images,
        debug_images=args.debug_images,
        keep_float=args.keep_float,
        num_threads=args.threads[0],
        seed=args.seed,
        preprocessing=preprocessing(args),
        **{name: getattr(args, name) for name in TECHNIQUES},
    )
    threads = args.threads if args.benchmark else None
    if threads:  # the benchmark's files too, before any work
        check_output(args.output, options.checked(), benchmark=True)
    report = to_tflite(args.model, args.output, options)
    accuracy = ", ".join(f"{k} {v:.4f}" for k, v in report["accuracy"].items())
    print(
        f"top-1: {accuracy}; agreement with Keras {report['top1_agreement']:.4f}; "
        f"float ops left: {', '.join(report['float_ops']) or 'none'}; XNNPACK "
        f"partitions {report['xnnpack']['partitions']}"
    )
    if threads:
        twin, results_path = benchmark_paths(args.output)
        paths = [args.output]
        if options.recipe is not FLOAT32:
            paths.insert(0, twin)
            float32 = {"mode": FLOAT32.name, "graph": None, "keep_float": 0, "logits": "int8"}
            to_tflite(args.model, twin, options, **float32)
        results = benchmark.benchmark(paths, threads)
        print(benchmark.table(results))
        print(f"wrote {results_path} and {benchmark.save(results, results_path)}")
