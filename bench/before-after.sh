#!/usr/bin/env bash
# Compares two synod builds, alternating runs in one session (the machine is
# shared and noisy), and prints the median of each figure:
#   simulator events/s  (synod sim --seeds 1000 --mix fixed)
#   bench ops/s and p99 (synod bench --local 3 --clients 64)
#   bench p999          (synod bench --local 3 --clients 256, checkpoints on)
# Usage: bench/before-after.sh OLD_BINARY NEW_BINARY [RUNS]
# (An old binary without --mix runs `sim --seeds 1000`, the same fixed mix.)
set -euo pipefail
old=$1 new=$2 runs=${3:-3}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

sim() { # binary -> events/s
  local mix=""
  "$1" sim --help | grep -q -- '--mix' && mix="--mix fixed"
  "$1" sim --seeds 1000 $mix | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["events_per_s"])'
}
bench() { # binary clients -> "ops/s p99_ms p999_ms"
  "$1" bench --local 3 --clients "$2" --seconds 10 --quiet | tail -1 |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["ops_per_sec"], d["p99_us"]/1000, d["p999_us"]/1000)'
}
for i in $(seq "$runs"); do
  for which in old new; do
    bin=${!which}
    echo "$which sim $(sim "$bin")" >> "$tmp/figs"
    echo "$which b64 $(bench "$bin" 64)" >> "$tmp/figs"
    echo "$which b256 $(bench "$bin" 256)" >> "$tmp/figs"
    tail -3 "$tmp/figs" >&2
  done
done
python3 - "$tmp/figs" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
def med(which, kind, col):
    return statistics.median(float(r[2 + col]) for r in rows if r[0] == which and r[1] == kind)
print(f"{'figure':<34} {'old':>12} {'new':>12} {'new/old':>8}")
for label, kind, col in [("sim events/s (1000 seeds, fixed)", "sim", 0),
                         ("bench 64 clients ops/s", "b64", 0),
                         ("bench 64 clients p99 ms", "b64", 1),
                         ("bench 256 clients ops/s", "b256", 0),
                         ("bench 256 clients p999 ms", "b256", 2)]:
    o, n = med("old", kind, col), med("new", kind, col)
    print(f"{label:<34} {o:>12.1f} {n:>12.1f} {n / o:>8.3f}")
PY
