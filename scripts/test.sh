#!/usr/bin/env bash
# Sets up a fresh machine (scripts/setup.sh), checks formatting and lints (rustfmt, clippy with warnings as
# errors), and runs every test: native unit and integration tests on Flex, the MiniLM parity test, the
# wgpu-over-lavapipe parity test, the browser test of the model on WebGPU in headless Chromium, and the
# page's Playwright tests (WebGPU, Flex fallback, network, bad files).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup.sh

echo "== lint (rustfmt, clippy on every native target)"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings

echo "== native tests (Flex, MiniLM parity, wgpu on lavapipe)"
cargo test --release --workspace

echo "== browser test (WebGPU in headless Chromium)"
(
  cd wasm-tests
  CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=600 \
    cargo test --release --target wasm32-unknown-unknown -p gkmvlp-wasm-tests
)

echo "== the page: build, then Playwright in headless Chromium"
npm run build
# The trained demo network takes minutes to load on a software WebGPU adapter; the page tests use the
# untrained tiny one; the shipped weights are tested natively (crates/gkmvlp-cli/tests/shipped_model.rs).
GKMVLP_WEB_WEIGHTS=untrained npm test
