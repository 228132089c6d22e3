// Shared by the browser tests and the benchmark: Debian's Chromium driven by playwright-core with only
// the flags PROBE.md verified (`--enable-unsafe-webgpu` gives the SwiftShader WebGPU adapter on a
// machine without a GPU; without it there is no adapter and the page must fall back to Flex).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

export async function launch({ webgpu, extraArgs = [] }) {
  const profile = mkdtempSync(join(tmpdir(), "gkmvlp-chromium-"));
  const args = [
    "--headless=new", "--no-sandbox",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--disable-dev-shm-usage",
    `--user-data-dir=${profile}`, "--remote-debugging-pipe", "about:blank",
  ];
  if (webgpu) args.splice(2, 0, "--enable-unsafe-webgpu");
  args.splice(2, 0, ...extraArgs);
  const browser = await chromium.launch({ executablePath: CHROMIUM, ignoreDefaultArgs: true, args, timeout: 120_000 });
  const close = async () => {
    await browser.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
  };
  return { browser, close };
}

/** Collects console errors and page errors, to print when a test fails. */
export function watch(page, log = []) {
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") log.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => log.push(`pageerror: ${e.message}`));
  return log;
}

/** Waits until the page has loaded its model (`loadTimeout` ms); fails with the page's load message. */
export async function ready(page, log, loadTimeout) {
  await page.waitForFunction(() => ["ready", "error"].includes(document.body.dataset.state ?? ""), null, { timeout: loadTimeout });
  const state = await page.evaluate(() => document.body.dataset.state);
  if (state !== "ready") assert.fail(`the model did not load: ${await page.textContent("#load-text")}\n${log.join("\n")}`);
}

/** Asks a question on the page and returns the answer's text once it is done (`stepTimeout` ms). */
export async function ask(page, question, stepTimeout) {
  const n = await page.locator("#answers li").count();
  await page.fill("#qa-input", question);
  await page.click("#qa-form button");
  const item = page.locator("#answers li").nth(n);
  await item.and(page.locator("[data-state]")).waitFor({ timeout: stepTimeout });
  assert.equal(await item.getAttribute("data-state"), "done", await item.textContent());
  return item.textContent();
}
