// The page: talks to the model worker, draws the results. Every model output is inserted as text
// (textContent), never as HTML.

import type {
  BackendChoice, GroundedFinding, ImageAnalysis, InputCheck, Request, Results, SentenceCheck, WorkerEvent, ZeroShotScore,
} from "./protocol.ts";
import { Viewer } from "./viewer.ts";

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el as T;
};

const params = new URLSearchParams(location.search);
const weightsChoice = params.get("weights") === "untrained" ? "untrained" : "auto";
/** The backend the worker is asked for: WebGPU (falling back to Flex without an adapter), or Flex after `?backend=flex` or a lost GPU device. */
let backendChoice: BackendChoice = params.get("backend") === "flex" ? "flex" : "webgpu";
/** Why Flex was chosen here (a lost GPU device), shown instead of the worker's reason. */
let flexReason: string | null = null;
/** `?debug`: test hooks on `window.gkmvlpDebug` (lose the GPU device, crash or hang the worker, memory readings). */
const debug = params.has("debug");
/** How long decoding a file may take before the worker is taken for dead and restarted (`?watchdog=ms`). */
const OPEN_TIMEOUT_MS = Number(params.get("watchdog")) > 0 ? Number(params.get("watchdog")) : 60_000;

let worker: Worker;
const viewer = new Viewer($<HTMLCanvasElement>("canvas"), $("hover"));

// ---- requests -------------------------------------------------------------------------------------

type Distribute<U> = U extends { type: infer T } ? (T extends keyof Results ? Omit<U, "id"> : never) : never;
type Body = Distribute<Request>;
class Superseded extends Error {
  override name = "Superseded";
}
/** The worker stopped (crashed, failed, hung or lost its GPU) with this request in flight; the page restarts it. */
class WorkerLost extends Error {
  override name = "WorkerLost";
}
interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  onUpdate?: (text: string) => void;
  timer?: ReturnType<typeof setTimeout>;
}
let nextId = 1;
const pending = new Map<number, Pending>();

function request<K extends keyof Results>(body: Body & { type: K }, onUpdate?: (text: string) => void, transfer: Transferable[] = []): Promise<Results[K]> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const p: Pending = { resolve: resolve as (v: unknown) => void, reject, onUpdate };
    // Decoding a file is quick and needs no GPU: no answer in time means a worker stuck for good. The
    // watchdog runs until the worker says it got the file (it may wait behind model requests), and again
    // from when its decoding starts.
    if (body.type === "open") watchdog(p);
    pending.set(id, p);
    worker.postMessage({ ...body, id }, transfer);
  });
}

function watchdog(p: Pending): void {
  if (p.timer) clearTimeout(p.timer);
  p.timer = setTimeout(() => restartWorker(`it did not answer within ${Math.round(OPEN_TIMEOUT_MS / 1000)} s`), OPEN_TIMEOUT_MS);
}

function settle(id: number): Pending | undefined {
  const p = pending.get(id);
  pending.delete(id);
  if (p?.timer) clearTimeout(p.timer);
  return p;
}

// ---- loading --------------------------------------------------------------------------------------

const files = new Map<string, { loaded: number; total: number }>();
const mb = (n: number) => (n / 1e6).toFixed(1);

function loadProgress(e: Extract<WorkerEvent, { status: "initiate" | "progress" | "done" | "stage" }>): void {
  const text = $("load-text");
  const bar = $<HTMLProgressElement>("load-bar");
  if (e.status === "stage") {
    text.textContent = e.message + "…";
    if (e.stage === "compiling") bar.removeAttribute("value"); // indeterminate
    return;
  }
  if (e.status === "initiate") files.set(e.file, { loaded: 0, total: e.total });
  if (e.status === "progress") {
    files.set(e.file, { loaded: e.loaded, total: e.total });
    text.textContent = `${e.fromCache ? "reading from cache" : "downloading"} ${e.file}: ${mb(e.loaded)} / ${mb(e.total)} MB`;
  }
  let loaded = 0;
  let total = 0;
  for (const f of files.values()) {
    loaded += f.loaded;
    total += f.total;
  }
  bar.max = Math.max(total, 1);
  bar.value = loaded;
}

