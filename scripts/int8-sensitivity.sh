#!/usr/bin/env bash
# Which modules does int8 hurt? Packages a trained checkpoint as int8 with each candidate set of modules
# kept in f32, evaluates its image heads (boxes, ECLS, grounding) on the test split against the f32
# checkpoint, and prints each candidate's largest ECLS probability difference and folder size (logs in
# RUN/int8-sensitivity/).
# Usage: scripts/int8-sensitivity.sh RUN DATA [CANDIDATE ...]
#   RUN: a training run folder (holding checkpoint/); DATA: its simulated dataset;
#   CANDIDATE: comma-separated module paths, or `none` (default: a sweep over the model's heads).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
run="$1"
data="$2"
shift 2
candidates=("$@")
[ ${#candidates[@]} -eq 0 ] && candidates=(none ecls_head region_tokens gk_module.layers.1 region_head.layers.1 "ecls_head,region_tokens,gk_module.layers.1")
cargo build --release -p gkmvlp-cli
gkmvlp=target/release/gkmvlp
sweep="$run/int8-sensitivity"
mkdir -p "$sweep"

[ -f "$sweep/f32.json" ] || $gkmvlp eval --image-only --weights "$run/checkpoint" --data "$data" --out "$sweep/f32.json" >"$sweep/f32.log" 2>&1
printf '%-48s %12s %10s\n' "kept in f32" "max |dp|" "MB"
for kept in "${candidates[@]}"; do
  name="${kept//,/+}"
  keep=()
  [ "$kept" != none ] && keep=(--keep-f32 "$kept")
  rm -rf "$sweep/$name"
  $gkmvlp package --weights "$run/checkpoint" --int8 "${keep[@]}" --out "$sweep/$name" >"$sweep/$name.log" 2>&1
  diff=$($gkmvlp eval --image-only --weights "$sweep/$name" --data "$data" --out "$sweep/$name.json" --baseline "$sweep/f32.json" 2>>"$sweep/$name.log" |
    awk '/max ECLS probability difference/ {print $NF}')
  size=$(du -cb "$sweep/$name"/* | awk 'END {printf "%.2f", $1 / 1e6}')
  printf '%-48s %12s %10s\n' "$kept" "$diff" "$size"
done
