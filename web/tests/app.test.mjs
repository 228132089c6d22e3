// Browser tests of the built page (web/dist; `npm run build` first), with node's test runner:
//   1. WebGPU: the page must run on a WebGPU adapter (the test FAILS if it falls back), analyse the RG1
//      DICOM and a simulated PNG, draw the 29 regions, list findings, stream a report and stop one, answer a question,
//      score a zero-shot text, check a report, survive bad files, refuse a picture that is no chest
//      radiograph until asked to analyse it anyway, caution on a borderline one, and send no request that
//      is not a same-origin static file. Screenshots go to web/test-results/.
//   2. Flex: without WebGPU the page falls back to burn's Flex backend and says so.
//   3. Weights: a weights folder (manifest + safetensors + tokenizer) downloads with progress, is served
//      from the Cache API on the second visit, and a corrupt or missing file gives a message and a retry.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ask as askWith, launch, ready as readyWith, watch } from "./browser.mjs";
import { serve } from "../scripts/serve.mjs";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const dist = join(repo, "web/dist");
const results = join(repo, "web/test-results");
const RG1 = join(repo, "assets/dicom/RG1_UNCR.dcm");
const LOAD_TIMEOUT = 600_000;
// GKMVLP_WEB_WEIGHTS=untrained runs the page tests on the untrained tiny network even when trained
// weights are shipped (faster); the default tests what ships.
const QUERY = process.env.GKMVLP_WEB_WEIGHTS === "untrained" ? "?weights=untrained" : "";
const STEP_TIMEOUT = 300_000;
const ready = (page, log) => readyWith(page, log, LOAD_TIMEOUT);
const ask = (page, question) => askWith(page, question, STEP_TIMEOUT);
mkdirSync(results, { recursive: true });
assert.ok(existsSync(join(dist, "index.html")), "web/dist is missing: run `npm run build` first");
assert.ok(existsSync(RG1), "assets/dicom/RG1_UNCR.dcm is missing: run scripts/fetch-assets.sh");

const ONE_PIXEL_PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==", "base64");

function simulatedPng() {
  for (const f of ["simulated-1.png", "synthetic.png"]) {
    const path = join(dist, "samples", f);
    if (existsSync(path)) return path;
  }
  throw new Error("no simulated sample in web/dist/samples");
}


async function openFile(page, name, buffer, mimeType, count) {
  await page.setInputFiles("#file", { name, mimeType, buffer });
  await page.waitForFunction((n) => Number(document.body.dataset.analyzed ?? 0) >= n || document.body.dataset.analyzing === "false" && !document.querySelector("#message")?.hidden, count, { timeout: STEP_TIMEOUT });
}

async function expectBadFile(page, name, buffer, pattern) {
  const before = Number(await page.evaluate(() => document.body.dataset.analyzed ?? 0));
  const opened = Number(await page.evaluate(() => document.body.dataset.opened ?? 0));
  await page.setInputFiles("#file", { name, mimeType: "image/png", buffer });
  // Wait for this file's outcome: the previous bad file's message is still shown until it is read.
  await page.waitForFunction((n) => Number(document.body.dataset.opened ?? 0) > n, opened, { timeout: STEP_TIMEOUT });
  const message = await page.textContent("#message");
  assert.match(message, pattern, `message for ${name}`);
  assert.equal(Number(await page.evaluate(() => document.body.dataset.analyzed ?? 0)), before, "a bad file must not replace the open image");
  assert.equal(await page.evaluate(() => document.body.dataset.state), "ready", "the page stays usable");
  assert.equal(await page.getAttribute("#canvas", "data-regions"), "29", "the previous regions stay drawn");
}

/** The three top findings as shown ("entity — position" and the percentage). */
async function topFindings(page) {
  return page.$$eval("#findings li button", (buttons) => buttons.slice(0, 3).map((b) => [b.children[0]?.textContent ?? "", parseFloat(b.children[1]?.textContent ?? "")]));
}
let webgpuTop = null;
let webgpuReport = null;