function showMessage(text: string, kind: "error" | "info" = "error"): void {
  const m = $("message");
  m.textContent = text;
  m.className = `message ${kind}`;
  m.hidden = false;
}

function clearMessage(): void {
  $("message").hidden = true;
}

function load(): Promise<void> {
  document.body.dataset.state = "loading";
  $("loader").hidden = false;
  $("retry").hidden = true;
  files.clear();
  return request({ type: "load", baseUrl: document.baseURI, backend: backendChoice, weights: weightsChoice })
    .then((r) => {
      const { backend, model, source, adapter } = r;
      document.body.dataset.state = "ready";
      document.body.dataset.backend = backend.kind;
      document.body.dataset.trained = String(model.trained);
      const b = $("backend");
      if (backend.kind === "webgpu") {
        const a = adapter ? ` (${[adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(" ")}${adapter.isFallbackAdapter ? ", software adapter" : ""})` : "";
        b.textContent = `WebGPU${a}`;
        b.className = "badge ok";
        if (adapter?.isFallbackAdapter && !document.getElementById("try-flex")) {
          // A software WebGPU adapter (SwiftShader) can be slower than burn's CPU backend.
          const link = document.createElement("a");
          link.id = "try-flex";
          link.href = "?backend=flex";
          link.textContent = "software adapter: try the CPU backend";
          b.after(" ", link);
        }
      } else {
        b.textContent = `CPU fallback (burn Flex): ${flexReason ?? backend.fallback_reason ?? "no WebGPU"}`;
        b.className = "badge warn";
      }
      b.title = backend.detail;
      const fetched = source.fromCache ? ", from cache" : `, ${mb(source.downloaded)} MB downloaded`;
      $("weights").textContent = source.kind === "demo"
        ? `${model.trained ? "trained" : "UNTRAINED"} ${model.preset} weights from models/demo (manifest ${model.manifest_sha256?.slice(0, 12)}…)${fetched}`
        : `untrained ${model.preset} network`;
      $("untrained").hidden = model.trained;
      $("report-rule").hidden = !model.findings_prompt;
      $("untrained-why").textContent = source.kind === "demo"
        ? "The manifest in models/demo/ says these weights were never trained."
        : "No trained weights were found in models/demo/, so the page runs a random tiny network to show the machinery.";
      $("loader").hidden = true;
      setTimings(`model ready in ${r.ms ?? 0} ms`);
      whenReady(source.fromCache);
    })
    .catch((e: Error) => {
      if (e instanceof WorkerLost) return; // the restart loads again
      document.body.dataset.state = "error";
      $("load-text").textContent = `Could not load the model. ${e.name}: ${e.message}`;
      $("retry").hidden = false;
    });
}
$("retry").addEventListener("click", () => void load());

// ---- results --------------------------------------------------------------------------------------

let analysis: ImageAnalysis | null = null;
/** The image on display (decoded and checked; `analysis` is null until the model has read it). */
let openName: string | null = null;
let windowState: { center: number; width: number; span: number } | null = null;
let reportId = 0;
/** Bumped by every file opened: an older file's outcome arriving late is dropped (the newest file wins). */
let openSeq = 0;
/** A copy of the open image's bytes, to open it again in a restarted worker or at another frame. */
let currentBytes: ArrayBuffer | null = null;
/** The frame on display of a multi-frame DICOM (from 1). */
let currentFrame = 1;
/** The open image waits for the model to be ready to be analysed (`anyway`: past a refusal, as asked). */
let analyseWhenReady: { anyway: boolean } | null = null;
/** How the open image was analysed, to analyse it again in a restarted worker. */
let analysedAs: { anyway: boolean } | null = null;
/** Set while the worker restarts: why, for the messages. */
let restarting: string | null = null;

