// The model's latency in this page: load and compile, first run, and the
// median and p90 of `runs` timed runs on one fixed input, at each thread count.

import { Classifier } from "./classifier.js";

/** Threads worth measuring here: 1, and 2 and 4 where the page may use threads. */
export function threadCounts() {
  if (!self.crossOriginIsolated) return [1];
  const cores = navigator.hardwareConcurrency || 1;
  return [1, 2, 4].filter((n) => n === 1 || n <= cores);
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** One row per thread count: {threads, compile_ms, first_run_ms, median_ms, p90_ms, runs}. */
export async function benchmark(bytes, { runs = 50, threads = threadCounts(), onRow = () => {} } = {}) {
  const rows = [];
  for (const count of threads) {
    const classifier = await Classifier.load(bytes, { threads: count });
    try {
      const values = new (classifier.info.input.type === "float32" ? Float32Array : Uint8Array)(
        classifier.info.input.shape.reduce((a, b) => a * b, 1),
      ).fill(128);
      let started = performance.now();
      await classifier.runRaw(values);
      const firstRun = performance.now() - started;
      const times = [];
      for (let i = 0; i < runs; i++) {
        started = performance.now();
        await classifier.runRaw(values);
        times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      const row = {
        threads: count,
        compile_ms: classifier.compileMs,
        first_run_ms: firstRun,
        median_ms: percentile(times, 50),
        p90_ms: percentile(times, 90),
        runs,
      };
      rows.push(row);
      onRow(row);
    } finally {
      classifier.delete();
    }
  }
  return rows;
}
