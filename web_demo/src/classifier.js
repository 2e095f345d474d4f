// A keras-mixer classifier in LiteRT.js: the model's own description of its
// tensors and metadata (./tflite.js), its preprocessing (./preprocess.js),
// and scores as the Python side computes them (convert/runtime.py: the
// dequantised outputs, softmaxed when the model outputs logits).

import { loadAndCompile, loadLiteRt, Tensor } from "@litertjs/core";
import { inputTensor } from "./preprocess.js";
import { ModelFileError, readModelFile } from "./tflite.js";

const WASM_DIR = new URL("../node_modules/@litertjs/core/wasm/", import.meta.url).href;
// LiteRT.js tensors hold float32, int32 and uint8 only ("Element type INT8 is not supported").
const WEB_TYPES = ["uint8", "float32"];
// The image pipeline this page implements (convert/golden.py).
const RESIZE_METHOD = "bilinear";

let runtime = null;

/** Loads the LiteRT.js runtime once per page: threaded where the page is cross-origin isolated. */
export function loadRuntime() {
  runtime ??= loadLiteRt(WASM_DIR, { threads: self.crossOriginIsolated === true });
  return runtime;
}

export class Classifier {
  /**
   * Reads and compiles a model's bytes; refuses, with a ModelFileError saying why,
   * a file that is not a TFLite model or has tensors this page cannot feed.
   */
  static async load(bytes, { threads = 1 } = {}) {
    const info = await readModelFile(bytes);
    for (const [role, tensor] of [["input", info.input], ["output", info.output]]) {
      if (!WEB_TYPES.includes(tensor.type)) {
        throw new ModelFileError(
          `This model's ${role} is ${tensor.type}; LiteRT.js in the browser takes uint8 or float32 ` +
            "tensors. Convert it with uint8 I/O (`convert --int8`, the default --io uint8).",
        );
      }
    }
    if (info.input.shape.length !== 4 || info.input.shape[3] !== 3) {
      throw new ModelFileError(`This model's input has shape [${info.input.shape}]; an image classifier takes [1, H, W, 3].`);
    }
    await loadRuntime();
    const started = performance.now();
    let compiled;
    try {
      compiled = await loadAndCompile(bytes, { accelerator: "wasm", cpuOptions: { numThreads: threads } });
    } catch (error) {
      throw new ModelFileError(`LiteRT.js could not compile this model: ${error.message ?? error}`);
    }
    return new Classifier(compiled, info, threads, performance.now() - started);
  }

  constructor(compiled, info, threads, compileMs) {
    this.compiled = compiled;
    this.info = info;
    this.threads = threads;
    this.compileMs = compileMs;
    const metadata = info.metadata ?? {};
    this.labels = metadata.labels ?? Array.from({ length: info.output.shape.at(-1) }, (_, i) => String(i));
    this.logits = metadata.outputName === "logits";
    this.evalCrop = metadata.preprocessing?.eval_crop ?? 1;
    const method = metadata.preprocessing?.resize_method ?? RESIZE_METHOD;
    this.notes = [];
    if (!info.metadata) this.notes.push("The model has no metadata: labels are class indices, no crop is applied.");
    if (method !== RESIZE_METHOD) {
      this.notes.push(`The model was evaluated with ${method} resizing; this page resizes ${RESIZE_METHOD}ly.`);
    }
  }

  get inputSize() {
    return this.info.input.shape.slice(1, 3);
  }

  /** The raw output tensor's values for an input tensor's values. */
  async runRaw(values) {
    const input = new Tensor(values, this.info.input.shape);
    const outputs = await this.compiled.run(input);
    try {
      return outputs[0].toTypedArray().slice();
    } finally {
      input.delete();
      for (const output of outputs) output.delete();
    }
  }

  /** Scores (probabilities) for an RGBA image, and the input tensor fed to the model. */
  async classify(rgba, width, height) {
    const values = inputTensor(rgba, width, height, this.info.input, this.evalCrop);
    const raw = await this.runRaw(values);
    return { input: values, raw, scores: this.scores(raw) };
  }

  /** Probabilities from the raw output: dequantised, softmaxed when the model outputs logits. */
  scores(raw) {
    const { type, scale, zeroPoint } = this.info.output;
    const values = Array.from(raw, (q) => (type === "float32" ? q : (q - zeroPoint) * scale));
    if (!this.logits) return values;
    const top = Math.max(...values);
    const exps = values.map((v) => Math.exp(v - top));
    const total = exps.reduce((a, b) => a + b, 0);
    return exps.map((e) => e / total);
  }

  /** The `k` best [label, probability, index], best first (ties: the lower index). */
  top(scores, k = 3) {
    return scores
      .map((score, index) => ({ score, index }))
      .sort((a, b) => b.score - a.score || a.index - b.index)
      .slice(0, k)
      .map(({ score, index }) => [this.labels[index] ?? String(index), score, index]);
  }

  delete() {
    this.compiled.delete();
  }
}