function setTimings(text: string): void {
  $("timings").textContent = text;
}

function pct(p: number): string {
  return `${(100 * p).toFixed(1)}%`;
}

function li(parent: HTMLElement, text: string, className = ""): HTMLLIElement {
  const el = document.createElement("li");
  el.textContent = text;
  if (className) el.className = className;
  parent.append(el);
  return el;
}

function renderFindings(findings: GroundedFinding[]): void {
  const list = $("findings");
  list.replaceChildren();
  for (const f of findings) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = f.present ? "finding present" : "finding";
    if (f.present) button.title = "called present: at or above this finding's calibrated threshold";
    const name = document.createElement("span");
    name.textContent = `${f.entity} — ${f.position}`;
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = pct(f.probability);
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = pct(f.probability);
    button.append(name, score, bar);
    button.addEventListener("click", () => {
      for (const el of list.querySelectorAll(".selected")) el.classList.remove("selected");
      item.classList.add("selected");
      viewer.setHighlight({ scores: f.region_attention, own: f.region_index });
    });
    item.append(button);
    list.append(item);
  }
}

function renderScores(scores: ZeroShotScore[], prepend = false): void {
  const list = $("zero-shot");
  const items = scores.map((s) => {
    const el = document.createElement("li");
    el.textContent = `${s.finding}: ${pct(s.probability)}`;
    return el;
  });
  if (prepend) list.prepend(...items);
  else list.replaceChildren(...items);
}

function renderChecks(checks: SentenceCheck[]): void {
  const list = $("checks");
  list.replaceChildren();
  for (const c of checks) {
    const supported = c.match_probability >= 0.5;
    li(list, `${c.sentence} — ${pct(c.match_probability)}${supported ? "" : " (not supported by the image)"}`, supported ? "supported" : "unsupported");
  }
}

function stopReport(): void {
  if ($("report").dataset.state === "running") void request({ type: "stopReport" });
}

function generateReport(): void {
  stopReport(); // a report still being written would only hold up the new one
  const out = $("report");
  const stop = $("report-stop");
  out.textContent = "";
  out.dataset.state = "running";
  stop.hidden = false;
  const mine = ++reportId;
  const t0 = performance.now();
  let tokens = 0;
  request({ type: "report" }, (text) => {
    tokens += 1;
    if (mine === reportId) out.textContent = text;
  })
    .then(({ text, stopped }) => {
      if (mine !== reportId) return;
      out.textContent = text || (stopped ? "" : "(the model generated an empty report)");
      out.dataset.state = stopped ? "stopped" : "done";
      stop.hidden = true;
      const ms = performance.now() - t0;
      const speed = `${tokens} tokens in ${Math.round(ms)} ms (${tokens ? Math.round(ms / tokens) : 0} ms/token)`;
      setTimings(stopped ? `report stopped: ${speed}` : `report: ${speed}`);
    })
    .catch((e: Error) => {
      if (mine !== reportId || e instanceof Superseded) return;
      out.dataset.state = "error";
      stop.hidden = true;
      showMessage(`Report: ${e.message}`);
    });
}

/** Shows a newly opened image and drops the results of the previous one. */
function showImage(r: Results["open"], name: string): void {
  const info = r.checked.image;
  analysis = null;
  openName = name;
  viewer.setImage(r.rgba, r.width, r.height);
  viewer.resetView();
  viewer.setHighlight(null);
  viewer.setRegions([]);
  $("findings").replaceChildren();
  $("zero-shot").replaceChildren();
  $("answers").replaceChildren();
  $("checks").replaceChildren();
  reportId += 1; // a report still streaming belongs to the old image
  const report = $("report");
  report.textContent = "";
  delete report.dataset.state;
  $("report-stop").hidden = true;
  $("image-info").textContent = `${name}: ${info.format}, ${info.width}×${info.height}, ${info.bits_stored} bits${info.invert ? ", MONOCHROME1" : ""}`;
  // A multi-frame DICOM: say how many frames there are and which one is shown, and let the user choose.
  const frames = info.frames;
  currentFrame = info.frame;
  $("frames").hidden = frames <= 1;
  $("frame-count").textContent = String(frames);
  const frameInput = $<HTMLInputElement>("frame-input");
  frameInput.max = String(frames);
  frameInput.value = String(currentFrame);
  if (info.window && info.value_range) {
    windowState = { ...info.window, span: Math.max(1, info.value_range[1] - info.value_range[0]) };
    viewer.onWindowDrag = onWindowDrag;
    showWindow();
  } else {
    windowState = null;
    viewer.onWindowDrag = null;
    $("window-info").textContent = "";
  }
}

