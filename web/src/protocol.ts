// The message protocol between the page and the model worker, shaped like transformers.js's:
// file events `initiate` → `progress` → `done`, then `ready`; per request `update` (streamed text),
// `complete` or `error`. Requests run one at a time in arrival order; a new image (`open`) supersedes
// the requests still queued for the old one (they end with `superseded`), by design. `window` and
// `stopReport` skip the queue. `open` only decodes and checks the image; the model reads it on
// `analyze`, which the page sends when the input check passed or the user chose to analyse anyway.

import type {
  Answer, BackendInfo, CheckedImageInfo, GroundedFinding, ImageAnalysis, InputCheck, ModelInfo, RegionBox, SentenceCheck,
  StageTime, ZeroShotScore,
} from "../pkg/gkmvlp_web.js";

export type {
  Answer, BackendInfo, CheckedImageInfo, GroundedFinding, ImageAnalysis, InputCheck, ModelInfo, RegionBox, SentenceCheck,
  StageTime, ZeroShotScore,
};

export type BackendChoice = "webgpu" | "flex";

/** Where the weights came from. */
export interface WeightsSource {
  kind: "demo" | "untrained";
  /** Bytes fetched from the network for this load (0 when everything came from the Cache API). */
  downloaded: number;
  fromCache: boolean;
}

export type Request =
  | { id: number; type: "load"; baseUrl: string; backend: BackendChoice; weights: "auto" | "untrained" }
  /** `frame`: which frame of a multi-frame DICOM, counted from 1 (the first when omitted). */
  | { id: number; type: "open"; bytes: ArrayBuffer; frame?: number }
  /** Analyses the open image; `anyway`: even though the input check refused it (the user's choice). */
  | { id: number; type: "analyze"; anyway: boolean }
  | { id: number; type: "zeroShot"; texts: string[] }
  | { id: number; type: "report" }
  /** Stops the report being generated (at its next token) and every report still queued. */
  | { id: number; type: "stopReport" }
  | { id: number; type: "answer"; question: string }
  | { id: number; type: "checkReport"; text: string }
  /** The benchmark's per-stage breakdown of opening and analysing `bytes`; the open image is left as it is. */
  | { id: number; type: "stageTimes"; bytes: ArrayBuffer }
  | { id: number; type: "window"; center: number; width: number }
  /** The wasm instance's memory size (skips the queue). */
  | { id: number; type: "stats" }
  /** Test hooks (the page sends them only with `?debug`): destroy the GPU device; trap; stop answering. */
  | { id: number; type: "debugLoseDevice" }
  | { id: number; type: "debugCrash" }
  | { id: number; type: "debugHang" };

export interface Results {
  /** `ms`: the whole load, filled in by the page from the `ready` event. */
  load: { backend: BackendInfo; model: ModelInfo; source: WeightsSource; adapter: AdapterSummary | null; ms?: number };
  open: { checked: CheckedImageInfo; width: number; height: number; rgba: ArrayBuffer };
  analyze: ImageAnalysis;
  zeroShot: ZeroShotScore[];
  /** `stopped`: a `stopReport` ended it early; `text` is what was written until then. */
  report: { text: string; stopped: boolean };
  /** Whether there was a report to stop. */
  stopReport: boolean;
  answer: Answer;
  checkReport: SentenceCheck[];
  stageTimes: StageTime[];
  window: { rgba: ArrayBuffer };
  stats: { wasmMemoryBytes: number };
  /** How many devices were destroyed. */
  debugLoseDevice: number;
  debugCrash: null;
  debugHang: null;
}

/** What `navigator.gpu` says about the adapter, next to burn's view. */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  description: string;
  isFallbackAdapter: boolean;
}

export type Stage = "manifest" | "weights" | "compiling";

export type WorkerEvent =
  | { status: "initiate"; file: string; total: number }
  | { status: "progress"; file: string; loaded: number; total: number; fromCache: boolean }
  | { status: "done"; file: string }
  | { status: "stage"; stage: Stage; message: string }
  | { status: "ready"; id: number; result: Results["load"]; ms: number }
  | { status: "update"; id: number; text: string }
  | { [K in keyof Results]: { status: "complete"; id: number; type: K; result: Results[K]; ms: number } }[keyof Results]
  | { status: "superseded"; id: number }
  /** An `open` reached the worker (`received`) and its decoding began (`started`): the page's watchdog times the decoding only. */
  | { status: "received" | "started"; id: number }
  /** The GPU device burn runs on was lost (driver reset, GPU removed, or destroyed): this worker is done for. */
  | { status: "deviceLost"; reason: string; message: string }
  | { status: "error"; id: number; type: Request["type"]; name: string; message: string };
