// A small static server for web/dist (or any folder) on 127.0.0.1, sending the page's Content-Security-Policy
// as a header on every response (workers take their policy from their own response). Used by
// `npm run serve`, the tests and the benchmark. Usage: node web/scripts/serve.mjs [--dir DIR] [--port N]
import { createServer } from "node:http";
import { createReadStream, statSync } from "node:fs";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

export const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; img-src 'self' blob: data:; style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'";

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
  ".json": "application/json", ".wasm": "application/wasm", ".png": "image/png", ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg", ".dcm": "application/dicom", ".safetensors": "application/octet-stream",
  ".svg": "image/svg+xml", ".ico": "image/x-icon", ".txt": "text/plain",
};

/**
 * Starts serving `dir`; resolves to { server, url }. Port 0 picks a free port. `hold` (tests): a function of
 * the path that may return a promise; the response waits for it (e.g. to hold back the model's files).
 */
export function serve(dir, port = 0, host = "127.0.0.1", { hold } = {}) {
  const root = resolve(dir);
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    if (hold) await hold(path);
    let file = normalize(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403).end();
      return;
    }
    try {
      if (statSync(file).isDirectory()) file = join(file, "index.html");
      const stat = statSync(file);
      res.writeHead(200, {
        "content-type": TYPES[extname(file).toLowerCase()] ?? "application/octet-stream",
        "content-length": stat.size,
        "content-security-policy": CSP,
        "x-content-type-options": "nosniff",
        "cache-control": "no-cache",
      });
      if (req.method === "HEAD") res.end();
      else createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404, { "content-type": "text/plain", "content-security-policy": CSP }).end("not found");
    }
  });
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, host, () => {
      const address = server.address();
      ok({ server, url: `http://${host}:${address.port}/` });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  const dir = arg("--dir", fileURLToPath(new URL("../dist", import.meta.url)));
  const port = Number(arg("--port", process.env.PORT ?? 8080));
  const { url } = await serve(dir, port);
  console.log(`GK-MVLP is served at ${url}  (open it in Chromium; Ctrl-C stops)`);
}