describe("WebGPU", () => {
  let server, url, browser, close, page;
  const log = [];
  const requests = [];
  before(async () => {
    ({ server, url } = await serve(dist));
    ({ browser, close } = await launch({ webgpu: true }));
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    context.on("request", (r) => requests.push({ url: r.url(), method: r.method() }));
    page = await context.newPage();
    watch(page, log);
    await page.goto(url + QUERY);
  });
  after(async () => {
    await close?.();
    server?.close();
  });

  test("loads on the WebGPU adapter and says so", { timeout: LOAD_TIMEOUT }, async () => {
    await ready(page, log);
    const backend = await page.evaluate(() => document.body.dataset.backend);
    assert.equal(backend, "webgpu", `expected the WebGPU device, got ${backend}: ${await page.textContent("#backend")}`);
    assert.match(await page.textContent("#backend"), /^WebGPU/);
    const trained = await page.evaluate(() => document.body.dataset.trained);
    assert.equal(await page.isVisible("#untrained"), trained === "false", "the untrained banner shows exactly when weights are untrained");
    assert.equal(await page.isVisible("#report-rule"), trained === "true", "the report rule is told exactly for the trained weights, which read a findings prompt");
    assert.ok(await page.isVisible("#clinical"), "the not-for-clinical-use notice is always there");
  });

  test("analyses the RG1 DICOM: regions drawn and named, findings listed, window/level", { timeout: STEP_TIMEOUT }, async () => {
    await openFile(page, "RG1_UNCR.dcm", readFileSync(RG1), "application/dicom", 1);
    assert.equal(await page.evaluate(() => document.body.dataset.analyzed), "1", await page.textContent("#message"));
    assert.equal(await page.isVisible("#input-refused"), false, "a real frontal chest film passes the input check");
    assert.equal(await page.isVisible("#input-caution"), false, "and needs no caution");
    assert.match(await page.textContent("#image-info"), /DICOM/);
    assert.equal(await page.getAttribute("#canvas", "data-regions"), "29");
    assert.ok((await page.locator("#findings li").count()) > 10);
    // The shipped model calls effusions on RG1 (models/README.md): the calls are marked, and only they.
    const marked = await page.$$eval("#findings li button.present", (buttons) => buttons.map((b) => b.children[0]?.textContent ?? ""));
    assert.ok(marked.some((name) => name.startsWith("pleural effusion")), marked.join(" | "));
    assert.ok(marked.length < (await page.locator("#findings li").count()), "not every candidate is called present");
    assert.equal(await page.locator("#zero-shot li").count(), 14);
    // Hover names a region.
    const box = await page.locator("#canvas").boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.move(box.x + box.width * 0.5 + 3, box.y + box.height * 0.5 + 3);
    await page.waitForFunction(() => (document.querySelector("#canvas")?.getAttribute("data-hover") ?? "") !== "", null, { timeout: 10_000 });
    assert.match(await page.textContent("#hover"), /^region: /);
    // Window/level by dragging.
    const before = await page.textContent("#window-info");
    assert.match(before, /^W \d+ \/ L -?\d+$/);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.4, { steps: 5 });
    await page.mouse.up();
    assert.notEqual(await page.textContent("#window-info"), before);
    // Clicking a finding lights its regions.
    await page.click("#findings li:first-child button");
    assert.equal(await page.locator("#findings li.selected").count(), 1);
    await page.screenshot({ path: join(results, "webgpu-rg1-dicom.png") });
  });

  test("analyses a simulated PNG, streams the report, answers, scores and checks", { timeout: STEP_TIMEOUT * 2 }, async () => {
    await openFile(page, "simulated.png", readFileSync(simulatedPng()), "image/png", 2);
    assert.equal(await page.evaluate(() => document.body.dataset.analyzed), "2", await page.textContent("#message"));
    assert.match(await page.textContent("#image-info"), /PNG/);
    assert.equal(await page.getAttribute("#canvas", "data-regions"), "29");
    webgpuTop = await topFindings(page);
    await page.waitForFunction(() => ["done", "error"].includes(document.querySelector("#report")?.getAttribute("data-state") ?? ""), null, { timeout: STEP_TIMEOUT });
    assert.equal(await page.getAttribute("#report", "data-state"), "done", await page.textContent("#message"));
    webgpuReport = await page.textContent("#report");
    const answer = await ask(page, "is there a pleural effusion?");
    // A presence, side or zone question is answered from the findings' ECLS probabilities; any other by the decoder.
    assert.match(answer, /^Q: is there a pleural effusion\?A: (yes|no)from the findings: pleural effusion [01]\.\d{3}, called present from /);
    const side = await ask(page, "which side is the pleural effusion on?");
    assert.match(side, /^Q: which side is the pleural effusion on\?A: (right|left|both sides)from the findings: pleural effusion at the (right|left) [a-z ]+ [01]\.\d{3}, /);
    const zone = await ask(page, "where is the pleural effusion?");
    assert.match(zone, /^Q: where is the pleural effusion\?A: in the (right|left) [a-z ,]+from the findings: pleural effusion at the (right|left) [a-z ]+ [01]\.\d{3}, /);
    const size = await ask(page, "how large is the pleural effusion?");
    assert.match(size, /^Q: how large is the pleural effusion\?A: .*written by the report decoder$/);
    await page.fill("#zs-input", "rib fracture, <b>not html</b>");
    await page.click("#zs-form button");
    await page.waitForFunction(() => document.querySelector("#zero-shot li")?.textContent?.startsWith("rib fracture"), null, { timeout: STEP_TIMEOUT });
    assert.equal(await page.locator("#zero-shot b").count(), 0, "text is inserted as text, never as HTML");
    await page.fill("#check-input", "FINDINGS: Small right pleural effusion. No pneumothorax.\nHeart size is normal.");
    await page.click("#check-form button");
    await page.waitForFunction(() => document.querySelectorAll("#checks li").length === 3, null, { timeout: STEP_TIMEOUT });
    await page.click("#findings li:first-child button");
    await page.screenshot({ path: join(results, "webgpu-simulated-png.png"), fullPage: true });
  });

  test("a report stops mid-generation and the page stays usable", { timeout: STEP_TIMEOUT * 2 }, async () => {
    assert.ok(webgpuReport && webgpuReport.split(" ").length > 1, `a report of more than one word to stop: ${webgpuReport}`);
    await page.click("#report-button");
    await page.waitForFunction(() => (document.querySelector("#report")?.textContent ?? "") !== "", null, { timeout: STEP_TIMEOUT });
    await page.click("#report-stop");
    await page.waitForFunction(() => document.querySelector("#report")?.getAttribute("data-state") !== "running", null, { timeout: STEP_TIMEOUT });
    assert.equal(await page.getAttribute("#report", "data-state"), "stopped", await page.textContent("#message"));
    const stopped = await page.textContent("#report");
    assert.ok(stopped.length > 0 && stopped.length < webgpuReport.length && webgpuReport.startsWith(stopped), `stopped "${stopped}" within "${webgpuReport}"`);
    assert.match(await page.textContent("#timings"), /^report stopped: \d+ tokens/);
    assert.equal(await page.isHidden("#report-stop"), true);
    assert.match(await ask(page, "is there a pleural effusion?"), /^Q: is there a pleural effusion\?A: /);
  });

  test("bad files give a message and leave the page usable", { timeout: STEP_TIMEOUT * 2 }, async () => {
    await expectBadFile(page, "notes.png", Buffer.from("this is a text file, renamed .png\n"), /unknown image format/);
    await expectBadFile(page, "truncated.dcm", readFileSync(RG1).subarray(0, 4096), /corrupt or truncated DICOM|cannot read this image/);
    await expectBadFile(page, "one-pixel.png", ONE_PIXEL_PNG, /too small/);
    await ask(page, "where is the heart?");
  });

  test("a picture that is no chest radiograph is refused with its reason until analysed anyway", { timeout: STEP_TIMEOUT * 2 }, async () => {
    // A colour picture, drawn here: the input check refuses it before the model reads it.
    const dataUrl = await page.evaluate(() => {
      const canvas = document.createElement("canvas");
      canvas.width = 160;
      canvas.height = 160;
      const ctx = canvas.getContext("2d");
      const gradient = ctx.createLinearGradient(0, 0, 160, 160);
      gradient.addColorStop(0, "#d02020");
      gradient.addColorStop(1, "#2040d0");
      ctx.fillStyle = gradient;
      ctx.fillRect(0, 0, 160, 160);
      return canvas.toDataURL("image/png");
    });
    const colour = Buffer.from(dataUrl.split(",")[1], "base64");
    const analysed = Number(await page.evaluate(() => document.body.dataset.analyzed ?? 0));
    const opened = Number(await page.evaluate(() => document.body.dataset.opened ?? 0));
    await page.setInputFiles("#file", { name: "colour.png", mimeType: "image/png", buffer: colour });
    await page.waitForFunction((n) => Number(document.body.dataset.opened ?? 0) > n, opened, { timeout: STEP_TIMEOUT });
    assert.ok(await page.isVisible("#input-refused"), await page.textContent("#message"));
    assert.match(await page.textContent("#input-refused-text"), /^This does not look like a frontal chest radiograph: it is a colour picture/);
    assert.equal(await page.getAttribute("#input-check", "aria-live"), "polite", "the notice is announced");
    assert.equal(Number(await page.evaluate(() => document.body.dataset.analyzed)), analysed, "no analysis ran");
    assert.equal(await page.locator("#findings li").count(), 0, "the previous image's findings are gone");
    assert.equal(await page.getAttribute("#canvas", "data-regions"), "0");
    assert.match(await page.textContent("#image-info"), /^colour\.png: PNG, 160×160/, "the refused image stays on display");
    await page.fill("#qa-input", "is there a pleural effusion?");
    await page.click("#qa-form button");
    assert.match(await page.textContent("#message"), /has not read this image/);
    await page.screenshot({ path: join(results, "webgpu-refused.png") });

    // A real, focusable button: the keyboard reaches and presses it.
    await page.focus("#analyse-anyway");
    assert.equal(await page.evaluate(() => document.activeElement?.id), "analyse-anyway");
    await page.keyboard.press("Enter");
    await page.waitForFunction((n) => Number(document.body.dataset.analyzed ?? 0) > n || !document.querySelector("#message")?.hidden, analysed, { timeout: STEP_TIMEOUT });
    assert.equal(Number(await page.evaluate(() => document.body.dataset.analyzed)), analysed + 1, await page.textContent("#message"));
    assert.equal(await page.getAttribute("#canvas", "data-regions"), "29");
    assert.ok((await page.locator("#findings li").count()) > 10);
    assert.equal(await page.isVisible("#input-refused"), false);
    assert.match(await page.textContent("#input-caution"), /^Analysed anyway, as asked: this does not look like a frontal chest radiograph \(it is a colour picture/);
    assert.match(await ask(page, "is there a pleural effusion?"), /^Q: is there a pleural effusion\?A: /);
  });

  test("the page's samples: real films pass the input check, the synthetic picture gets a caution", { timeout: STEP_TIMEOUT * 2 }, async () => {
    const openSample = async (file) => {
      const analysed = Number(await page.evaluate(() => document.body.dataset.analyzed ?? 0));
      await page.click(`#samples button[data-sample="${file}"]`);
      await page.waitForFunction((n) => Number(document.body.dataset.analyzed ?? 0) > n || document.body.dataset.refused === "true", analysed, { timeout: STEP_TIMEOUT });
      assert.equal(await page.evaluate(() => document.body.dataset.refused), "false", `${file}: ${await page.textContent("#input-refused-text")}`);
    };
    await openSample("rg1.png");
    assert.equal(await page.isVisible("#input-caution"), false, "RG1 is a typical frontal chest film");
    await openSample("synthetic.png");
    assert.match(await page.textContent("#input-caution"), /^Caution: this image is unlike the radiographs the model was trained on \(input check score 0\.\d\d\); its outputs are less reliable\.$/);
    assert.ok(await page.isVisible("#input-caution"));
  });

  test("no request leaves the origin or asks for anything but a static file", async () => {
    const origin = new URL(url).origin;
    assert.ok(requests.length > 3);
    const bad = requests.filter((r) => {
      if (r.url.startsWith("blob:") || r.url.startsWith("data:")) return false;
      const u = new URL(r.url);
      if (u.origin !== origin || r.method !== "GET") return true;
      const file = join(dist, decodeURIComponent(u.pathname));
      return !(existsSync(file) && (statSync(file).isFile() || existsSync(join(file, "index.html")))) && !u.pathname.startsWith("/models/demo/");
    });
    assert.deepEqual(bad, [], "every request must be a same-origin GET of a file in web/dist");
  });
});

