// The benchmark page (`npm run bench` drives it headless and writes the JSON): the same worker and
// protocol as the app. "cold" is the first run (load: empty Cache API and a new worker; analyze: the
// first image after load), "warm" the median of the repeats. An analysis is timed as the page runs it:
// open (decode and input check), then analyze.

import type { BackendChoice, Request, Results, StageTime, WorkerEvent } from "./protocol.ts";

const params = new URLSearchParams(location.search);
const backend: BackendChoice = params.get("backend") === "flex" ? "flex" : "webgpu";
const reps = Math.max(1, Number(params.get("reps") ?? 3));
const sample = params.get("sample") ?? "synthetic.png";
const log = (line: string) => {
  const el = document.getElementById("log");
  if (el) el.textContent += line + "\n";
};

type Body = Request extends infer U ? (U extends { id: number } ? Omit<U, "id"> : never) : never;

class Client {
  readonly worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
  private next = 1;
  private waiting = new Map<number, { ok: (v: unknown) => void; fail: (e: Error) => void; update?: () => void }>();
  constructor() {
    this.worker.onmessage = (event: MessageEvent<WorkerEvent>) => {
      const e = event.data;
      if (e.status === "update") this.waiting.get(e.id)?.update?.();
      if (e.status === "ready" || e.status === "complete") this.waiting.get(e.id)?.ok(e.result);
      if (e.status === "error") this.waiting.get(e.id)?.fail(Object.assign(new Error(e.message), { name: e.name }));
    };
  }
  call<K extends keyof Results>(body: Body & { type: K }, update?: () => void): Promise<Results[K]> {
    const id = this.next++;
    return new Promise((ok, fail) => {
      this.waiting.set(id, { ok: ok as (v: unknown) => void, fail, update });
      this.worker.postMessage({ ...body, id });
    });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (x: number) => Math.round(x * 10) / 10;

async function timed<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await f();
  return [performance.now() - t0, v];
}

async function main(): Promise<void> {
  await caches.delete("gkmvlp-weights-v1").catch(() => false);
  const loads: number[] = [];
  let client: Client | null = null;
  let info: Results["load"] | null = null;
  for (let i = 0; i <= reps; i++) {
    client?.worker.terminate();
    client = new Client();
    const c = client;
    const [ms, r] = await timed(() => c.call({ type: "load", baseUrl: document.baseURI, backend, weights: "auto" }));
    loads.push(ms);
    info = r;
    log(`load ${i}: ${Math.round(ms)} ms (${r.source.fromCache ? "cache" : "network"})`);
  }
  const c = client!;
  const bytes = await (await fetch(`samples/${sample}`)).arrayBuffer();
  const analyses: number[] = [];
  for (let i = 0; i <= reps; i++) {
    const [ms] = await timed(async () => {
      await c.call({ type: "open", bytes: bytes.slice(0) });
      return c.call({ type: "analyze", anyway: true }); // the model's time, whatever the input check says
    });
    analyses.push(ms);
    log(`analyze ${i}: ${Math.round(ms)} ms`);
  }
  // Where an analysis's time goes: each step timed inside wasm (meaningful on Flex, which runs each
  // operation when it is called; on WebGPU the GPU work lands in the step that reads it back).
  const stageRuns: StageTime[][] = [];
  for (let i = 0; i <= reps; i++) stageRuns.push(await c.call({ type: "stageTimes", bytes: bytes.slice(0) }));
  const stages = Object.fromEntries(
    stageRuns[0]!.map((s, k) => [s.stage, round(median(stageRuns.slice(1).map((run) => run[k]!.ms)))]),
  );
  log(`stages (warm median ms): ${JSON.stringify(stages)}`);
  const perToken: number[] = [];
  let tokens = 0;
  for (let i = 0; i <= reps; i++) {
    let n = 0;
    const [ms] = await timed(() => c.call({ type: "report" }, () => (n += 1)));
    tokens = n;
    perToken.push(n ? ms / n : NaN);
    log(`report ${i}: ${n} tokens, ${Math.round(ms)} ms`);
  }
  const answers: number[] = [];
  for (let i = 0; i <= reps; i++) {
    // A question the decoder answers: a yes/no, side or where one about a finding would be read off the findings.
    const [ms] = await timed(() => c.call({ type: "answer", question: "how large is the pleural effusion?" }));
    answers.push(ms);
    log(`answer ${i}: ${Math.round(ms)} ms`);
  }
  const summary = (xs: number[]) => ({ cold: round(xs[0]!), warm_median: round(median(xs.slice(1))), runs: xs.map(round) });
  const result = {
    date: new Date().toISOString(),
    user_agent: navigator.userAgent,
    backend: info!.backend,
    adapter: info!.adapter,
    model: info!.model,
    weights: info!.source.kind,
    sample,
    reps,
    load_ms: summary(loads),
    analyze_ms: summary(analyses),
    stages_warm_median_ms: stages,
    report_ms_per_token: { ...summary(perToken), tokens },
    answer_ms: summary(answers),
  };
  document.getElementById("result")!.textContent = JSON.stringify(result, null, 2);
  document.title = "done";
}

main().catch((e: Error) => {
  document.getElementById("result")!.textContent = JSON.stringify({ error: `${e.name}: ${e.message}` });
  document.title = "failed";
});
