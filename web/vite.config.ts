import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// `vite dev` injects inline styles and a websocket client, which the page's strict CSP forbids; the
// CSP meta is removed in dev only. `npm run build` keeps it (and scripts/serve.mjs also sends it as a header).
const devWithoutCsp: Plugin = {
  name: "dev-without-csp",
  apply: "serve",
  transformIndexHtml: (html) => html.replace(/<meta http-equiv="Content-Security-Policy"[^>]*>/, ""),
};

export default defineConfig({
  root: here("."),
  base: "./",
  publicDir: "public",
  plugins: [devWithoutCsp],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // The wasm module is large by nature (burn + cubecl + WGSL codegen); do not warn about it.
    chunkSizeWarningLimit: 100_000,
    assetsInlineLimit: 0,
    rollupOptions: { input: { main: here("index.html"), bench: here("bench.html") } },
  },
  worker: { format: "es" },
  server: { host: "127.0.0.1", port: 5173 },
  preview: { host: "127.0.0.1", port: 4173 },
});
