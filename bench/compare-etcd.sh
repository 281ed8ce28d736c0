#!/usr/bin/env bash
# synod against etcd 3.4 on this machine, same run, same workload shape:
# 3 nodes on loopback, fsync on for both, 256-byte values, closed-loop
# clients. synod is measured twice: with its own client (`synod bench`), and
# serving etcd's API driven by the very load tool that drives etcd
# (etcd-bench, the etcd-client crate: same client, same wire protocol). For
# each client count it alternates the three ROUNDS times and reports
# medians, a table, and one JSON line per point with the ratios. Under
# etcd-bench it also reads what each operation cost in CPU, the servers'
# and the load tool's (bench/cpu-per-op.py): on a machine where they share
# the cores, that bounds what any ratio can reach (docs/performance.md).
#
#   bench/compare-etcd.sh            # clients 1 64 256 1024, 3 rounds, 5 s each
#   CLIENTS="1 64" ROUNDS=5 SECONDS_PER_RUN=10 bench/compare-etcd.sh
#   PIN=0:1 CLIENTS=64 bench/compare-etcd.sh  # servers on CPU 0, etcd-bench on CPU 1
#
# PIN=SERVERS:LOAD (CPU lists as taskset takes them) keeps each system's
# servers on the first CPUs and etcd-bench on the second, so that the load
# tool takes no CPU from the servers it drives: the ratio then compares the
# servers alone. It applies to both etcd-bench columns; `synod bench
# --local` runs its nodes and clients in one process, so the own-client
# column runs unpinned.
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-"1 64 256 1024"}
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
TOOLS=${TOOLS:-../shared/tools}
OUT=${OUT:-target/compare-etcd}
PIN=${PIN:-}
mkdir -p "$OUT"
server_pin=() load_pin=()
if [ -n "$PIN" ]; then
  if ! [[ "$PIN" =~ ^[0-9,-]+:[0-9,-]+$ ]]; then
    echo "PIN must be SERVER_CPUS:LOAD_CPUS, as taskset takes CPU lists (e.g. 0:1), not '$PIN'" >&2
    exit 2
  fi
  command -v taskset >/dev/null 2>&1 || apt-get install -y util-linux >/dev/null
  server_pin=(taskset -c "${PIN%%:*}")
  load_pin=(taskset -c "${PIN##*:}")
fi
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
  ETCD_DIR=/tmp/synod-cmp-etcd "${server_pin[@]}" bash "$TOOLS/etcd-cluster.sh" up >&2
  # The members' data directories are below this one (its trailing slash
  # keeps synod's /tmp/synod-cmp-etcdapi.* clusters out of the count).
  bench/cpu-per-op.py /tmp/synod-cmp-etcd/ -- "${load_pin[@]}" "$ETCD_BENCH" --endpoints http://127.0.0.1:12379,http://127.0.0.1:22379,http://127.0.0.1:32379 \
    --clients "$1" --conns "$(conns_for "$1")" --value-size 256 --seconds "$SECONDS_PER_RUN" | tail -n 1
  ETCD_DIR=/tmp/synod-cmp-etcd bash "$TOOLS/etcd-cluster.sh" down >&2
  etcd_gone
}

# synod serving etcd's API (plain, as etcd here), driven by the same load
# tool as etcd: the same client and wire protocol for both.
run_synod_etcd() {
  local dir
  dir=$(mktemp -d /tmp/synod-cmp-etcdapi.XXXXXX)
  "${server_pin[@]}" "$SYNOD" cluster up --nodes 3 --dir "$dir" --etcd --plain >&2
  local endpoints
  endpoints=$(python3 -c "import tomllib,sys; f=tomllib.load(open(sys.argv[1],'rb')); print(','.join('http://'+n['etcd_addr'] for n in f['nodes']))" "$dir/cluster.toml")
  bench/cpu-per-op.py "$dir" -- "${load_pin[@]}" "$ETCD_BENCH" --endpoints "$endpoints" \
    --clients "$1" --conns "$(conns_for "$1")" --value-size 256 --seconds "$SECONDS_PER_RUN" | tail -n 1
  "$SYNOD" cluster down --dir "$dir" >&2
  rm -rf "$dir" # this script's own scratch cluster
}

run_synod() {
  "$SYNOD" bench --local 3 --clients "$1" --seconds "$SECONDS_PER_RUN" --value-size 256 --workload kv --quiet | tail -n 1
}