describe("Flex fallback", () => {
  let server, url, close, page;
  const log = [];
  before(async () => {
    ({ server, url } = await serve(dist));
    let browser;
    ({ browser, close } = await launch({ webgpu: false }));
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    watch(page, log);
    await page.goto(url + QUERY);
  });
  after(async () => {
    await close?.();
    server?.close();
  });

  test("without WebGPU the page runs on Flex and announces it", { timeout: LOAD_TIMEOUT + STEP_TIMEOUT }, async () => {
    await ready(page, log);
    assert.equal(await page.evaluate(() => document.body.dataset.backend), "flex");
    assert.match(await page.textContent("#backend"), /CPU fallback \(burn Flex\)/);
    await openFile(page, "simulated.png", readFileSync(simulatedPng()), "image/png", 1);
    assert.equal(await page.getAttribute("#canvas", "data-regions"), "29");
    // Same weights, same image: Flex and WebGPU agree (to the 0.1% the page shows, with slack).
    const flexTop = await topFindings(page);
    if (webgpuTop) {
      assert.deepEqual(flexTop.map((f) => f[0]), webgpuTop.map((f) => f[0]), "same top findings on Flex and WebGPU");
      flexTop.forEach((f, k) => assert.ok(Math.abs(f[1] - webgpuTop[k][1]) <= 0.3, `${f[0]}: Flex ${f[1]}% vs WebGPU ${webgpuTop[k][1]}%`));
    }
    await ask(page, "is the heart enlarged?");
    await page.screenshot({ path: join(results, "flex-fallback.png") });
  });
});

