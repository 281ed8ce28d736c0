#!/usr/bin/env bash
# What a connected dashboard costs: `synod bench --local 3 --clients 64`
# without and with `--dashboard` (the dashboard polling every 250 ms and one
# event-stream reader attached from before the warm-up), alternated, three
# runs each; prints each run's JSON line and the medians.
# BROWSER=1 also opens the page in headless Chromium (rendering every
# snapshot) for the "with" runs, as soon as the dashboard prints its address.
# Usage: bench/dashboard-cost.sh [path/to/synod] (default: the release build)
set -euo pipefail
SYNOD=${1:-target/release/synod}
RUNS=${RUNS:-3}
out=$(mktemp -d)
with_dashboard() {
  if [ "${BROWSER:-0}" = 1 ]; then
    "$SYNOD" bench --local 3 --clients 64 --quiet --dashboard 127.0.0.1:0 2>"$out/err" | tee -a "$out/with" &
    local bench=$!
    local url=""
    while [ -z "$url" ] && kill -0 "$bench" 2>/dev/null; do
      url=$(sed -n 's/^dashboard: \(http.*\)/\1/p' "$out/err" | head -1)
      sleep 0.05
    done
    chromium --headless --no-sandbox --disable-gpu --user-data-dir="$out/profile" "$url" >/dev/null 2>&1 &
    local browser=$!
    wait "$bench"
    kill "$browser" 2>/dev/null || true
    wait "$browser" 2>/dev/null || true
    cat "$out/err" >&2
  else
    "$SYNOD" bench --local 3 --clients 64 --quiet --dashboard 127.0.0.1:0 | tee -a "$out/with"
  fi
}
for i in $(seq 1 "$RUNS"); do
  "$SYNOD" bench --local 3 --clients 64 --quiet | tee -a "$out/without"
  with_dashboard
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