median() { # median of numbers on stdin
  sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'
}
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }

# What this run was, for the results file it may become.
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'): CLIENTS=\"$CLIENTS\" ROUNDS=$ROUNDS SECONDS_PER_RUN=$SECONDS_PER_RUN${PIN:+ PIN=$PIN (servers on CPUs ${PIN%%:*}, etcd-bench on CPUs ${PIN##*:})}"
printf "%-8s | %21s | %21s | %21s | %17s | %17s\n" "" "synod (own client)" "synod (etcd client)" "etcd" "own / etcd" "etcd-client / etcd"
printf "%-8s | %9s %5s %5s | %9s %5s %5s | %9s %5s %5s | %8s %8s | %8s %8s\n" clients "ops/s" "p50" "p99" "ops/s" "p50" "p99" "ops/s" "p50" "p99" "x tput" "p99" "x tput" "p99"
record() { # appends a run's JSON line (stdin) to $1, or stops saying which run gave none
  local line
  line=$(cat)
  if [[ "$line" != "{"* ]]; then
    echo "compare-etcd: $2 at $3 clients, round $4, gave no result (its errors are above); stopping" >&2
    exit 1
  fi
  echo "$line" >>"$1"
}
stat() { # median of field $2 over the runs in file $1
  while read -r l; do echo "$l" | field "$2"; done <"$1" | median
}
for c in $CLIENTS; do
  : >"$OUT/synod-$c.jsonl"; : >"$OUT/etcd-$c.jsonl"; : >"$OUT/synod-etcd-$c.jsonl"
  for r in $(seq "$ROUNDS"); do
    run_etcd "$c" | record "$OUT/etcd-$c.jsonl" "etcd" "$c" "$r"
    run_synod "$c" | record "$OUT/synod-$c.jsonl" "synod (own client)" "$c" "$r"
    run_synod_etcd "$c" | record "$OUT/synod-etcd-$c.jsonl" "synod (etcd API)" "$c" "$r"
  done
  args=("$c" "$ROUNDS")
  for sys in synod synod-etcd etcd; do
    for f in ops_per_sec p50_us p99_us; do args+=("$(stat "$OUT/$sys-$c.jsonl" "$f")"); done
  done
  for sys in synod-etcd etcd; do
    for f in server_cpu_us_per_op client_cpu_us_per_op; do args+=("$(stat "$OUT/$sys-$c.jsonl" "$f")"); done
  done
  python3 - "${args[@]}" <<'PY'
import json, sys
c, rounds, *v = sys.argv[1:]
s, g, e = [tuple(map(float, v[i:i + 3])) for i in (0, 3, 6)]
g_cpu, e_cpu = tuple(map(float, v[9:11])), tuple(map(float, v[11:13]))
ratio = lambda a, b: a / b if b else float("inf")
ms = lambda us: us / 1000
print(f"{c:<8} | {s[0]:9.0f} {ms(s[1]):5.1f} {ms(s[2]):5.1f} | {g[0]:9.0f} {ms(g[1]):5.1f} {ms(g[2]):5.1f} | "
      f"{e[0]:9.0f} {ms(e[1]):5.1f} {ms(e[2]):5.1f} | {ratio(s[0], e[0]):8.2f} {ratio(s[2], e[2]):8.2f} | "
      f"{ratio(g[0], e[0]):8.2f} {ratio(g[2], e[2]):8.2f}")
print(f"{'':<8}   CPU per operation under etcd-bench (servers + load tool): "
      f"synod {g_cpu[0]:.0f} + {g_cpu[1]:.0f} us, etcd {e_cpu[0]:.0f} + {e_cpu[1]:.0f} us")
cpu = lambda t: {"server_cpu_us_per_op": t[0], "client_cpu_us_per_op": t[1]}
point = lambda t: {"ops_per_sec": t[0], "p50_us": t[1], "p99_us": t[2]}
print(json.dumps({"clients": int(c), "rounds": int(rounds), "synod": point(s), "synod_etcd_api": point(g) | cpu(g_cpu), "etcd": point(e) | cpu(e_cpu),
                  "throughput_ratio": round(ratio(s[0], e[0]), 2), "p99_ratio": round(ratio(s[2], e[2]), 3),
                  "etcd_api_throughput_ratio": round(ratio(g[0], e[0]), 2), "etcd_api_p99_ratio": round(ratio(g[2], e[2]), 3)}))
PY
done
