#!/usr/bin/env bash
# Sets up (scripts/setup.sh), runs GK-MVLP on the RG1 chest radiograph (a real PA chest DICOM) from the
# command line, then builds the browser app and serves it on http://127.0.0.1:8080/ (Ctrl-C stops it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup.sh
cargo run --release -p gkmvlp-cli -- analyze assets/dicom/RG1_UNCR.dcm "$@"
npm run serve
