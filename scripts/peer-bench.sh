#!/usr/bin/env bash
# The PyTorch / ONNX peer of GK-MVLP (issue 39): parity with burn, ONNX export, native benchmark.
# A benchmark and test tool only: Python, PyTorch and onnxruntime are never dependencies of the Rust build
# or of its tests. Sets up target/peer-venv with the versions pinned in peer/requirements.txt (on Linux
# x86-64 the registry's torch wheel is the CUDA build, several GB with its CUDA libraries; only its CPU
# path is used), builds the Rust example peer_reference, and then
#   1. writes burn's reference outputs for the synthetic radiograph and a real sample, timing Flex's
#      analyze with RAYON_NUM_THREADS=1 and 2 (target/peer/flex-*.json, target/peer/reference.json);
#   2. checks the PyTorch peer against burn within 1e-3 (peer/test_parity.py);
#   3. exports the image side and the text encoder to ONNX and checks onnxruntime against PyTorch within
#      1e-4 (peer/export_onnx.py);
#   4. times the image side in PyTorch and onnxruntime at 1 and 2 threads (with spinning and with passive
#      waiting threads), and Flex again after them, and
#      writes target/peer-bench.json with every median, the CPU, the load average and the versions
#      (peer/bench.py).
# Env: PEER_RUNS (timed runs per configuration, default 20), PEER_THREADS (default 1,2), PEER_SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${PEER_RUNS:-20}"
THREADS="${PEER_THREADS:-1,2}"
VENV=target/peer-venv
PY="$VENV/bin/python"

if ! "$PY" -c 'import torch, onnx, onnxruntime, onnxscript, safetensors, numpy' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -r peer/requirements.txt
fi

# PEER_SKIP_BUILD=1 reuses the example already built (another cargo may hold target/ for long).
if [ "${PEER_SKIP_BUILD:-0}" != 1 ] || [ ! -x target/release/examples/peer_reference ]; then
  cargo build --release -p gkmvlp-cli --example peer_reference
fi
mkdir -p target/peer
# Flex is timed before and after the Python benchmark (samples pooled), so that a change in the machine's
# load during the run weighs on both sides.
flex_bench() {
  for n in ${THREADS//,/ }; do
    RAYON_NUM_THREADS="$n" target/release/examples/peer_reference "target/peer/flex-$n-$1.json" --bench "$RUNS"
  done
}
rm -f target/peer/flex-*.json
flex_bench before
cp "target/peer/flex-${THREADS##*,}-before.json" target/peer/reference.json

"$PY" peer/test_parity.py
"$PY" peer/export_onnx.py
# Twice: with the runtimes' default waiting (worker threads spin), and with passive waiting
# (OMP_WAIT_POLICY=PASSIVE for PyTorch's OpenMP, no spinning in onnxruntime's pool).
"$PY" peer/bench.py --threads "$THREADS" --runs "$RUNS" --out target/peer/python-bench-spin.json
OMP_WAIT_POLICY=PASSIVE "$PY" peer/bench.py --threads "$THREADS" --runs "$RUNS" \
  --out target/peer/python-bench-passive.json
flex_bench after
"$PY" peer/bench.py --threads "$THREADS" --runs "$RUNS" --flex target/peer/flex-*-before.json \
  target/peer/flex-*-after.json --merge target/peer/python-bench-spin.json target/peer/python-bench-passive.json \
  --out target/peer-bench.json
