// The model worker: every byte of model work happens here, off the page's thread. Model requests run
// one at a time in arrival order; when a new image is opened, requests still queued for the old one are
// dropped (`superseded`). Window/level requests only touch the decoded image and skip the queue, keeping
// only the latest one, so dragging stays smooth while a report is being generated.

import init, { GkMvlpApp } from "../pkg/gkmvlp_web.js";
import type { AdapterSummary, Request, Results, WeightsSource, WorkerEvent } from "./protocol.ts";
import { fetchChecked, fetchOptional, manifestFiles, type FileProgress } from "./weights.ts";

/** The parts of the dedicated worker scope used here (the DOM lib types the page). */
interface GpuAdapterInfo { vendor: string; architecture: string; description: string; isFallbackAdapter?: boolean }
interface GpuDeviceLike { destroy(): void; lost: Promise<{ reason?: string; message: string }> }
interface WorkerScope {
  postMessage(message: WorkerEvent, transfer: Transferable[]): void;
  onmessage: ((event: MessageEvent<Request>) => void) | null;
  navigator: { gpu?: { requestAdapter(): Promise<{ info: GpuAdapterInfo } | null> } };
  GPUAdapter?: { prototype: { requestDevice(...args: unknown[]): Promise<GpuDeviceLike> } };
  close(): void;
}
const scope = self as unknown as WorkerScope;

let app: GkMvlpApp | null = null;
/** The app being created (set as the load starts), so that an image opened meanwhile can be decoded at once. */
let appPromise: Promise<GkMvlpApp> | null = null;
/** True while a load runs: an `open` then skips the queue (decoding needs no model). */
let loading = false;
/** The newest `open` request: an older one still waiting for the app is dropped. */
let latestOpen = 0;
/** The wasm instance's memory (for the soak's readings). */
let wasmMemory: WebAssembly.Memory | null = null;
let queue: Promise<void> = Promise.resolve();
/** Ids of queued (not started) model requests, with the image generation they belong to. */
const pending = new Map<number, number>();
let generation = 0;
let windowRequest: Extract<Request, { type: "window" }> | null = null;
/** Report requests queued or running, and those of them asked to stop. */
const reports = new Set<number>();
const stopRequested = new Set<number>();
let windowBusy = false;

function post(event: WorkerEvent, transfer: Transferable[] = []): void {
  scope.postMessage(event, transfer);
}

/** Set when the wasm module trapped (a Rust panic or an out-of-memory abort): its state is gone. */
let crashed: string | null = null;

function errorOf(e: unknown): { name: string; message: string } {
  if (e instanceof WebAssembly.RuntimeError) {
    crashed = e.message;
    return { name: "CrashError", message: `the model crashed (${e.message}); the details are in the browser console. Reload the page to start again.` };
  }
  if (e instanceof Error) return { name: e.name || "Error", message: e.message };
  return { name: "Error", message: String(e) };
}

// The GPU devices burn (wgpu) asks for, kept so that a lost one is noticed (the page then goes on on Flex)
// and so that a test can destroy one (`debugLoseDevice`). wgpu calls `adapter.requestDevice` through the
// prototype, so wrapping it here sees every device.
const devices: GpuDeviceLike[] = [];
let deviceLostPosted = false;
function watchDevices(): void {
  const proto = scope.GPUAdapter?.prototype;
  if (!proto || (proto as { gkmvlpWrapped?: boolean }).gkmvlpWrapped) return;
  const original = proto.requestDevice;
  proto.requestDevice = async function (this: unknown, ...args: unknown[]) {
    const device = await original.apply(this, args);
    devices.push(device);
    void device.lost.then((info) => {
      if (deviceLostPosted) return;
      deviceLostPosted = true;
      post({ status: "deviceLost", reason: info.reason ?? "unknown", message: info.message });
    });
    return device;
  };
  (proto as { gkmvlpWrapped?: boolean }).gkmvlpWrapped = true;
}

const progress: FileProgress = {
  initiate: (file, total) => post({ status: "initiate", file, total }),
  progress: (file, loaded, total, fromCache) => post({ status: "progress", file, loaded, total, fromCache }),
  done: (file) => post({ status: "done", file }),
};

async function adapterSummary(): Promise<AdapterSummary | null> {
  const gpu = scope.navigator.gpu;
  if (!gpu) return null;
  const adapter = await gpu.requestAdapter();
  if (!adapter) return null;
  const info = adapter.info;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    description: info.description,
    isFallbackAdapter: info.isFallbackAdapter ?? false,
  };
}