describe("Weights download, cache and corruption", () => {
  let server, url, close, browser, site;
  before(async () => {
    // A copy of the built site with an untrained tiny weights folder in the shipped format at models/demo/
    // (`gkmvlp package-untrained`; its manifest says untrained, so the page must still show the banner).
    site = mkdtempSync(join(tmpdir(), "gkmvlp-site-"));
    cpSync(dist, site, { recursive: true });
    rmSync(join(site, "models/demo"), { recursive: true, force: true });
    execFileSync("cargo", ["run", "--quiet", "--release", "-p", "gkmvlp-cli", "--", "package-untrained", "--config", "tiny", "--out", join(site, "models/demo")], { cwd: repo, stdio: "inherit" });
    ({ server, url } = await serve(site));
    ({ browser, close } = await launch({ webgpu: true }));
  });
  after(async () => {
    await close?.();
    server?.close();
    if (site) rmSync(site, { recursive: true, force: true });
  });

  test("first visit downloads with progress, second visit reads the Cache API", { timeout: LOAD_TIMEOUT * 2 }, async () => {
    const context = await browser.newContext();
    const seen = [];
    context.on("request", (r) => seen.push(new URL(r.url()).pathname));
    const page = await context.newPage();
    const log = watch(page);
    const progress = [];
    await page.exposeFunction("__progress", (t) => progress.push(t));
    await page.addInitScript(() => {
      new MutationObserver(() => window.__progress(document.querySelector("#load-text")?.textContent ?? "")).observe(document, { subtree: true, childList: true, characterData: true });
    });
    await page.goto(url);
    await ready(page, log);
    assert.equal(await page.evaluate(() => document.body.dataset.trained), "false", "the manifest says untrained");
    assert.ok(await page.isVisible("#untrained"));
    assert.ok(progress.some((t) => /downloading model\.safetensors: [\d.]+ \/ [\d.]+ MB/.test(t)), progress.join(" | "));
    assert.ok(progress.some((t) => /compiling shaders/.test(t)), progress.join(" | "));
    assert.match(await page.textContent("#weights"), /MB downloaded/);
    seen.length = 0;
    await page.reload();
    await ready(page, log);
    assert.match(await page.textContent("#weights"), /from cache/);
    assert.ok(!seen.includes("/models/demo/model.safetensors"), `second visit fetched the weights again: ${seen.join(", ")}`);
    await context.close();
  });

  test("a corrupt or missing weights file gives a clear message and a working retry", { timeout: LOAD_TIMEOUT * 2 }, async () => {
    const model = join(site, "models/demo/model.safetensors");
    const good = readFileSync(model);
    const corrupt = Buffer.from(good);
    corrupt[corrupt.length >> 1] ^= 0xff;
    writeFileSync(model, corrupt);
    const context = await browser.newContext(); // fresh Cache API
    const page = await context.newPage();
    const log = watch(page);
    await page.goto(url);
    await page.waitForFunction(() => document.body.dataset.state === "error", null, { timeout: LOAD_TIMEOUT });
    assert.match(await page.textContent("#load-text"), /model\.safetensors.*sha256/);
    assert.ok(await page.isVisible("#retry"));

    rmSync(model);
    await page.click("#retry");
    await page.waitForFunction(() => document.body.dataset.state === "error" && /missing/.test(document.querySelector("#load-text")?.textContent ?? ""), null, { timeout: LOAD_TIMEOUT });

    writeFileSync(model, good);
    await page.click("#retry");
    await ready(page, log);
    assert.match(await page.textContent("#weights"), /MB downloaded/);
    await context.close();
  });
});
