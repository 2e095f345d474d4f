// The page: loads a model (?model=URL, else the one `run.py web` serves, or
// a file picked), classifies a drawing, an image file or a camera frame, and
// benchmarks the model. Every failure is one message on the page.

import { benchmark, threadCounts } from "./benchmark.js";
import { Classifier } from "./classifier.js";
import { ModelFileError } from "./tflite.js";

const DEFAULT_MODEL = "model/default.tflite";
const PEN = { width: 1 / 7, blur: 1 / 12 }; // of the pad's width
const $ = (id) => document.getElementById(id);
const state = { classifier: null, bytes: null };

function showMessage(text, kind = "error") {
  const message = $("message");
  message.textContent = text;
  message.className = kind;
  message.hidden = false;
  if (kind === "error") document.body.dataset.state = "error";
}

function clearMessage() {
  $("message").hidden = true;
}

/** Runs an event handler; whatever it throws becomes the page's message, not the console's. */
function guarded(handler) {
  return async (...args) => {
    try {
      await handler(...args);
    } catch (error) {
      showMessage(error instanceof ModelFileError ? error.message : `Unexpected error: ${error.message ?? error}`);
    }
  };
}

async function useModel(bytes, source) {
  document.body.dataset.state = "loading";
  const classifier = await Classifier.load(bytes);
  state.classifier?.delete();
  Object.assign(state, { classifier, bytes });
  const { input, output, metadata } = classifier.info;
  $("model-info").textContent =
    `${metadata?.name ?? source} - input ${input.shape[1]}x${input.shape[2]} ${input.type}, ` +
    `${classifier.labels.length} classes (${classifier.logits ? "logits" : "probabilities"}, ${output.type}). ` +
    (metadata?.description ?? "No description.");
  $("results").replaceChildren();
  clearMessage();
  if (classifier.notes.length) showMessage(classifier.notes.join(" "), "note");
  document.body.dataset.state = "ready";
}

async function fetchModel(url) {
  const response = await fetch(url);
  if (!response.ok) throw new ModelFileError(`Could not load the model ${url}: HTTP ${response.status}.`);
  return new Uint8Array(await response.arrayBuffer());
}

function showResults(top) {
  $("results").replaceChildren(
    ...top.map(([label, probability]) => {
      const item = document.createElement("li");
      item.innerHTML = '<span class="label"></span> <span class="probability"></span><span class="bar"></span>';
      item.querySelector(".label").textContent = label;
      item.querySelector(".probability").textContent = `${(100 * probability).toFixed(1)}%`;
      item.querySelector(".bar").style.width = `${Math.max(1, 100 * probability)}%`;
      return item;
    }),
  );
}

async function classifyCanvas(canvas) {
  if (!state.classifier) throw new ModelFileError("No model is loaded.");
  const { width, height } = canvas;
  const rgba = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  const result = await state.classifier.classify(rgba, width, height);
  const top = state.classifier.top(result.scores);
  showResults(top);
  const [inputHeight, inputWidth] = state.classifier.inputSize;
  $("input-note").textContent =
    `The ${width}x${height} picture was resized to cover ${inputWidth}x${inputHeight} / ` +
    `crop ${state.classifier.evalCrop} and centre-cropped, as the model was evaluated.`;
  return { ...result, top };
}

// ---- drawing

function setUpPad() {
  const pad = $("pad");
  const context = pad.getContext("2d");
  const clear = () => {
    context.fillStyle = "#000";
    context.fillRect(0, 0, pad.width, pad.height);
    $("results").replaceChildren();
  };
  clear();
  let last = null;
  const point = (event) => {
    const box = pad.getBoundingClientRect();
    return [(event.clientX - box.left) * (pad.width / box.width), (event.clientY - box.top) * (pad.height / box.height)];
  };
  pad.addEventListener("pointerdown", (event) => {
    pad.setPointerCapture(event.pointerId);
    last = point(event);
  });
  pad.addEventListener("pointermove", (event) => {
    if (!last) return;
    const next = point(event);
    // A thick, soft pen: the digits are 8x8 scans blown up, strokes blurred over a sixth of the frame.
    context.strokeStyle = context.shadowColor = "#fff";
    context.lineWidth = pad.width * PEN.width;
    context.shadowBlur = pad.width * PEN.blur;
    context.lineCap = context.lineJoin = "round";
    context.beginPath();
    context.moveTo(...last);
    context.lineTo(...next);
    context.stroke();
    last = next;
  });
  pad.addEventListener("pointerup", guarded(async () => {
    last = null;
    await classifyCanvas(pad);
  }));
  $("clear").addEventListener("click", clear);
}