async function load(req: Extract<Request, { type: "load" }>): Promise<Results["load"]> {
  loading = true;
  try {
    return await loadModel(req);
  } finally {
    loading = false;
  }
}

async function loadModel(req: Extract<Request, { type: "load" }>): Promise<Results["load"]> {
  post({ status: "stage", stage: "manifest", message: "starting the accelerator" });
  appPromise ??= (async () => {
    watchDevices();
    const exports = await init();
    wasmMemory = exports.memory;
    return GkMvlpApp.create(req.backend);
  })();
  try {
    app = await appPromise;
  } catch (e) {
    appPromise = null; // a retry starts again
    throw e;
  }
  const backend = app.backend();
  const adapter = backend.kind === "webgpu" ? await adapterSummary() : null;
  const models = new URL("models/", req.baseUrl);
  const demo = new URL("demo/", models);

  let source: WeightsSource;
  const manifest = req.weights === "auto" ? await fetchOptional(new URL("manifest.json", demo).href) : null;
  let model;
  if (manifest) {
    post({ status: "stage", stage: "weights", message: "downloading weights" });
    const files = manifestFiles(manifest);
    const tokenizer = await fetchChecked(demo.href, "tokenizer.json", manifest, files, progress);
    const weights = await fetchChecked(demo.href, "model.safetensors", manifest, files, progress);
    // The knowledge candidates' encodings, so the text encoder need not run over them here.
    const knowledge = "knowledge.safetensors" in files
      ? await fetchChecked(demo.href, "knowledge.safetensors", manifest, files, progress)
      : undefined;
    post({ status: "stage", stage: "compiling", message: "building the model" });
    model = app.loadWeights(manifest, weights.bytes, tokenizer.bytes, knowledge?.bytes);
    const downloaded = tokenizer.downloaded + weights.downloaded + (knowledge?.downloaded ?? 0);
    source = { kind: "demo", downloaded, fromCache: downloaded === 0 };
  } else {
    const url = new URL("tokenizer.json", models).href;
    progress.initiate("tokenizer.json", 0);
    const tokenizer = await fetchOptional(url);
    if (!tokenizer) throw Object.assign(new Error(`weights file \`tokenizer.json\`: missing on the server (${url} is 404)`), { name: "WeightsError" });
    progress.progress("tokenizer.json", tokenizer.length, tokenizer.length, false);
    progress.done("tokenizer.json");
    post({ status: "stage", stage: "compiling", message: "building the untrained model" });
    model = app.loadUntrained(tokenizer);
    source = { kind: "untrained", downloaded: tokenizer.length, fromCache: false };
  }
  post({ status: "stage", stage: "compiling", message: "compiling shaders" });
  await app.warmUp();
  return { backend, model, source, adapter };
}

/** Decodes and checks an image (no model needed) and sends its display pixels. */
function openImage(a: GkMvlpApp, req: Extract<Request, { type: "open" }>, start: number): void {
  post({ status: "started", id: req.id });
  const checked = a.open(new Uint8Array(req.bytes), req.frame); // `frame`: of a multi-frame DICOM
  const rgba = a.displayPixels().buffer as ArrayBuffer;
  const result = { checked, width: checked.image.width, height: checked.image.height, rgba };
  post({ status: "complete", id: req.id, type: "open", result, ms: Math.round(performance.now() - start) }, [rgba]);
}

/** An image opened while the model loads: decoded as soon as the wasm module and device are up. */
async function openEarly(req: Extract<Request, { type: "open" }>, created: Promise<GkMvlpApp>): Promise<void> {
  const start = performance.now();
  try {
    const a = await created;
    if (req.id !== latestOpen) {
      post({ status: "superseded", id: req.id });
      return;
    }
    if (crashed) throw Object.assign(new Error(`the model crashed earlier (${crashed})`), { name: "CrashError" });
    openImage(a, req, start);
  } catch (e) {
    post({ status: "error", id: req.id, type: "open", ...errorOf(e) });
  }
}

function need(): GkMvlpApp {
  if (crashed) throw Object.assign(new Error(`the model crashed earlier (${crashed}); reload the page`), { name: "CrashError" });
  if (!app) throw Object.assign(new Error("the model is not loaded yet"), { name: "StateError" });
  return app;
}

