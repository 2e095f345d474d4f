"""``convert MODEL.keras --int8 --data DATASET -o model_int8.tflite`` (also ``python -m convert``),
and ``convert benchmark MODEL.tflite [...]`` (``convert.benchmark``)."""

import argparse
import os
import sys

from convert import benchmark


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["benchmark"]:
        return benchmark.main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="convert",
        description="Convert a keras_mixer model to TFLite (QAT int8 by default with --int8), "
                    "and verify it against the Keras model. `convert benchmark MODEL.tflite ...` "
                    "measures LiteRT latency.")
    parser.add_argument("model", help="a .keras file saved by keras_mixer / training")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--int8", action="store_const", dest="mode", const="qat",
                      help="quantisation-aware training, then full-integer int8")
    kind.add_argument("--ptq", action="store_const", dest="mode", const="ptq",
                      help="post-training full-integer int8 (no training)")
    kind.add_argument("--fp16", action="store_const", dest="mode", const="fp16")
    kind.add_argument("--dynamic-range", action="store_const", dest="mode", const="dynamic")
    parser.add_argument("--data", default="digits",
                        help="digits, tfds:NAME[:SPLIT] or an image folder (training for QAT, "
                             "calibration for PTQ, evaluation always)")
    parser.add_argument("-o", "--output", required=True, help="the .tflite file to write")
    parser.add_argument("--io", default="uint8", choices=("uint8", "int8", "float32"),
                        help="input/output type of int8 models (default uint8: raw pixels)")
    parser.add_argument("--graph", default="xnnpack", choices=("xnnpack", "plain"),
                        help="int8 graph: xnnpack (every op inside XNNPACK, logits out; "
                             "default) or plain (TFLite's LayerNorm and GELU ops, softmax)")
    parser.add_argument("--qat-epochs", type=int, default=1)
    parser.add_argument("--qat-steps", type=int, default=None, help="steps per QAT epoch")
    parser.add_argument("--qat-batch-size", type=int, default=32,
                        help="QAT batch (memory: B/16 at 32 peaks at ~17 GB)")
    parser.add_argument("--eval-images", type=int, default=None, help="limit the evaluation")
    parser.add_argument("--debug-images", type=int, default=16,
                        help="images for the per-layer int8 error (0: skip)")
    parser.add_argument("--keep-float", type=int, default=0, metavar="N",
                        help="also write the PTQ model with the N worst layers in float "
                             "(selective quantisation) and report what it buys")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--benchmark", metavar="THREADS",
                        help="then benchmark the model beside its float32 twin "
                             "(X_float32.tflite) at these thread counts, e.g. 1,2,4: "
                             "X_benchmark.json and .png")
    args = parser.parse_args(argv)
    threads = benchmark.parse_threads(args.benchmark) if args.benchmark else None

    from convert.graph import load_keras_model
    from convert.pipeline import to_tflite
    from training.config import run_data_config
    from training.data import DataError

    try:
        model = load_keras_model(args.model)
        data_config = run_data_config(args.model, args.data, model.input_shape[1])
        report = to_tflite(model, args.output, mode=args.mode or "float32", dataset=args.data,
                           io=args.io, qat_epochs=args.qat_epochs, qat_steps=args.qat_steps,
                           qat_batch_size=args.qat_batch_size,
                           eval_images=args.eval_images, debug_images=args.debug_images,
                           keep_float=args.keep_float, graph=args.graph,
                           num_threads=args.threads,
                           data_config=data_config)
        accuracy = ", ".join(f"{k} {v:.4f}" for k, v in report["accuracy"].items())
        print(f"top-1: {accuracy}; agreement with Keras {report['top1_agreement']:.4f}; "
              f"float ops left: {', '.join(report['float_ops']) or 'none'}; XNNPACK "
              f"partitions {report['xnnpack']['partitions']}")
        if threads:
            stem = os.path.splitext(args.output)[0]
            paths = [args.output]
            if report["mode"] != "float32":
                paths.insert(0, f"{stem}_float32.tflite")
                to_tflite(model, paths[0], mode="float32", dataset=args.data,
                          eval_images=args.eval_images, num_threads=args.threads,
                          data_config=data_config)
            results = benchmark.benchmark(paths, threads)
            print(benchmark.table(results))
            print(f"wrote {stem}_benchmark.json and "
                  f"{benchmark.save(results, f'{stem}_benchmark.json')}")
    except (DataError, ValueError, RuntimeError) as error:
        sys.exit(f"error: {error}")

