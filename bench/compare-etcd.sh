#!/usr/bin/env bash
# synod against etcd 3.4 on this machine, same run, same workload shape:
# 3 nodes on loopback, fsync on for both, 256-byte values, closed-loop
# clients. For each client count it alternates the two systems ROUNDS times
# and reports medians, a table, and one JSON line per point with the ratios.
#
#   bench/compare-etcd.sh            # clients 1 64 256 1024, 3 rounds, 5 s each
#   CLIENTS="1 64" ROUNDS=5 SECONDS_PER_RUN=10 bench/compare-etcd.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-"1 64 256 1024"}
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
TOOLS=${TOOLS:-../shared/tools}
OUT=${OUT:-target/compare-etcd}
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true

need() { command -v "$1" >/dev/null 2>&1; }
if ! need etcd || ! need etcdctl; then
  echo "== installing etcd from Debian packages" >&2
  apt-get install -y etcd-server etcd-client >/dev/null
fi
# Debian's package may start a system etcd on 2379; ours uses other ports.
ETCD_BENCH=/tmp/etcd-bench-target/release/etcd-bench
if [ ! -x "$ETCD_BENCH" ]; then
  need protoc || apt-get install -y protobuf-compiler >/dev/null
  echo "== building the etcd load tool" >&2
  cargo build --release --manifest-path "$TOOLS/etcd-bench/Cargo.toml" --target-dir /tmp/etcd-bench-target >&2
fi
echo "== building synod (release)" >&2
cargo build --release -p synod >&2
SYNOD=target/release/synod

conns_for() { # etcd-bench's gRPC connections, as in ../shared/tools/README.md
  case $1 in 1) echo 1 ;; 64) echo 8 ;; *) echo 32 ;; esac
}

# etcd-cluster.sh gives members half a second to exit; wait until they have,
# or the next start finds its ports taken.
etcd_gone() {
  for _ in $(seq 100); do
    pgrep -x etcd >/dev/null || return 0
    sleep 0.1
  done
  pkill -9 -x etcd || true; sleep 0.5
}

run_etcd() {
  etcd_gone
  ETCD_DIR=/tmp/synod-cmp-etcd bash "$TOOLS/etcd-cluster.sh" up >&2
  "$ETCD_BENCH" --endpoints http://127.0.0.1:12379,http://127.0.0.1:22379,http://127.0.0.1:32379 \
    --clients "$1" --conns "$(conns_for "$1")" --value-size 256 --seconds "$SECONDS_PER_RUN" | tail -n 1
  ETCD_DIR=/tmp/synod-cmp-etcd bash "$TOOLS/etcd-cluster.sh" down >&2
  etcd_gone
}

run_synod() {
  "$SYNOD" bench --local 3 --clients "$1" --seconds "$SECONDS_PER_RUN" --value-size 256 --workload kv --quiet | tail -n 1
}

median() { # median of numbers on stdin
  sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'
}
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }

printf "%-8s | %12s %9s %9s | %12s %9s %9s | %10s %10s\n" clients "synod ops/s" "p50 ms" "p99 ms" "etcd ops/s" "p50 ms" "p99 ms" "x tput" "p99 ratio"
for c in $CLIENTS; do
  : >"$OUT/synod-$c.jsonl"; : >"$OUT/etcd-$c.jsonl"
  for r in $(seq "$ROUNDS"); do
    run_etcd "$c" >>"$OUT/etcd-$c.jsonl"
    run_synod "$c" >>"$OUT/synod-$c.jsonl"
  done
  s_ops=$(while read -r l; do echo "$l" | field ops_per_sec; done <"$OUT/synod-$c.jsonl" | median)
  s_p50=$(while read -r l; do echo "$l" | field p50_us; done <"$OUT/synod-$c.jsonl" | median)
  s_p99=$(while read -r l; do echo "$l" | field p99_us; done <"$OUT/synod-$c.jsonl" | median)
  e_ops=$(while read -r l; do echo "$l" | field ops_per_sec; done <"$OUT/etcd-$c.jsonl" | median)
  e_p50=$(while read -r l; do echo "$l" | field p50_us; done <"$OUT/etcd-$c.jsonl" | median)
  e_p99=$(while read -r l; do echo "$l" | field p99_us; done <"$OUT/etcd-$c.jsonl" | median)
  python3 - "$c" "$s_ops" "$s_p50" "$s_p99" "$e_ops" "$e_p50" "$e_p99" "$ROUNDS" <<'PY'
import json, sys
c, s_ops, s_p50, s_p99, e_ops, e_p50, e_p99, rounds = sys.argv[1:]
s_ops, s_p50, s_p99, e_ops, e_p50, e_p99 = map(float, (s_ops, s_p50, s_p99, e_ops, e_p50, e_p99))
tput = s_ops / e_ops if e_ops else float("inf")
p99 = s_p99 / e_p99 if e_p99 else float("inf")
print(f"{c:<8} | {s_ops:12.0f} {s_p50/1000:9.2f} {s_p99/1000:9.2f} | {e_ops:12.0f} {e_p50/1000:9.2f} {e_p99/1000:9.2f} | {tput:10.2f} {p99:10.2f}")
print(json.dumps({"clients": int(c), "rounds": int(rounds), "synod": {"ops_per_sec": s_ops, "p50_us": s_p50, "p99_us": s_p99},
                  "etcd": {"ops_per_sec": e_ops, "p50_us": e_p50, "p99_us": e_p99},
                  "throughput_ratio": round(tput, 2), "p99_ratio": round(p99, 3)}))
PY
done
