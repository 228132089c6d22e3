#!/usr/bin/env bash
# Patient-level cross-validation of the real-image stage on shared/realcxr: for each of five folds of
# patients, the stage trains from the same weights with that fold left out, and `gkmvlp eval-real` scores
# each image with the weights that did not see its patient. Prints the real metrics; writes OUT/cv.json.
# Usage: scripts/real-cv.sh INIT_WEIGHTS SETTINGS SIM_DATA OUT [STEPS] [REAL_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
init="$1" settings="$2" data="$3" out="$4" steps="${5:-300}"
real="${6:-$root/../shared/realcxr}"
folds=5
gkmvlp="$root/target/release/gkmvlp"
weights=()
for fold in $(seq 0 $((folds - 1))); do
  run="$out/fold-$fold"
  [ -f "$run/checkpoint/manifest.json" ] ||
    "$gkmvlp" train --data "$data" --init "$init" --settings "$settings" --steps "$steps" \
      --real "$real" --real-holdout-fold "$fold" --real-folds $folds --out "$run" 2> "$run.log"
  weights+=("$run/checkpoint")
done
"$gkmvlp" eval-real --data "$real" --weights "${weights[@]}" --out "$out/cv.json"
