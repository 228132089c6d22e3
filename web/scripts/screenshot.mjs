// Screenshot of the built page (web/dist) running the shipped weights on burn's Flex backend in headless
// Chromium (no WebGPU flag, so the page falls back to the CPU backend), with a bundled sample opened, the
// report written and two questions answered. Usage: node web/scripts/screenshot.mjs OUT.png [SAMPLE.png]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { launch } from "../tests/browser.mjs";
import { serve } from "./serve.mjs";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const [out, sample = join(repo, "models/samples/simulated-right-effusion.png")] = process.argv.slice(2);
if (!out) throw new Error("usage: node web/scripts/screenshot.mjs OUT.png [SAMPLE.png]");
const TIMEOUT = 900_000;

const { server, url } = await serve(join(repo, "web/dist"));
const { browser, close } = await launch({ webgpu: false });
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.state === "ready", null, { timeout: TIMEOUT });
  await page.setInputFiles("#file", { name: "sample.png", mimeType: "image/png", buffer: readFileSync(sample) });
  await page.waitForFunction(() => document.querySelector("#report")?.dataset.state === "done", null, { timeout: TIMEOUT });
  // Three questions the findings answer, one the decoder does.
  const questions = ["Is there a pleural effusion?", "Which side is the pleural effusion on?", "Where is the pleural effusion?", "How large is the pleural effusion?"];
  for (const [n, question] of questions.entries()) {
    await page.fill("#qa-input", question);
    await page.click("#qa-form button");
    await page.locator("#answers li[data-state]").nth(n).waitFor({ timeout: TIMEOUT });
  }
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await close();
  server.close();
}
