"""``convert MODEL.keras --int8 --data DATASET -o model_int8.tflite`` (also ``python -m convert``),
and ``convert benchmark MODEL.tflite [...]`` (``convert.benchmark``)."""

import argparse
import sys

from convert import benchmark
from convert.modes import (
    DEFAULT_CALIBRATION,
    ESTIMATORS,
    FLOAT32,
    FORMS,
    IO_TYPES,
    MODES,
    TECHNIQUES,
)
from training.commands import (
    CommandParser,
    add_debug_flag,
    add_preprocessing_flags,
    preprocessing,
    run_command,
)


def _parser() -> argparse.ArgumentParser:
    """The ``convert`` command line (its flags read from ``convert.modes``)."""
    parser = CommandParser(
        prog="convert",
        description="Convert a keras_mixer model to TFLite (QAT int8 by default with --int8), "
        "and verify it against the Keras model. `convert benchmark MODEL.tflite ...` "
        "measures LiteRT latency.",
    )
    parser.add_argument("model", help="a .keras file saved by keras_mixer / training")
    kind = parser.add_mutually_exclusive_group()
    for mode in MODES.values():
        if mode.flags:
            kind.add_argument(
                *mode.flags, action="store_const", dest="mode", const=mode.name, help=mode.help
            )
    parser.add_argument(
        "--data",
        default="digits",
        help="digits, mnist, tfds:NAME[:SPLIT] or an image folder (training "
        "for QAT, calibration for int8, evaluation always)",
    )
    parser.add_argument("-o", "--output", required=True, help="the .tflite file to write")
    parser.add_argument(
        "--io",
        default="uint8",
        choices=IO_TYPES,
        help="input/output type of int8 models (default uint8: raw pixels)",
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
    parser.add_argument("--eval-images", type=int, default=None, help="limit the evaluation")
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
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--seed", type=int, default=0, help="draws the calibration images and orders QAT's batches"
    )
    parser.add_argument(
        "--benchmark",
        metavar="THREADS",
        help="then benchmark the model beside its float32 twin "
        "(X_float32.tflite) at these thread counts, e.g. 1,2,4: "
        "X_benchmark.json and .png",
    )
    add_preprocessing_flags(parser)
    add_debug_flag(parser)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["benchmark"]:
        return benchmark.main(argv[1:])
    if argv[:1] == ["compare"]:
        from convert import compare

        return compare.main(argv[1:])
    args = _parser().parse_args(argv)
    threads = benchmark.parse_threads(args.benchmark) if args.benchmark else None
    from keras_mixer.datasets import DataError

    kept = (
        f"{args.output} not written (files are written only when finished; any written "
        "before are whole)"
    )
    run_command(
        lambda: _convert(args, threads),
        (DataError, ValueError, RuntimeError, OSError),
        args.debug,
        kept,
        extra="convert",
    )


def _convert(args, threads):
    from convert.outputs import benchmark_paths, check_output
    from convert.pipeline import ConvertOptions, to_tflite

    options = ConvertOptions(
        mode=args.mode or FLOAT32.name,
        dataset=args.data,
        graph=args.graph,
        io=args.io,
        calibration=args.calibration,
        calibration_images=args.calibration_images,
        qat_epochs=args.qat_epochs,
        qat_steps=args.qat_steps,
        qat_batch_size=args.qat_batch_size,
        qat_learning_rate=args.qat_learning_rate,
        eval_images=args.eval_images,
        debug_images=args.debug_images,
        keep_float=args.keep_float,
        num_threads=args.threads,
        seed=args.seed,
        preprocessing=preprocessing(args),
        **{name: getattr(args, name) for name in TECHNIQUES},
    )
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
            to_tflite(args.model, twin, options, mode=FLOAT32.name, graph=None, keep_float=0)
        results = benchmark.benchmark(paths, threads)
        print(benchmark.table(results))
        print(f"wrote {results_path} and {benchmark.save(results, results_path)}")
