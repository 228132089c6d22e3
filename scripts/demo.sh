#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs GK-MVLP on the RG1 chest radiograph (a real PA chest DICOM).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup.sh
cargo run --release -p gkmvlp-cli -- analyze assets/dicom/RG1_UNCR.dcm "$@"
