#!/usr/bin/env bash
# Soak (issue 37): N analyses, each with a question the report decoder answers, in ONE `gkmvlp analyze`
# process on models/demo. Samples the process's RSS from /proc every 0.5 s beside the number of JSON lines
# (analyses) written so far, then prints the RSS slope in MB per 100 analyses (least squares over the
# second half of the samples, after warm-up) and the peak RSS (VmHWM). Flat memory: a slope near 0.
# Usage: scripts/soak-cli.sh [N=300]   (not part of scripts/test.sh; about 1-2 s per analysis on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-300}
bin=target/release/gkmvlp
[ -x "$bin" ] || cargo build --release -p gkmvlp-cli
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
samples=(models/samples/*.png)
files=()
for i in $(seq 1 "$n"); do
  f="$work/image-$i.png"
  cp "${samples[$(( i % ${#samples[@]} ))]}" "$f"
  files+=("$f")
done
"$bin" analyze --json --weights models/demo --question "how large is the pleural effusion?" "${files[@]}" \
  >"$work/out.jsonl" 2>"$work/err.txt" &
pid=$!
start=$(date +%s.%N)
: >"$work/rss.tsv"
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  done_count=$(wc -l <"$work/out.jsonl")
  [ -n "$rss" ] && printf '%s\t%s\t%s\t%s\n' "$(date +%s.%N)" "$done_count" "$rss" "$hwm" >>"$work/rss.tsv"
  sleep 0.5
done
status=0
wait "$pid" || status=$?
end=$(date +%s.%N)
lines=$(wc -l <"$work/out.jsonl")
[ "$status" = 0 ] || { echo "gkmvlp analyze exited $status:"; tail -3 "$work/err.txt"; }
answered=$(grep -c '"answer"' "$work/out.jsonl" || true)
python3 - "$work/rss.tsv" "$lines" "$answered" "$start" "$end" "$status" <<'PY'
import sys
path, lines, answered, start, end, status = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
rows = [tuple(map(float, f)) for f in (l.split() for l in open(path)) if len(f) == 4]
half = [r for r in rows if r[1] >= rows[-1][1] / 2]
xs = [r[1] for r in half]
ys = [r[2] / 1024 for r in half]
mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
sxx = sum((x - mx) ** 2 for x in xs)
slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx * 100 if sxx else float("nan")
print(f"exit status {status}; {lines} JSON lines, {answered} with an answer; {end - start:.0f} s")
print(f"{len(rows)} RSS samples; RSS first {rows[0][2] / 1024:.0f} MB, last {rows[-1][2] / 1024:.0f} MB")
print(f"RSS slope over the second half ({len(half)} samples, analyses {xs[0]:.0f}..{xs[-1]:.0f}): {slope:+.2f} MB per 100 analyses")
print(f"peak RSS (VmHWM): {max(r[3] for r in rows) / 1024:.0f} MB")
PY