/** The input check's verdict: a refusal with the choice to go on, or (once analysed) a caution line. */
function showInputCheck(check: InputCheck, analysed: boolean): void {
  const refused = !check.chest_radiograph;
  document.body.dataset.refused = String(refused && !analysed);
  $("input-refused").hidden = !refused || analysed;
  $("input-refused-text").textContent = refused ? `This does not look like a frontal chest radiograph: ${check.reason}.` : "";
  const caution = $("input-caution");
  caution.hidden = !analysed || !(refused || check.borderline);
  caution.textContent = refused
    ? `Analysed anyway, as asked: this does not look like a frontal chest radiograph (${check.reason}). The outputs below mean little.`
    : check.borderline
      ? `Caution: this image is unlike the radiographs the model was trained on (input check score ${check.score.toFixed(2)}); its outputs are less reliable.`
      : "";
}

/** Runs the model on the open image; `anyway`: the user chose to go on past the input check. */
async function analyse(name: string, anyway: boolean): Promise<void> {
  if (document.body.dataset.state !== "ready") {
    // The image is on display; the model reads it the moment it is ready.
    analyseWhenReady = { anyway };
    if (!restarting) showMessage(`The model is still loading; ${name} is shown and will be analysed as soon as it is ready.`, "info");
    return;
  }
  const seq = openSeq;
  document.body.dataset.analyzing = "true";
  try {
    const a = await request({ type: "analyze", anyway });
    if (seq !== openSeq) return; // a newer file is open
    analysis = a;
    analysedAs = { anyway };
    viewer.setRegions(a.regions);
    renderFindings(a.findings);
    renderScores(a.zero_shot);
    showInputCheck(a.input_check, true);
    document.body.dataset.analyzed = String(Number(document.body.dataset.analyzed ?? 0) + 1);
    generateReport();
  } catch (e) {
    if (e instanceof Superseded || e instanceof WorkerLost) return; // a restarted worker analyses it again
    const err = e as Error;
    showMessage(`${name}: ${err.message}`);
    document.body.dataset.lastError = err.name;
    if (anyway) $("input-refused").hidden = false; // the choice stays open for another try
  } finally {
    document.body.dataset.analyzing = "false";
  }
}

async function openImage(bytes: ArrayBuffer, name: string, frame?: number): Promise<void> {
  const seq = ++openSeq;
  if (!restarting) clearMessage();
  $("image-info").textContent = `reading ${name}…`;
  document.body.dataset.analyzing = "true";
  stopReport(); // the old image's report is no longer wanted
  const copy = bytes.slice(0); // the worker gets `bytes`; a restarted one would need them again
  try {
    let opened: Results["open"];
    try {
      // While the model loads, the worker decodes the file at once (no model needed) and shows it.
      opened = await request({ type: "open", bytes, frame }, undefined, [bytes]);
    } catch (e) {
      if (e instanceof Superseded || seq !== openSeq) return;
      const err = e as Error;
      const why = e instanceof WorkerLost
        ? `reading it stopped the model worker (${err.message}). The page restarted the worker and reloads the model`
        : err.message;
      showMessage(`${name}: ${why}${openName ? `; the previous image (${openName}) is still open.` : "."}`);
      $("image-info").textContent = openName ? `the previous image (${openName}) is still open` : "";
      document.body.dataset.lastError = err.name;
      return;
    }
    if (seq !== openSeq) return; // a newer file was opened meanwhile: it wins
    currentBytes = copy;
    analysedAs = null;
    analyseWhenReady = null;
    showImage(opened, name);
    const check = opened.checked.input_check;
    showInputCheck(check, false);
    // A refused image stays on display; the model reads it only if the user chooses to go on.
    if (check.chest_radiograph) {
      await analyse(name, false);
    }
  } finally {
    document.body.dataset.analyzing = "false";
    // Files tried, read, refused or analysed: tells a watcher that this file's outcome is on the page.
    document.body.dataset.opened = String(Number(document.body.dataset.opened ?? 0) + 1);
  }
}

