#!/usr/bin/env bash
# Reproduces the shipped models/demo from scratch on a CPU: simulate the data, pre-train, evaluate the
# f32 checkpoint, package it as int8, evaluate the int8 weights against the f32 ones. About 75 minutes on
# 2 cores (simulation ~5 min, training ~55 min, evaluations ~15 min). Training resumes exactly: stop it
# with Ctrl-C (or give UNTIL_STEP) and rerun this script to continue it; every other step is redone.
# Usage: scripts/train-demo.sh [RUN_FOLDER] [UNTIL_STEP]   (default runs/, train to the end)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
runs="${1:-runs}"
steps=1200
stop_at=()
[ -n "${2:-}" ] && stop_at=(--until "$2")
scripts/fetch-assets.sh --with-ct
cargo build --release -p gkmvlp-cli
gkmvlp=target/release/gkmvlp

[ -f "$runs/data/manifest.json" ] ||
  $gkmvlp simulate --n 5000 --seed 0 --size 256 --val-share 0.04 --test-share 0.06 --scene-graphs false --out "$runs/data"

resume=()
[ -f "$runs/demo/checkpoint/manifest.json" ] && resume=(--resume)
$gkmvlp train --config demo --data "$runs/data" --out "$runs/demo" --steps $steps --settings configs/demo.json "${resume[@]}" "${stop_at[@]}"
if [ -n "${2:-}" ]; then
  echo "stopped at step $2 of $steps; run scripts/train-demo.sh $runs to finish"
  exit 0
fi

$gkmvlp eval --weights "$runs/demo/checkpoint" --data "$runs/data" --out "$runs/demo/eval-f32.json"
$gkmvlp package --weights "$runs/demo/checkpoint" --int8 --out "$runs/demo/int8"
$gkmvlp eval --weights "$runs/demo/int8" --data "$runs/data" --out "$runs/demo/eval-int8.json" --baseline "$runs/demo/eval-f32.json"
# Quantisation is deterministic: packaging again gives the same int8 values, now with their metrics.
$gkmvlp package --weights "$runs/demo/checkpoint" --int8 --data "$runs/data" --metrics "$runs/demo/eval-int8.json" --out "$runs/demo/int8"
echo "shipped form in $runs/demo/int8; copy it to models/demo to use it by default"
