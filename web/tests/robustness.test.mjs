// Browser tests of the page's robustness (web/dist; `npm run build` first), with node's test runner:
//   1. a file opened while the model loads is decoded and shown at once and analysed when the model is
//      ready (the newest file wins) (issue 38);
//   2. hostile files (sequences nested 10,000 deep, a 4 GB length claim, a PNG bomb, garbage) each get a
//      message, the worker survives or the page restarts it, and the next good image is analysed; a
//      trapped worker and a hung one are restarted (issue 37);
//   3. a multi-frame DICOM: the page says how many frames there are and shows the one chosen (issue 37);
//   4. a lost GPU device: the page goes on on Flex, says so and analyses the image again (issue 37).
// The hostile files are generated here. Runs on the untrained tiny network unless GKMVLP_WEB_WEIGHTS
// says otherwise (`auto`: what ships).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";
import { ask as askWith, launch, ready as readyWith, watch } from "./browser.mjs";
import { serve } from "../scripts/serve.mjs";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const dist = join(repo, "web/dist");
const RG1 = join(repo, "assets/dicom/RG1_UNCR.dcm");
const LOAD_TIMEOUT = 600_000;
const STEP_TIMEOUT = 120_000;
const ready = (page, log) => readyWith(page, log, LOAD_TIMEOUT);
const ask = (page, question) => askWith(page, question, STEP_TIMEOUT);
const QUERY = process.env.GKMVLP_WEB_WEIGHTS === "auto" ? "" : "?weights=untrained";
assert.ok(existsSync(join(dist, "index.html")), "web/dist is missing: run `npm run build` first");
assert.ok(existsSync(RG1), "assets/dicom/RG1_UNCR.dcm is missing: run scripts/fetch-assets.sh");
const SIMULATED = join(dist, "samples", "simulated-1.png");
const t0 = Date.now();
/** Progress lines on stderr, to see where a slow run spends its time. */
const step = (what) => process.stderr.write(`# ${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}\n`);



const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function pngChunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}
/** A PNG that claims 65535×65535 grey pixels (4 GiB decoded) over a few KB of deflated zeros. */
function pngBomb() {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(65535, 0);
  ihdr.writeUInt32BE(65535, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const idat = deflateSync(Buffer.alloc(4 << 20), { level: 9 });
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk("IHDR", ihdr), pngChunk("IDAT", idat), pngChunk("IEND", Buffer.alloc(0))]);
}
const LONG_VR = new Set(["OB", "OW", "OF", "SQ", "UT", "UN"]);
/** One explicit-VR little-endian element; `length` overrides the value's length (a lie, for hostile files). */
function dicomElement(group, element, vr, value, length = value.length) {
  const long = LONG_VR.has(vr);
  const head = Buffer.alloc(long ? 12 : 8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(element, 2);
  head.write(vr, 4, "latin1");
  if (long) head.writeUInt32LE(length >>> 0, 8);
  else head.writeUInt16LE(length, 6);
  return Buffer.concat([head, value]);
}
const us = (n) => Buffer.from([n & 0xff, n >> 8]);
const text = (s) => Buffer.from(s.length % 2 ? s + (s.startsWith("1.") ? "\0" : " ") : s, "latin1");
function dicomFile(body) {
  const meta = Buffer.concat([
    dicomElement(2, 1, "OB", Buffer.from([0, 1])),
    dicomElement(2, 2, "UI", text("1.2.840.10008.5.1.4.1.1.1.1")),
    dicomElement(2, 3, "UI", text("1.2.826.0.1.3680043.2.1143.1")),
    dicomElement(2, 0x10, "UI", text("1.2.840.10008.1.2.1")),
  ]);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(meta.length, 0);
  return Buffer.concat([Buffer.alloc(128), Buffer.from("DICM"), dicomElement(2, 0, "UL", length), meta, body]);
}
/** Sequences nested `depth` deep (undefined lengths, each item opening the next sequence). */
function dicomNested(depth) {
  const tag = (g, e) => { const b = Buffer.alloc(4); b.writeUInt16LE(g, 0); b.writeUInt16LE(e, 2); return b; };
  const open = Buffer.concat([tag(0x0008, 0x1115), Buffer.from("SQ\0\0", "latin1"), Buffer.from([0xff, 0xff, 0xff, 0xff]), tag(0xfffe, 0xe000), Buffer.from([0xff, 0xff, 0xff, 0xff])]);
  const close = Buffer.concat([tag(0xfffe, 0xe00d), Buffer.alloc(4), tag(0xfffe, 0xe0dd), Buffer.alloc(4)]);
  return dicomFile(Buffer.concat([...Array(depth).fill(open), ...Array(depth).fill(close)]));
}
/** A 512×512 16-bit image whose pixel data element claims 4 GB (0xFFFFFFF0 bytes) over 64 KB. */
function dicomHugeClaim() {
  return dicomFile(Buffer.concat([
    dicomElement(0x0028, 0x0002, "US", us(1)),
    dicomElement(0x0028, 0x0004, "CS", text("MONOCHROME2")),
    dicomElement(0x0028, 0x0010, "US", us(512)),
    dicomElement(0x0028, 0x0011, "US", us(512)),
    dicomElement(0x0028, 0x0100, "US", us(16)),
    dicomElement(0x0028, 0x0101, "US", us(16)),
    dicomElement(0x0028, 0x0102, "US", us(15)),
    dicomElement(0x0028, 0x0103, "US", us(0)),
    dicomElement(0x7fe0, 0x0010, "OW", Buffer.alloc(65536), 0xfffffff0),
  ]));
}

/** A native 8-bit MONOCHROME2 DICOM of `frames` 128×128 frames: odd frames grow brighter to the right, even ones to the left. */
function dicomMultiFrame(frames) {
  const side = 128;
  const pixels = Buffer.alloc(side * side * frames);
  for (let k = 0; k < frames; k++) {
    for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) pixels[(k * side + y) * side + x] = 20 + (k % 2 ? side - 1 - x : x) + (y >> 2);
  }
  return dicomFile(Buffer.concat([
    dicomElement(0x0028, 0x0002, "US", us(1)),
    dicomElement(0x0028, 0x0004, "CS", text("MONOCHROME2")),
    dicomElement(0x0028, 0x0008, "IS", text(String(frames))),
    dicomElement(0x0028, 0x0010, "US", us(side)),
    dicomElement(0x0028, 0x0011, "US", us(side)),
    dicomElement(0x0028, 0x0100, "US", us(8)),
    dicomElement(0x0028, 0x0101, "US", us(8)),
    dicomElement(0x0028, 0x0102, "US", us(7)),
    dicomElement(0x0028, 0x0103, "US", us(0)),
    dicomElement(0x7fe0, 0x0010, "OB", pixels),
  ]));
}