$("frame-input").addEventListener("change", () => {
  const input = $<HTMLInputElement>("frame-input");
  const frame = Math.round(Number(input.value));
  const frames = Number(input.max);
  if (!currentBytes || !openName || frame === currentFrame) return;
  if (!(frame >= 1 && frame <= frames)) {
    showMessage(`${openName} has frames 1 to ${frames}; frame ${frame} is not one of them.`, "info");
    input.value = String(currentFrame);
    return;
  }
  void openImage(currentBytes.slice(0), openName, frame);
});

$("analyse-anyway").addEventListener("click", () => {
  if (!openName || analysis) return;
  clearMessage();
  $("input-refused").hidden = true;
  void analyse(openName, true);
});

// ---- window / level (DICOM) -------------------------------------------------------------------------

let windowQueued = false;
function showWindow(): void {
  if (windowState) $("window-info").textContent = `W ${Math.round(windowState.width)} / L ${Math.round(windowState.center)}`;
}
function onWindowDrag(dx: number, dy: number): void {
  if (!windowState) return;
  const step = windowState.span / 600;
  windowState.width = Math.max(1, windowState.width + dx * step);
  windowState.center -= dy * step;
  showWindow();
  if (windowQueued) return;
  windowQueued = true;
  requestAnimationFrame(() => {
    windowQueued = false;
    if (!windowState) return;
    request({ type: "window", center: windowState.center, width: windowState.width })
      .then((r) => viewer.updatePixels(r.rgba))
      .catch(() => undefined); // superseded by a later drag position
  });
}

// ---- inputs ---------------------------------------------------------------------------------------

async function openFile(file: File): Promise<void> {
  if (file.size > 512 * 1024 * 1024) {
    showMessage(`${file.name}: larger than 512 MB`);
    return;
  }
  await openImage(await file.arrayBuffer(), file.name);
}

$<HTMLInputElement>("file").addEventListener("change", (e) => {
  const input = e.target as HTMLInputElement;
  const file = input.files?.[0];
  if (file) void openFile(file);
  input.value = "";
});
const drop = $("drop");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const file = e.dataTransfer?.files[0];
  if (file) void openFile(file);
});

async function loadSamples(): Promise<void> {
  const response = await fetch("samples/index.json").catch(() => null);
  if (!response?.ok) return;
  const samples = (await response.json()) as { file: string; label: string }[];
  for (const s of samples) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = s.label;
    button.dataset.sample = s.file;
    button.addEventListener("click", async () => {
      const r = await fetch(`samples/${encodeURIComponent(s.file)}`);
      if (!r.ok) {
        showMessage(`sample ${s.file}: HTTP ${r.status}`);
        return;
      }
      await openImage(await r.arrayBuffer(), s.file);
    });
    $("samples").append(button);
  }
}

function needImage(): boolean {
  if (restarting) {
    showMessage("The model is being loaded again; try again in a moment.", "info");
    return false;
  }
  if (analysis) return true;
  showMessage(openName ? "The model has not read this image: choose “Analyse anyway” to run it." : "Open an image first.", "info");
  return false;
}

