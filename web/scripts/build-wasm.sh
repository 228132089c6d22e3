#!/usr/bin/env bash
# Builds the gkmvlp-web crate for wasm32 (release; burn without fusion/autotune) and runs wasm-bindgen
# into web/pkg, where the worker imports it from.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
cargo build --release --lib --target wasm32-unknown-unknown -p gkmvlp-web
wasm-bindgen --target web --remove-name-section --remove-producers-section --out-dir web/pkg target/wasm32-unknown-unknown/release/gkmvlp_web.wasm
ls -l web/pkg/gkmvlp_web_bg.wasm | awk '{printf "web/pkg/gkmvlp_web_bg.wasm: %.1f MB\n", $5/1e6}'