async function run(req: Exclude<Request, { type: "window" | "stopReport" | "stats" | "debugLoseDevice" | "debugHang" }>): Promise<void> {
  const start = performance.now();
  const ms = () => Math.round(performance.now() - start);
  switch (req.type) {
    case "load": {
      const result = await load(req);
      post({ status: "ready", id: req.id, result, ms: ms() });
      return;
    }
    case "open":
      // Decoding needs the app (a wasm object on the device), not a loaded model.
      if (crashed) need();
      openImage(app ?? (appPromise ? await appPromise : need()), req, start);
      return;
    case "debugCrash":
      // Test hook: behaves as a wasm trap would (the worker's wasm state is then unusable).
      throw new WebAssembly.RuntimeError("unreachable (debugCrash)");
    case "analyze":
      post({ status: "complete", id: req.id, type: "analyze", result: await need().analyze(req.anyway), ms: ms() });
      return;
    case "zeroShot":
      post({ status: "complete", id: req.id, type: "zeroShot", result: await need().zeroShot(req.texts), ms: ms() });
      return;
    case "report": {
      // The stop lands between tokens: a token's read-back from the GPU yields to this worker's event loop,
      // where `stopReport` is handled. (On Flex a whole report takes a fraction of a second and runs to its end.)
      let stopped = stopRequested.has(req.id);
      const text = stopped ? "" : await need().generateReport((t: string) => {
        post({ status: "update", id: req.id, text: t });
        stopped = stopRequested.has(req.id);
        return !stopped;
      });
      post({ status: "complete", id: req.id, type: "report", result: { text, stopped }, ms: ms() });
      return;
    }
    case "answer":
      post({ status: "complete", id: req.id, type: "answer", result: await need().answer(req.question), ms: ms() });
      return;
    case "checkReport":
      post({ status: "complete", id: req.id, type: "checkReport", result: await need().checkReport(req.text), ms: ms() });
      return;
    case "stageTimes":
      post({ status: "complete", id: req.id, type: "stageTimes", result: await need().stageTimes(new Uint8Array(req.bytes)), ms: ms() });
      return;
  }
}

async function windowLoop(): Promise<void> {
  if (windowBusy) return;
  windowBusy = true;
  try {
    while (windowRequest) {
      const req = windowRequest;
      windowRequest = null;
      const start = performance.now();
      try {
        const rgba = need().windowedPixels(req.center, req.width).buffer as ArrayBuffer;
        post({ status: "complete", id: req.id, type: "window", result: { rgba }, ms: Math.round(performance.now() - start) }, [rgba]);
      } catch (e) {
        post({ status: "error", id: req.id, type: "window", ...errorOf(e) });
      }
      await new Promise((r) => setTimeout(r, 0));
    }
  } finally {
    windowBusy = false;
  }
}

scope.onmessage = (event: MessageEvent<Request>) => {
  const req = event.data;
  if (req.type === "window") {
    if (windowRequest) post({ status: "superseded", id: windowRequest.id });
    windowRequest = req;
    void windowLoop();
    return;
  }
  if (req.type === "stats") {
    const result = { wasmMemoryBytes: wasmMemory?.buffer.byteLength ?? 0 };
    post({ status: "complete", id: req.id, type: "stats", result, ms: 0 });
    return;
  }
  if (req.type === "debugLoseDevice") {
    // Test hook: destroys the GPU device(s) burn uses, as a driver reset or a lost GPU would.
    for (const d of devices) d.destroy();
    post({ status: "complete", id: req.id, type: "debugLoseDevice", result: devices.length, ms: 0 });
    return;
  }
  if (req.type === "debugHang") {
    // Test hook: the worker stops answering, as a runaway decode would look to the page.
    scope.close();
    return;
  }
  if (req.type === "stopReport") {
    for (const id of reports) stopRequested.add(id);
    post({ status: "complete", id: req.id, type: "stopReport", result: reports.size > 0, ms: 0 });
    return;
  }
  if (req.type === "open") {
    post({ status: "received", id: req.id });
    generation += 1;
    latestOpen = req.id;
    for (const [id, gen] of pending) {
      if (gen < generation) {
        pending.delete(id);
        reports.delete(id);
        post({ status: "superseded", id });
      }
    }
    if (loading && appPromise) {
      // The model is still loading: decode and show the image now, not after the load.
      void openEarly(req, appPromise);
      return;
    }
  }
  if (req.type === "report") reports.add(req.id);
  // A load belongs to no image: opening one never drops it.
  const mine = req.type === "load" ? Infinity : generation;
  pending.set(req.id, mine);
  queue = queue.then(async () => {
    try {
      if (!pending.has(req.id)) return; // superseded while queued
      pending.delete(req.id);
      await run(req);
    } catch (e) {
      post({ status: "error", id: req.id, type: req.type, ...errorOf(e) });
    } finally {
      reports.delete(req.id);
      stopRequested.delete(req.id);
    }
  });
};
