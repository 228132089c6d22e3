// Puts the page's static data into web/public (copied into web/dist by `vite build`):
//   models/tokenizer.json                  always (the untrained fallback needs it)
//   models/demo/: manifest.json and every file it lists           when ../models/demo exists
//   samples/                               RG1 as PNG and DICOM, simulated radiographs, index.json
// Samples are made by `gkmvlp samples` (crates/gkmvlp-cli) with the same decoder as the page. The CLI is
// built with the features `cargo test --release --workspace` (scripts/test.sh) already compiled burn with,
// so a fresh machine builds burn natively once, not once more for this step.
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const pub = join(repo, "web/public");
const models = join(pub, "models");
rmSync(models, { recursive: true, force: true });
mkdirSync(models, { recursive: true });
cpSync(join(repo, "models/tokenizer.json"), join(models, "tokenizer.json"));
const demo = join(repo, "models/demo");
if (existsSync(join(demo, "manifest.json"))) {
  mkdirSync(join(models, "demo"));
  const listed = Object.keys(JSON.parse(readFileSync(join(demo, "manifest.json"), "utf8")).files ?? {});
  for (const f of ["manifest.json", ...listed]) cpSync(join(demo, f), join(models, "demo", f));
  console.log("prepare-assets: trained weights from models/demo");
} else {
  console.log("prepare-assets: no models/demo/manifest.json; the page will run the untrained tiny network");
}

// Simulated radiographs, if the simulator has written some (SIM_SAMPLES=dir of PNGs, or models/samples).
const simDir = process.env.SIM_SAMPLES ?? join(repo, "models/samples");
const simulated = existsSync(simDir) ? readdirSync(simDir).filter((f) => f.endsWith(".png")).sort().slice(0, 4).map((f) => join(simDir, f)) : [];
const samples = join(pub, "samples");
rmSync(samples, { recursive: true, force: true });
execFileSync("cargo", ["run", "--quiet", "--release", "-p", "gkmvlp-cli", "--", "samples", samples, ...simulated], { cwd: repo, stdio: "inherit" });
