#!/usr/bin/env bash
# One idempotent setup for a fresh Debian 12 machine, shared by the demo and the test command:
# system packages (Chromium + ChromeDriver for browser tests, Mesa's lavapipe for wgpu on the CPU), the
# wasm32 target, wasm-bindgen-cli at the version Cargo.lock pins, npm packages, and the third-party data.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

packages=(chromium chromium-driver mesa-vulkan-drivers)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
# rustfmt and clippy for the lint step of scripts/test.sh.
for component in rustfmt clippy; do
  rustup component list --installed | grep -q "^$component-" || rustup component add "$component"
done

# wasm-bindgen-cli must equal the wasm-bindgen crate in Cargo.lock. Not --locked: one of its locked
# dependencies is not served by the registry here; unlocked it resolves and builds.
want=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/,""); print; exit}' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "setup: installing wasm-bindgen-cli $want (have: ${have:-none})"
  cargo install wasm-bindgen-cli --version "$want"
fi

if [ -f package-lock.json ]; then
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund; fi
fi

scripts/fetch-assets.sh --with-ct
