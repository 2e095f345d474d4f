// What the page needs to know about a .tflite file, read from the file itself:
// its input and output tensors (shape, type, quantisation: LiteRT.js's
// TensorDetails carry no quantisation), and the TFLite metadata `convert`
// writes (name, description, output name "logits" or "probabilities", and
// the associated files labels.txt and preprocessing.json, zipped after the
// flatbuffer). The same fields android_demo/core reads (ModelMetadata.java,
// Labels.java). Field numbers: tensorflow/lite/schema/schema.fbs and
// metadata_schema.fbs.

export class ModelFileError extends Error {}

const TENSOR_TYPES = { 0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 9: "int8" };

/** {input, output, metadata} of a .tflite file's bytes (metadata null when absent). */
export async function readModelFile(bytes) {
  if (bytes.length < 8 || String.fromCharCode(...bytes.subarray(4, 8)) !== "TFL3") {
    throw new ModelFileError("This file is not a TFLite model (no TFL3 identifier).");
  }
  try {
    return await readTables(bytes);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error; // a table pointing past the end
    throw new ModelFileError(
      "This file is not a whole TFLite model: it ends before its own tables do (cut off while copying or downloading?).",
    );
  }
}

async function readTables(bytes) {
  const buf = new Flatbuffer(bytes);
  const model = buf.root();
  const subgraph = buf.vectorTable(buf.field(model, 2), 0);
  const tensors = buf.field(subgraph, 0);
  const tensorAt = (list) => tensorSpec(buf, buf.vectorTable(tensors, buf.vectorInts(buf.field(subgraph, list))[0]));
  return {
    input: tensorAt(1),
    output: tensorAt(2),
    metadata: await readMetadata(buf, model, bytes),
  };
}

function tensorSpec(buf, tensor) {
  const typeAt = buf.field(tensor, 1);
  const type = TENSOR_TYPES[typeAt ? buf.view.getInt8(typeAt) : 0] ?? "unknown";
  const quantizationAt = buf.field(tensor, 4);
  const quantization = quantizationAt && buf.deref(quantizationAt);
  const first = (slot, read) => {
    const at = quantization && buf.field(quantization, slot);
    return at && buf.vectorLength(at) ? read(buf.vectorStart(at)) : null;
  };
  return {
    name: buf.string(tensor, 3),
    type,
    shape: buf.vectorInts(buf.field(tensor, 0)),
    scale: first(2, (at) => buf.view.getFloat32(at, true)) ?? 0,
    zeroPoint: Number(first(3, (at) => buf.view.getBigInt64(at, true)) ?? 0n),
  };
}

async function readMetadata(buf, model, bytes) {
  const entries = buf.field(model, 6);
  const buffers = buf.field(model, 4);
  if (!entries || !buffers) return null;
  for (let i = 0; i < buf.vectorLength(entries); i++) {
    const entry = buf.vectorTable(entries, i);
    if (buf.string(entry, 0) !== "TFLITE_METADATA") continue;
    const data = buf.field(buf.vectorTable(buffers, buf.view.getUint32(buf.field(entry, 1), true)), 0);
    const info = new Flatbuffer(bytes.subarray(buf.vectorStart(data), buf.vectorStart(data) + buf.vectorLength(data)));
    const modelMetadata = info.root();
    const subgraph = info.vectorTable(info.field(modelMetadata, 3), 0);
    const output = info.vectorTable(info.field(subgraph, 3), 0);
    const files = {};
    for (const name of listedFiles(info, modelMetadata, output)) {
      files[name] = await associatedFile(bytes, name);
      if (files[name] === null) {
        throw new ModelFileError(
          `The model's metadata lists ${name}, but the file is not in the model: it was cut off (copy it again).`,
        );
      }
    }
    const preprocessing = files["preprocessing.json"] ?? null;
    const labels = files["labels.txt"] ?? null;
    return {
      name: info.string(modelMetadata, 0),
      description: info.string(modelMetadata, 1),
      outputName: info.string(output, 0),
      labels: labels === null ? null : parseLabels(labels),
      preprocessing: preprocessing === null ? {} : JSON.parse(preprocessing),
    };
  }
  return null;
}

/** The associated files the metadata names: the model's and its output's. */
function listedFiles(info, modelMetadata, output) {
  const names = [];
  for (const [table, slot] of [[modelMetadata, 6], [output, 6]]) {
    const list = info.field(table, slot);
    for (let i = 0; list && i < info.vectorLength(list); i++) {
      names.push(info.string(info.vectorTable(list, i), 0));
    }
  }
  return names;
}

function parseLabels(text) {
  const lines = text.split("\n").map((line) => line.replace(/\r$/, ""));
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** The text of an associated file zipped after the flatbuffer, or null. */
export async function associatedFile(bytes, name) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) { end = i; break; } // end of central directory
  }
  if (end < 0) return null;
  const entries = view.getUint16(end + 10, true);
  const directorySize = view.getUint32(end + 12, true);
  const shift = end - directorySize - view.getUint32(end + 16, true); // the zip sits after the model
  let at = end - directorySize;
  for (let n = 0; n < entries; n++) {
    const method = view.getUint16(at + 10, true);
    const compressed = view.getUint32(at + 20, true);
    const nameLength = view.getUint16(at + 28, true);
    const skip = nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
    const local = view.getUint32(at + 42, true) + shift;
    if (new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength)) === name) {
      const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
      return new TextDecoder().decode(await inflated(bytes.subarray(start, start + compressed), method, name));
    }
    at += 46 + skip;
  }
  return null;
}

async function inflated(data, method, name) {
  if (method === 0) return data;
  if (method !== 8) throw new ModelFileError(`${name} in the model uses zip method ${method}; only stored and deflate are read.`);
  const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// Flatbuffers: a table starts with an offset back to its vtable of field
// offsets; references (tables, strings, vectors) are offsets from where they
// are stored.
class Flatbuffer {
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  root() { return this.view.getUint32(0, true); }
  deref(at) { return at + this.view.getUint32(at, true); }
  /** Position of field `slot` of the table at `table`, or 0 when absent. */
  field(table, slot) {
    const vtable = table - this.view.getInt32(table, true);
    const entry = 4 + 2 * slot;
    if (entry >= this.view.getUint16(vtable, true)) return 0;
    const offset = this.view.getUint16(vtable + entry, true);
    return offset === 0 ? 0 : table + offset;
  }
  vectorLength(field) { return this.view.getUint32(this.deref(field), true); }
  vectorStart(field) { return this.deref(field) + 4; }
  vectorTable(field, index) { return this.deref(this.vectorStart(field) + 4 * index); }
  vectorInts(field) {
    if (!field) return [];
    return Array.from({ length: this.vectorLength(field) }, (_, i) => this.view.getInt32(this.vectorStart(field) + 4 * i, true));
  }
  string(table, slot) {
    const at = this.field(table, slot);
    if (!at) return null;
    const start = this.deref(at);
    return new TextDecoder().decode(this.bytes.subarray(start + 4, start + 4 + this.view.getUint32(start, true)));
  }
}
