#!/usr/bin/env bash
# Builds a throwaway cdylib around gkmvlp-imaging for wasm32-unknown-unknown and runs it in Node:
# the module must import nothing (no "env" C symbols left by openjp2), RG1_J2KR must decode to the
# same pixels as RG1_UNCR (pixel sums), and truncated files must return errors instead of trapping.
# Needs: rustup target wasm32-unknown-unknown, node, scripts/fetch-assets.sh run first.
set -euo pipefail
crate="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$crate/../.." && pwd)"
for f in RG1_UNCR.dcm RG1_J2KR.dcm; do
  [ -f "$root/assets/dicom/$f" ] || { echo "missing assets/dicom/$f: run scripts/fetch-assets.sh" >&2; exit 1; }
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
cat > "$work/Cargo.toml" <<EOF
[package]
name = "imaging-wasm-smoke"
version = "0.0.0"
edition = "2024"
[lib]
crate-type = ["cdylib"]
[dependencies]
gkmvlp-imaging = { path = "$crate" }
[workspace]
EOF
cat > "$work/src/lib.rs" <<'EOF'
#[unsafe(no_mangle)]
pub extern "C" fn buf_alloc(len: usize) -> *mut u8 {
    let mut v = vec![0u8; len];
    let p = v.as_mut_ptr();
    std::mem::forget(v);
    p
}
/// Sum of the display pixels, or -1 when decoding fails.
#[unsafe(no_mangle)]
pub extern "C" fn decode_sum(ptr: *const u8, len: usize) -> f64 {
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    match gkmvlp_imaging::decode(bytes) {
        Ok(r) => r.pixels.iter().map(|&v| f64::from(v)).sum(),
        Err(_) => -1.0,
    }
}
EOF
cp "$root/Cargo.lock" "$work/"
CARGO_TARGET_DIR="$root/target" cargo build --quiet --release --target wasm32-unknown-unknown \
  --manifest-path "$work/Cargo.toml"
cat > "$work/run.mjs" <<'EOF'
import fs from 'fs';
const [wasmPath, dir] = process.argv.slice(2);
const mod = await WebAssembly.compile(fs.readFileSync(wasmPath));
const imports = WebAssembly.Module.imports(mod);
if (imports.length) throw new Error('unexpected imports: ' + JSON.stringify(imports));
const { memory, buf_alloc, decode_sum } = (await WebAssembly.instantiate(mod, {})).exports;
const run = (bytes) => {
  const p = buf_alloc(bytes.length);
  new Uint8Array(memory.buffer, p, bytes.length).set(bytes);
  return decode_sum(p, bytes.length);
};
const sums = {};
for (const f of ['RG1_UNCR.dcm', 'RG1_J2KR.dcm']) {
  const bytes = fs.readFileSync(dir + '/' + f);
  const t = Date.now();
  sums[f] = run(bytes);
  console.log(`${f}: pixel sum ${sums[f]} in ${Date.now() - t} ms`);
  for (let k = 1; k < 8; k++) {
    const r = run(bytes.subarray(0, (bytes.length * k / 8) | 0));
    if (r !== -1) throw new Error(`${f} prefix ${k}/8 did not fail`);
  }
}
if (!(sums['RG1_UNCR.dcm'] > 0) || sums['RG1_UNCR.dcm'] !== sums['RG1_J2KR.dcm'])
  throw new Error('JPEG 2000 and uncompressed differ');
console.log('wasm smoke: ok (no imports, J2K == uncompressed, truncated files fail cleanly)');
EOF
node "$work/run.mjs" "$root/target/wasm32-unknown-unknown/release/imaging_wasm_smoke.wasm" "$root/assets/dicom"
