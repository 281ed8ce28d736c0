#!/usr/bin/env bash
# What a connected dashboard costs: `synod bench --local 3 --clients 64`
# without and with `--dashboard` (the dashboard polling every 250 ms and one
# event-stream reader attached from before the warm-up), alternated, three
# runs each; prints each run's JSON line and the medians.
# Usage: bench/dashboard-cost.sh [path/to/synod] (default: the release build)
set -euo pipefail
SYNOD=${1:-target/release/synod}
RUNS=${RUNS:-3}
out=$(mktemp -d)
for i in $(seq 1 "$RUNS"); do
  "$SYNOD" bench --local 3 --clients 64 --quiet | tee -a "$out/without"
  "$SYNOD" bench --local 3 --clients 64 --quiet --dashboard 127.0.0.1:0 | tee -a "$out/with"
done
median() { # file key
  python3 -c '
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(statistics.median(r[sys.argv[2]] for r in rows))' "$1" "$2"
}
for mode in without with; do
  echo "$mode dashboard: median ops/s $(median "$out/$mode" ops_per_sec), p50 $(median "$out/$mode" p50_us) us, p99 $(median "$out/$mode" p99_us) us"
done
