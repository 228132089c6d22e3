// `npm run soak`: the page half of the soak test (issue 37). One page, on the Flex backend, runs N analyses
// (each file opened is analysed and gets its report written) and N questions, and samples the page's JS heap
// (`performance.memory.usedJSHeapSize`, exact with --enable-precise-memory-info, after a forced GC) and the
// worker's wasm memory (`WebAssembly.Memory.buffer.byteLength`, through the `?debug` hook) every few
// operations. Prints JSON: the slopes (bytes per 100 operations, least squares over the second half of the
// samples) and the peaks. Options: `-- --n 300` (analyses, and as many questions), `--every 24`
// (operations between samples), `--weights untrained|demo` (default untrained: the tiny network;
// `demo`: the shipped weights), `--webgpu` (WebGPU instead of Flex). Writes web/bench-results/soak-*.json.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { launch } from "../tests/browser.mjs";
import { serve } from "../scripts/serve.mjs";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const n = Number(arg("--n", 300));
// 24 operations are three rounds of the four sample images: every reading then follows the same image (the
// page holds the image on display, and rg1.png's buffers are 16 MB larger than the others', so readings
// after different images would make a slope of their own).
const every = Number(arg("--every", 24));
const weights = arg("--weights", "untrained");
const webgpu = process.argv.includes("--webgpu");
const dist = join(repo, "web/dist");
const images = ["simulated-1.png", "simulated-2.png", "simulated-3.png", "rg1.png"].map((f) => ({ name: f, buffer: readFileSync(join(dist, "samples", f)) }));
const questions = ["is there a pleural effusion?", "where is the heart?", "is there no pneumothorax?", "how large is the heart?"];

/** Least-squares slope of y over x. */
function slope(points) {
  const k = points.length;
  if (k < 2) return null;
  const mx = points.reduce((a, p) => a + p[0], 0) / k;
  const my = points.reduce((a, p) => a + p[1], 0) / k;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den ? num / den : null;
}

const { server, url } = await serve(dist);
const { browser, close } = await launch({ webgpu, extraArgs: ["--enable-precise-memory-info", "--js-flags=--expose-gc"] });
const t0 = Date.now();
try {
  const page = await browser.newPage();
  page.on("console", (m) => m.type() === "error" && console.error(`console: ${m.text()}`));
  page.on("pageerror", (e) => console.error(`pageerror: ${e.message}`));
  const query = [webgpu ? null : "backend=flex", weights === "untrained" ? "weights=untrained" : null, "debug"].filter(Boolean).join("&");
  await page.goto(`${url}?${query}`);
  await page.waitForFunction(() => ["ready", "error"].includes(document.body.dataset.state ?? ""), null, { timeout: 600_000 });
  if ((await page.evaluate(() => document.body.dataset.state)) !== "ready") throw new Error(await page.textContent("#load-text"));
  const backend = await page.evaluate(() => document.body.dataset.backend);
  const trained = await page.evaluate(() => document.body.dataset.trained === "true");

  const samples = [];
  const sample = async (ops) => {
    const s = await page.evaluate(async () => {
      globalThis.gc?.();
      const stats = await window.gkmvlpDebug.stats();
      return { jsHeap: performance.memory.usedJSHeapSize, wasm: stats.wasmMemoryBytes };
    });
    samples.push({ ops, seconds: (Date.now() - t0) / 1000, ...s });
    process.stderr.write(`ops ${ops}: JS heap ${(s.jsHeap / 1e6).toFixed(2)} MB, wasm ${(s.wasm / 1e6).toFixed(1)} MB\n`);
  };
  let ops = 0;
  await sample(ops);
  for (let i = 0; i < n; i++) {
    const image = images[i % images.length];
    const analysed = await page.evaluate(() => Number(document.body.dataset.analyzed ?? 0));
    await page.setInputFiles("#file", { name: image.name, mimeType: "image/png", buffer: image.buffer });
    await page.waitForFunction((k) => Number(document.body.dataset.analyzed ?? 0) > k, analysed, { timeout: 600_000 });
    ops += 1;
    if (ops % every === 0) await sample(ops);
    const answered = await page.locator("#answers li[data-state]").count();
    await page.fill("#qa-input", questions[i % questions.length]);
    await page.click("#qa-form button");
    await page.waitForFunction((k) => document.querySelectorAll("#answers li[data-state]").length > k, answered, { timeout: 600_000 });
    const state = await page.locator("#answers li[data-state]").last().getAttribute("data-state");
    if (state !== "done") throw new Error(`question ${i}: ${await page.locator("#answers li").last().textContent()}`);
    ops += 1;
    if (ops % every === 0) await sample(ops);
  }
  // The report of the last image, then a last reading.
  await page.waitForFunction(() => document.querySelector("#report")?.getAttribute("data-state") !== "running", null, { timeout: 600_000 });
  if (ops % every !== 0) await sample(ops);

  const half = samples.filter((s) => s.ops >= ops / 2);
  const per100 = (key) => {
    const m = slope(half.map((s) => [s.ops, s[key]]));
    return m === null ? null : Math.round(m * 100);
  };
  const result = {
    machine: `${cpus().length}-core ${process.platform}, headless Chromium`,
    backend,
    weights: trained ? "shipped demo (trained)" : weights === "untrained" ? "untrained tiny network" : "demo folder (untrained)",
    analyses: n,
    questions: n,
    operations: ops,
    seconds: Math.round((Date.now() - t0) / 1000),
    sampleEvery: every,
    jsHeap: { slopeBytesPer100Ops: per100("jsHeap"), peakBytes: Math.max(...samples.map((s) => s.jsHeap)), first: samples[0].jsHeap, last: samples.at(-1).jsHeap },
    wasmMemory: { slopeBytesPer100Ops: per100("wasm"), peakBytes: Math.max(...samples.map((s) => s.wasm)), first: samples[0].wasm, last: samples.at(-1).wasm },
    samples,
  };
  const out = join(repo, "web/bench-results");
  mkdirSync(out, { recursive: true });
  const file = join(out, `soak-${backend}-${weights}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + "\n");
  const { samples: _, ...summary } = result;
  console.log(JSON.stringify(summary, null, 2));
  console.log(`samples written to ${file}`);
} finally {
  await close();
  server.close();
}