// ---- image files and the camera

async function drawPicture(source, width, height) {
  const picture = $("picture");
  picture.width = width;
  picture.height = height;
  picture.getContext("2d").drawImage(source, 0, 0);
  return classifyCanvas(picture);
}

async function classifyFile(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  } catch {
    throw new ModelFileError(`${file.name} is not an image this browser can read.`);
  }
  return drawPicture(bitmap, bitmap.width, bitmap.height);
}

async function startCamera() {
  if (!navigator.mediaDevices?.getUserMedia) throw new ModelFileError("This browser gives the page no camera.");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  } catch (error) {
    throw new ModelFileError(`No camera: ${error.message}`);
  }
  const video = $("video");
  video.srcObject = stream;
  await video.play();
  $("camera-capture").disabled = false;
}

// ---- benchmark

async function runBenchmark() {
  if (!state.bytes) throw new ModelFileError("No model is loaded.");
  const table = $("bench-table");
  const body = table.querySelector("tbody");
  body.replaceChildren();
  table.hidden = false;
  const runs = Math.max(5, Number($("bench-runs").value) || 50);
  $("bench-note").textContent = "Measuring...";
  const ms = (value) => `${value.toFixed(2)} ms`;
  const rows = await benchmark(state.bytes, {
    runs,
    onRow: (row) => {
      const tr = document.createElement("tr");
      for (const value of [row.threads, ms(row.compile_ms), ms(row.first_run_ms), ms(row.median_ms), ms(row.p90_ms)]) {
        tr.appendChild(document.createElement("td")).textContent = value;
      }
      body.appendChild(tr);
    },
  });
  $("bench-note").textContent = self.crossOriginIsolated
    ? `${runs} runs per row, ${navigator.hardwareConcurrency} logical cores.`
    : `${runs} runs per row; one thread only: the page is not cross-origin isolated (serve it with run.py web).`;
  return rows;
}

// ---- wiring

function setUpTabs() {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.addEventListener("click", () => {
      for (const other of document.querySelectorAll("[role=tab]")) {
        other.setAttribute("aria-selected", String(other === tab));
        $(`tab-${other.dataset.tab}`).hidden = other !== tab;
      }
    });
  }
}

async function main() {
  window.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    showMessage(`Unexpected error: ${event.reason?.message ?? event.reason}`);
  });
  setUpTabs();
  setUpPad();
  $("model-file").addEventListener("change", guarded(async (event) => {
    const file = event.target.files[0];
    if (file) await useModel(new Uint8Array(await file.arrayBuffer()), file.name);
  }));
  $("image-file").addEventListener("change", guarded(async (event) => {
    if (event.target.files[0]) await classifyFile(event.target.files[0]);
  }));
  $("camera-start").addEventListener("click", guarded(startCamera));
  $("camera-capture").addEventListener("click", guarded(async () => {
    const video = $("video");
    await drawPicture(video, video.videoWidth, video.videoHeight);
  }));
  $("bench").addEventListener("click", guarded(runBenchmark));
  // For tests and the console: the page's own functions on the loaded model.
  window.kerasMixerDemo = {
    useModel: (bytes, source = "model") => useModel(bytes, source),
    classifier: () => state.classifier,
    classifyCanvas: (id) => classifyCanvas($(id)),
    classifyFile,
    benchmark: (options) => benchmark(state.bytes, options),
    threadCounts,
  };
  const url = new URLSearchParams(location.search).get("model") ?? DEFAULT_MODEL;
  await guarded(async () => useModel(await fetchModel(url), url))();
}

main();
