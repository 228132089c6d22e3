// Fetching the weights folder: the manifest from the network (small; it says which files and hashes are
// current), each file from the Cache API when a copy with the manifest's sha256 is there, otherwise from
// the network with byte progress, checked against the manifest, then cached under its sha256. A corrupt
// cached copy is dropped and fetched again; a corrupt or missing download is an error with the file's name.

import { GkMvlpApp } from "../pkg/gkmvlp_web.js";

const CACHE = "gkmvlp-weights-v1";

export interface ManifestFiles {
  [name: string]: { sha256: string; bytes: number };
}

export class WeightsError extends Error {
  override name = "WeightsError";
}

export interface FileProgress {
  initiate(file: string, total: number): void;
  progress(file: string, loaded: number, total: number, fromCache: boolean): void;
  done(file: string): void;
}

/** Fetches `url`; `null` when the server says 404 (the folder is not shipped). */
export async function fetchOptional(url: string): Promise<Uint8Array | null> {
  const response = await fetch(url, { cache: "no-cache" });
  if (response.status === 404) return null;
  if (!response.ok) throw new WeightsError(`${url}: HTTP ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}

export function manifestFiles(manifest: Uint8Array): ManifestFiles {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(manifest)) as { files?: ManifestFiles };
    if (!parsed.files || typeof parsed.files !== "object") throw new Error("no `files`");
    return parsed.files;
  } catch (e) {
    throw new WeightsError(`weights file \`manifest.json\`: not a valid manifest: ${String(e)}`);
  }
}

async function openCache(): Promise<Cache | null> {
  try {
    return await caches.open(CACHE);
  } catch {
    return null; // no Cache API (e.g. an opaque origin): download every time
  }
}

/** One weights file, checked against the manifest. Returns the bytes and how many came over the network. */
export async function fetchChecked(
  folder: string, name: string, manifest: Uint8Array, files: ManifestFiles, progress: FileProgress,
): Promise<{ bytes: Uint8Array; downloaded: number }> {
  const entry = files[name];
  if (!entry) throw new WeightsError(`weights file \`${name}\`: not listed in manifest.json`);
  const url = new URL(name, folder).href;
  const key = `${url}?sha256=${entry.sha256}`;
  const cache = await openCache();
  progress.initiate(name, entry.bytes);

  const cached = await cache?.match(key);
  if (cached) {
    const bytes = new Uint8Array(await cached.arrayBuffer());
    try {
      GkMvlpApp.verifyFile(manifest, name, bytes);
      progress.progress(name, bytes.length, entry.bytes, true);
      progress.done(name);
      return { bytes, downloaded: 0 };
    } catch {
      await cache?.delete(key); // corrupt cached copy: fetch it again
    }
  }

  const response = await fetch(url, { cache: "no-store" });
  if (response.status === 404) throw new WeightsError(`weights file \`${name}\`: missing on the server (${url} is 404)`);
  if (!response.ok || !response.body) throw new WeightsError(`weights file \`${name}\`: HTTP ${response.status} ${response.statusText}`);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  let last = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    const now = performance.now();
    if (now - last > 50) {
      progress.progress(name, loaded, entry.bytes, false);
      last = now;
    }
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  progress.progress(name, loaded, entry.bytes, false);
  GkMvlpApp.verifyFile(manifest, name, bytes); // throws WeightsError naming the file and the problem
  await cache?.put(key, new Response(bytes, { headers: { "content-type": "application/octet-stream" } }));
  progress.done(name);
  return { bytes, downloaded: loaded };
}
