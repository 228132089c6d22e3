// `npm run bench`: serves web/dist, opens bench.html in headless Chromium (WebGPU flags; `--flex` for
// the CPU fallback, `--reps N`), and writes the page's JSON to web/bench-results/bench-<backend>.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { launch } from "../tests/browser.mjs";
import { serve } from "../scripts/serve.mjs";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const flex = process.argv.includes("--flex");
const i = process.argv.indexOf("--reps");
const reps = i > 0 ? Number(process.argv[i + 1]) : 3;
const { server, url } = await serve(join(repo, "web/dist"));
const { browser, close } = await launch({ webgpu: !flex });
try {
  const page = await browser.newPage();
  page.on("console", (m) => m.type() === "error" && console.error(`console: ${m.text()}`));
  await page.goto(`${url}bench.html?reps=${reps}${flex ? "&backend=flex" : ""}`);
  await page.waitForFunction(() => document.title === "done" || document.title === "failed", null, { timeout: 3_600_000 });
  const json = JSON.parse(await page.textContent("#result"));
  if (json.error) throw new Error(json.error);
  const out = join(repo, "web/bench-results");
  mkdirSync(out, { recursive: true });
  const file = join(out, `bench-${json.backend.kind}.json`);
  writeFileSync(file, JSON.stringify(json, null, 2) + "\n");
  console.log(JSON.stringify(json, null, 2));
  console.log(`written to ${file}`);
} finally {
  await close();
  server.close();
}
