"""Native benchmark of the image side (analyze without zero-shot): PyTorch and onnxruntime on the CPU at
each thread count, beside gkmvlp on Flex (the `bench` sections that the Rust example peer_reference wrote
with RAYON_NUM_THREADS set). Writes one JSON and prints a table. Speed is measured here, never tested."""

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from common import image, load_model, reference
from export_onnx import IMAGE_ONNX, IMAGE_OUTPUTS
from network.model import ImageSide

BLOCK = 5


def timed(run, warmup, runs):
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--flex", nargs="*", default=[], help="peer_reference JSON files with a bench section")
    parser.add_argument("--merge", nargs="*", default=[],
                        help="earlier outputs of this script: take their PyTorch and onnxruntime rows")
    parser.add_argument("--out", default="target/peer-bench.json")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]

    # OMP_WAIT_POLICY=PASSIVE (set before the process starts) makes PyTorch's OpenMP threads sleep instead
    # of spinning while they wait; onnxruntime's pool is then told not to spin either. On a loaded machine
    # spinning threads fight the other jobs for the cores.
    passive = os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"
    wait = "passive" if passive else "spin"
    if args.merge:
        earlier = [json.loads(Path(path).read_text()) for path in args.merge]
        rows = [row for e in earlier for row in e["results"]]
        load_before = earlier[0]["machine"]["load_average_before"]
    else:
        ref = reference()
        model, knowledge = load_model(ref)
        side = ImageSide(model, knowledge).eval()
        x = image(ref["inputs"][0]["pixels"], ref["image_size"])  # the synthetic radiograph, as cargo bench uses
        torch.set_num_interop_threads(1)
        load_before = os.getloadavg()

        # One runner per (runtime, threads). Rounds interleave them in blocks (one untimed call, then BLOCK timed
        # ones), so that the other jobs of a loaded machine weigh on every configuration alike, while a switch
        # of runtime or thread pool (and the previous pool's spinning threads) falls on the untimed call.
        runners = []
        for n in threads:
            def run_torch(n=n):
                torch.set_num_threads(n)
                with torch.inference_mode():
                    side(x)

            options = ort.SessionOptions()
            options.intra_op_num_threads = n
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if passive:
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(str(IMAGE_ONNX), options, providers=["CPUExecutionProvider"])
            feed = {"images": x.numpy()}

            def run_ort(session=session, feed=feed):
                session.run(IMAGE_OUTPUTS, feed)

            runners.append((f"PyTorch eager, {wait}", n, run_torch))
            runners.append((f"onnxruntime CPU, {wait}", n, run_ort))
        cold = {}
        for name, n, run in runners:
            cold[(name, n)] = timed(run, 0, 1)[0]
        for _ in range(args.warmup):
            for _, _, run in runners:
                run()
        samples = {(name, n): [] for name, n, _ in runners}
        for _ in range(max(1, args.runs // BLOCK)):
            for name, n, run in runners:
                samples[(name, n)] += timed(run, 1, BLOCK)
        rows = [
            {"runtime": name, "threads": n, "wait": wait, "cold_ms": cold[(name, n)],
             "warm_median_ms": statistics.median(samples[(name, n)]),
             "warm_min_ms": min(samples[(name, n)]), "warm_ms": samples[(name, n)]}
            for name, n, _ in runners
        ]

    flex = {}
    for path in args.flex:
        bench = json.loads(Path(path).read_text()).get("bench")
        if bench:
            n = bench["rayon_num_threads"]
            entry = flex.setdefault(int(n) if n else None, {"cold_ms": bench["cold_ms"], "warm_ms": []})
            entry["warm_ms"] += bench["warm_ms"]
    for n, entry in flex.items():
        rows.append({"runtime": "gkmvlp burn Flex", "threads": n, "wait": "rayon", "cold_ms": entry["cold_ms"],
                     "warm_median_ms": statistics.median(entry["warm_ms"]), "warm_min_ms": min(entry["warm_ms"]),
                     "warm_ms": entry["warm_ms"]})

    result = {
        "what": "image side of GK-MVLP (E_I -> region head -> RoIAlign -> GK module -> ECLS, with the ITC image "
        "embedding and the region attention), batch 1, models/demo weights, the synthetic radiograph; "
        "Flex times include the read-back of boxes, findings and attention (Pipeline::encode + analysis)",
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
                    "load_average_before": load_before, "load_average_after": os.getloadavg()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "onnx": onnx.__version__,
                     "onnxruntime": ort.__version__, "numpy": np.__version__},
        "runs": args.runs,
        "method": "PyTorch and onnxruntime configurations interleaved in blocks of 5 calls (after 1 untimed) in one process; Flex timed "
        "by the Rust example peer_reference before and after it (its samples pooled); medians of warm calls",
        "warmup": args.warmup,
        "results": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"CPU: {result['machine']['cpu']} ({result['machine']['cores']} cores); load average "
          f"{load_before[0]:.2f} before, {result['machine']['load_average_after'][0]:.2f} after")
    print(f"{'runtime':<26} {'threads':>7} {'cold ms':>9} {'warm median ms':>15} {'warm min ms':>12}")
    for row in rows:
        print(f"{row['runtime']:<26} {row['threads']!s:>7} {row['cold_ms']:>9.1f} {row['warm_median_ms']:>15.1f}"
              f" {min(row['warm_ms']):>12.1f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