$("zs-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $<HTMLInputElement>("zs-input");
  const texts = input.value.split(/[,\n]/).map((t) => t.trim()).filter(Boolean);
  if (!texts.length || !needImage()) return;
  request({ type: "zeroShot", texts })
    .then((scores) => {
      renderScores(scores, true);
      input.value = "";
    })
    .catch((err: Error) => err instanceof Superseded || showMessage(`Zero-shot: ${err.message}`));
});

$("qa-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $<HTMLInputElement>("qa-input");
  const question = input.value.trim();
  if (!question || !needImage()) return;
  input.value = "";
  const item = li($("answers"), "");
  const q = document.createElement("div");
  q.className = "q";
  q.textContent = `Q: ${question}`;
  const a = document.createElement("div");
  a.className = "a";
  a.textContent = "A: …";
  item.append(q, a);
  request({ type: "answer", question })
    .then((answer) => {
      a.textContent = `A: ${answer.text || "(empty answer)"}`;
      const source = document.createElement("div");
      source.className = "source";
      const f = answer.finding;
      source.textContent = f
        ? `from the findings: ${f.entity}${f.position ? ` at the ${f.position}` : ""} ${f.probability.toFixed(3)}, ` +
          `called present from ${f.threshold.toFixed(2)}`
        : answer.source === "decoder"
          ? "written by the report decoder"
          : "not answered: the question is beyond what the model knows";
      item.append(source);
      item.dataset.state = "done";
    })
    .catch((err: Error) => {
      a.textContent = err instanceof Superseded ? "A: (dropped: a new image was opened)" : `A: error: ${err.message}`;
      item.dataset.state = "error";
    });
});

$("check-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $<HTMLTextAreaElement>("check-input").value;
  if (!text.trim() || !needImage()) return;
  request({ type: "checkReport", text })
    .then(renderChecks)
    .catch((err: Error) => err instanceof Superseded || showMessage(`Report check: ${err.message}`));
});

$("report-button").addEventListener("click", () => needImage() && generateReport());
$("report-stop").addEventListener("click", stopReport);
$("zoom-in").addEventListener("click", () => viewer.zoomBy(1.25));
$("zoom-out").addEventListener("click", () => viewer.zoomBy(0.8));
$("zoom-reset").addEventListener("click", () => viewer.resetView());
$("clear-highlight").addEventListener("click", () => {
  for (const el of $("findings").querySelectorAll(".selected")) el.classList.remove("selected");
  viewer.setHighlight(null);
});

// ---- worker events, restarts ------------------------------------------------------------------------

/** The model is ready (first load or after a restart): analyse what waits for it, or what a restart lost. */
function whenReady(fromCache: boolean): void {
  if (restarting) {
    const why = restarting;
    restarting = null;
    document.body.dataset.restarted = String(Number(document.body.dataset.restarted ?? 0) + 1);
    const again = `${why} The model is loaded again${fromCache ? " (weights from the browser's cache)" : ""}.`;
    showMessage(again, "info");
    const wanted = analyseWhenReady ?? analysedAs;
    if (currentBytes && openName) {
      // The new worker has no image: open the one on display again, and analyse it if it was.
      const name = openName;
      const seq = openSeq;
      request({ type: "open", bytes: currentBytes.slice(0), frame: currentFrame })
        .then(() => {
          if (seq === openSeq && wanted) void analyse(name, wanted.anyway);
        })
        .catch((e: Error) => e instanceof Superseded || e instanceof WorkerLost || showMessage(`${name}: ${e.message}`));
    }
    analyseWhenReady = null;
    return;
  }
  if (analyseWhenReady && openName) {
    const { anyway } = analyseWhenReady;
    analyseWhenReady = null;
    clearMessage();
    void analyse(openName, anyway);
  }
}

let lostTimer: ReturnType<typeof setTimeout> | null = null;

/**
 * Replaces a dead worker (a wasm trap, an uncaught error, no answer, a lost GPU device) with a new one on
 * `backend` and loads the model again (trained weights come from the Cache API); the image on display
 * is opened again and, if it had been analysed, analysed again. Requests in flight end as `WorkerLost`.
 */