/** Mean brightness of the canvas's right half less that of its left half. */
function rightMinusLeft(page) {
  return page.evaluate(() => {
    const canvas = document.querySelector("#canvas");
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    let left = 0;
    let right = 0;
    for (let i = 0; i < data.length; i += 4) {
      if ((i / 4) % canvas.width < canvas.width / 2) left += data[i];
      else right += data[i];
    }
    return (right - left) / (data.length / 8);
  });
}

/** Mean brightness of the viewer's canvas (0 for a black canvas). */
function canvasBrightness(page) {
  return page.evaluate(() => {
    const canvas = document.querySelector("#canvas");
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    let sum = 0;
    for (let i = 0; i < data.length; i += 4) sum += data[i];
    return sum / (data.length / 4);
  });
}

const analysedCount = (page) => page.evaluate(() => Number(document.body.dataset.analyzed ?? 0));
async function waitAnalysed(page, n, what) {
  await page.waitForFunction((k) => Number(document.body.dataset.analyzed ?? 0) >= k, n, { timeout: STEP_TIMEOUT })
    .catch(async (e) => assert.fail(`${what}: not analysed (${e.message}); message: ${await page.textContent("#message")}`));
}

describe("Robustness", () => {
  // The Flex browser (no WebGPU flag: the CPU backend, fast on the tiny network) runs the tests that need
  // no GPU; the WebGPU one the device-loss test.
  let server, url, browser, close, gpuBrowser, gpuClose;
  /** Resolves the held model files (see `hold`). */
  let release = null;
  let held = null;
  before(async () => {
    ({ server, url } = await serve(dist, 0, "127.0.0.1", {
      // Holds back the model's files while a test says so: the page stays "loading".
      hold: (path) => (held && path.startsWith("/models/") ? held : undefined),
    }));
    ({ browser, close } = await launch({ webgpu: false }));
    ({ browser: gpuBrowser, close: gpuClose } = await launch({ webgpu: true }));
  });
  after(async () => {
    release?.();
    await close?.();
    await gpuClose?.();
    server?.close();
  });
  const sep = QUERY ? "&" : "?";

  test("a file opened while the model loads is shown at once and analysed when it is ready; the newest file wins", { timeout: LOAD_TIMEOUT }, async () => {
    held = new Promise((r) => (release = r));
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const log = watch(page);
    try {
      await openWhileLoading(page, log);
    } finally {
      release();
      held = null;
    }
    await ready(page, log);
    await waitAnalysed(page, 1, "simulated.png after the load");
    assert.match(await page.textContent("#image-info"), /^simulated\.png: PNG/, "the newest file is the one analysed");
    assert.equal(await page.getAttribute("#canvas", "data-regions"), "29");
    assert.ok((await page.locator("#findings li").count()) > 10);
    assert.equal(await page.isHidden("#message"), true, "the loading note is gone");
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await analysedCount(page), 1, "the older file is never analysed");
    await page.close();
  });

  async function openWhileLoading(page, log) {
    await page.goto(url + QUERY);
    assert.equal(await page.evaluate(() => document.body.dataset.state), "loading");
    // Two files before the model is ready: the DICOM first, then the PNG, which wins.
    await page.setInputFiles("#file", { name: "RG1_UNCR.dcm", mimeType: "application/dicom", buffer: readFileSync(RG1) });
    await page.setInputFiles("#file", { name: "simulated.png", mimeType: "image/png", buffer: readFileSync(SIMULATED) });
    await page.waitForFunction(() => /^simulated\.png: PNG/.test(document.querySelector("#image-info")?.textContent ?? ""), null, { timeout: STEP_TIMEOUT })
      .catch(async (e) => assert.fail(`the image was not shown while loading: ${e.message}; ${await page.textContent("#message")}\n${log.join("\n")}`));
    assert.equal(await page.evaluate(() => document.body.dataset.state), "loading", "the model's files are held back: still loading");
    assert.ok((await canvasBrightness(page)) > 20, "the image is drawn on the canvas, not black");
    assert.match(await page.textContent("#message"), /^The model is still loading; simulated\.png is shown and will be analysed as soon as it is ready\.$/);
    assert.ok(await page.isVisible("#loader"), "the load's progress stays beside it");
    assert.equal(await analysedCount(page), 0);
  }

  test("hostile files: each gets a message, the worker survives or is restarted, and the next good image is analysed", { timeout: LOAD_TIMEOUT }, async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const log = watch(page);
    await page.goto(`${url}${QUERY}${sep}debug&watchdog=10000`);
    await ready(page, log);
    const good = readFileSync(SIMULATED);
    await page.setInputFiles("#file", { name: "good-0.png", mimeType: "image/png", buffer: good });
    await waitAnalysed(page, 1, "the first good image");
    const hostile = [
      ["nested.dcm", dicomNested(10_000), /nested|deep|sequence/i],
      ["claims-4gb.dcm", dicomHugeClaim(), /length|large|truncated|corrupt|claims|bytes/i],
      ["bomb.png", pngBomb(), /too large|limit/],
      ["garbage.dcm", randomBytes(64 * 1024), /unknown image format|cannot read|corrupt/i],
    ];
    for (const [k, [name, buffer, pattern]] of hostile.entries()) {
      step(`opening ${name} (${buffer.length} bytes)`);
      const opened = Number(await page.evaluate(() => document.body.dataset.opened ?? 0));
      await page.setInputFiles("#file", { name, mimeType: "application/octet-stream", buffer });
      await page.waitForFunction((n) => Number(document.body.dataset.opened ?? 0) > n, opened, { timeout: STEP_TIMEOUT });
      const message = await page.textContent("#message");
      assert.ok(await page.isVisible("#message"), `${name}: a message is shown`);
      assert.match(message, new RegExp(`^${name.replace(".", "\\.")}: `), `${name}: the message names the file`);
      assert.ok(pattern.test(message) || /stopped the model worker/.test(message), `${name}: ${message}`);
      step(`${name}: ${message}`);
      await ready(page, log); // after a restart, the model is loaded again
      assert.match(await page.textContent("#image-info"), /good-\d\.png/, `${name}: the good image stays open`);
      await page.setInputFiles("#file", { name: `good-${k + 1}.png`, mimeType: "image/png", buffer: good });
      await waitAnalysed(page, k + 2, `the good image after ${name}`);
    }
    // A worker that traps (as a wasm "unreachable" would) is restarted, and the open image analysed again.
    step("crash");
    let analysed = await analysedCount(page);
    assert.equal(await page.evaluate(() => window.gkmvlpDebug.crash()), "WorkerLost");
    await page.waitForFunction(() => Number(document.body.dataset.restarted ?? 0) >= 1, null, { timeout: STEP_TIMEOUT });
    assert.match(await page.textContent("#message"), /^The model worker stopped \(the model crashed: .*unreachable.*\); the page restarted it and is loading the model again\. The model is loaded again\.$/);
    await waitAnalysed(page, analysed + 1, "the open image after the crash");
    assert.match(await ask(page, "is there a pleural effusion?"), /^Q: is there a pleural effusion\?A: /);
    // A worker that stops answering is found out by the watchdog on the next file, and restarted.
    step("hang");
    analysed = await analysedCount(page);
    await page.evaluate(() => window.gkmvlpDebug.hang());
    await page.setInputFiles("#file", { name: "after-hang.png", mimeType: "image/png", buffer: good });
    await page.waitForFunction(() => Number(document.body.dataset.restarted ?? 0) >= 2, null, { timeout: STEP_TIMEOUT });
    await ready(page, log);
    await page.setInputFiles("#file", { name: "after-hang.png", mimeType: "image/png", buffer: good });
    await waitAnalysed(page, analysed + 1, "a good image after the hang");
    await page.close();
  });

  test("a multi-frame DICOM: the page says how many frames there are and shows the one chosen", { timeout: LOAD_TIMEOUT }, async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const log = watch(page);
    await page.goto(url + QUERY);
    await ready(page, log);
    const opened = () => page.evaluate(() => Number(document.body.dataset.opened ?? 0));
    await page.setInputFiles("#file", { name: "three-frames.dcm", mimeType: "application/dicom", buffer: dicomMultiFrame(3) });
    await page.waitForFunction(() => Number(document.body.dataset.opened ?? 0) >= 1, null, { timeout: STEP_TIMEOUT });
    assert.match(await page.textContent("#image-info"), /^three-frames\.dcm: DICOM, 128×128/, await page.textContent("#message"));
    assert.ok(await page.isVisible("#frames"), "the frame chooser shows for a multi-frame file");
    assert.equal((await page.textContent("#frames")).trim(), "This file has 3 frames; showing frame");
    assert.equal(await page.inputValue("#frame-input"), "1");
    const first = await rightMinusLeft(page);
    assert.ok(first > 10, `frame 1 grows brighter to the right: ${first}`);
    const before = await opened();
    await page.fill("#frame-input", "2");
    await page.dispatchEvent("#frame-input", "change");
    await page.waitForFunction((n) => Number(document.body.dataset.opened ?? 0) > n, before, { timeout: STEP_TIMEOUT });
    assert.equal(await page.inputValue("#frame-input"), "2", await page.textContent("#message"));
    assert.match(await page.textContent("#image-info"), /^three-frames\.dcm: DICOM/);
    const second = await rightMinusLeft(page);
    assert.ok(second < -10, `frame 2 (brighter to the left: ${second}) is drawn, not frame 1 (${first})`);
    await page.fill("#frame-input", "7");
    await page.dispatchEvent("#frame-input", "change");
    assert.match(await page.textContent("#message"), /^three-frames\.dcm has frames 1 to 3; frame 7 is not one of them\.$/);
    assert.equal(await page.inputValue("#frame-input"), "2");
    // A single-frame file hides the chooser.
    const again = await opened();
    await page.setInputFiles("#file", { name: "simulated.png", mimeType: "image/png", buffer: readFileSync(SIMULATED) });
    await page.waitForFunction((n) => Number(document.body.dataset.opened ?? 0) > n, again, { timeout: STEP_TIMEOUT });
    assert.equal(await page.isVisible("#frames"), false);
    await page.close();
  });

  test("a lost GPU device: the page goes on on Flex, says so and analyses the image again", { timeout: LOAD_TIMEOUT }, async () => {
    const page = await gpuBrowser.newPage({ viewport: { width: 1400, height: 1000 } });
    const log = watch(page);
    await page.goto(`${url}${QUERY}${sep}debug`);
    await ready(page, log);
    assert.equal(await page.evaluate(() => document.body.dataset.backend), "webgpu", `this test needs a WebGPU adapter: ${await page.textContent("#backend")}`);
    await page.setInputFiles("#file", { name: "simulated.png", mimeType: "image/png", buffer: readFileSync(SIMULATED) });
    await waitAnalysed(page, 1, "simulated.png on WebGPU");
    assert.ok((await page.evaluate(() => window.gkmvlpDebug.loseDevice())) >= 1, "the worker holds the GPU device");
    await page.waitForFunction(() => document.body.dataset.backend === "flex" && Number(document.body.dataset.analyzed ?? 0) >= 2, null, { timeout: STEP_TIMEOUT })
      .catch(async (e) => assert.fail(`no Flex re-analysis after the device loss: ${e.message}; ${await page.textContent("#message")}\n${log.join("\n")}`));
    assert.match(await page.textContent("#message"), /^The GPU device was lost; continuing on the CPU \(Flex\)\./);
    assert.match(await page.textContent("#backend"), /^CPU fallback \(burn Flex\): the GPU device was lost/);
    assert.equal(await page.getAttribute("#canvas", "data-regions"), "29");
    assert.match(await page.textContent("#image-info"), /^simulated\.png: PNG/);
    assert.match(await ask(page, "is there a pleural effusion?"), /^Q: is there a pleural effusion\?A: /);
    await page.close();
  });
});