const restartTimes: number[] = [];

function restartWorker(why: string, backend: BackendChoice = backendChoice, notice?: string): void {
  if (lostTimer) clearTimeout(lostTimer);
  lostTimer = null;
  worker.onmessage = null;
  worker.onerror = null;
  worker.terminate();
  // A worker that dies again and again (say, on every load) is not restarted for ever.
  const now = performance.now();
  restartTimes.push(now);
  if (restartTimes.filter((t) => now - t < 120_000).length > 3) {
    for (const [id, p] of pending) {
      settle(id);
      p.reject(new WorkerLost(why));
    }
    restarting = null;
    document.body.dataset.state = "error";
    $("loader").hidden = false;
    $("load-text").textContent = `The model worker stopped again (${why}), the fourth time in two minutes; reload the page to start again.`;
    showMessage(`The model worker keeps stopping (${why}); reload the page to start again.`);
    return;
  }
  backendChoice = backend;
  const message = notice ?? `The model worker stopped (${why}); the page restarted it and is loading the model again.`;
  // An analysis waiting for the load, or done, is redone by the new worker.
  if (analysis && !analyseWhenReady) analyseWhenReady = analysedAs;
  analysis = null;
  restarting = message;
  for (const [id, p] of pending) {
    settle(id);
    p.reject(new WorkerLost(why));
  }
  const report = $("report");
  if (report.dataset.state === "running") report.dataset.state = "stopped";
  $("report-stop").hidden = true;
  startWorker();
  showMessage(message, "info");
  void load();
}

function onWorkerMessage(event: MessageEvent<WorkerEvent>): void {
  const e = event.data;
  switch (e.status) {
    case "initiate":
    case "progress":
    case "done":
    case "stage":
      loadProgress(e);
      return;
    case "update":
      pending.get(e.id)?.onUpdate?.(e.text);
      return;
    case "received": {
      const p = pending.get(e.id);
      if (p?.timer) clearTimeout(p.timer);
      return;
    }
    case "started": {
      const p = pending.get(e.id);
      if (p) watchdog(p);
      return;
    }
    case "ready":
      settle(e.id)?.resolve({ ...e.result, ms: e.ms });
      return;
    case "complete":
      settle(e.id)?.resolve(e.result);
      return;
    case "superseded":
      settle(e.id)?.reject(new Superseded("superseded by a newer request"));
      return;
    case "deviceLost":
      // The GPU device is gone for this worker: go on on the CPU, in a new worker.
      flexReason = `the GPU device was lost (${e.reason}${e.message ? `: ${e.message}` : ""})`;
      restartWorker(flexReason, "flex", "The GPU device was lost; continuing on the CPU (Flex).");
      return;
    case "error": {
      if (e.name === "CrashError") {
        // The worker's wasm state is gone. A lost GPU device can trap wgpu before the loss is reported:
        // wait a moment for that report (it switches to Flex), then restart on the same backend.
        lostTimer ??= setTimeout(() => restartWorker(`the model crashed: ${e.message.replace(/;.*$/, "")}`), 300);
        return;
      }
      const err = new Error(e.message);
      err.name = e.name;
      settle(e.id)?.reject(err);
      return;
    }
  }
}

function startWorker(): void {
  worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
  worker.onmessage = onWorkerMessage;
  worker.onerror = (e) => {
    e.preventDefault();
    restartWorker(`it failed: ${e.message || "an uncaught error"}`);
  };
}

if (debug) {
  // Test hooks (`?debug` only): the browser tests and the soak script drive these.
  Object.assign(window, {
    gkmvlpDebug: {
      loseDevice: () => request({ type: "debugLoseDevice" }),
      crash: () => request({ type: "debugCrash" }).catch((e: Error) => e.name),
      hang: () => void worker.postMessage({ type: "debugHang", id: nextId++ }),
      stats: () => request({ type: "stats" }),
    },
  });
}

startWorker();
void load();
void loadSamples();
