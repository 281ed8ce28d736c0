#!/usr/bin/env bash
# Failover after leader kills, synod beside etcd 3.4, measured the same way
# in the same run: a 3-node cluster on loopback; find the leader, SIGKILL it,
# then write with a one-shot command-line client that knows every node
# (200 ms timeouts) until a write succeeds. The figure is the time from the
# kill to that success (it includes one client process start per try, for
# both systems).
# The killed node is restarted and the cluster given time to settle before
# the next kill. Prints every measurement, then median and worst per system,
# beside the wall time of one such write with no fault (the client process
# start and a commit: the part of the figure that is not failover).
#
#   bench/failover-etcd.sh              # 20 kills each
#   KILLS=30 bench/failover-etcd.sh
#   CARGO_TARGET_DIR=/elsewhere bench/failover-etcd.sh   # the binary is looked for there
set -euo pipefail
cd "$(dirname "$0")/.."
KILLS=${KILLS:-20}
OUT=${OUT:-target/failover-etcd}
mkdir -p "$OUT"
need() { command -v "$1" >/dev/null 2>&1; }
if ! need etcd || ! need etcdctl; then
  echo "== installing etcd from Debian packages" >&2
  apt-get install -y etcd-server etcd-client >/dev/null
fi
echo "== building synod (release)" >&2
cargo build --release -p synod >&2
SYNOD=${CARGO_TARGET_DIR:-$PWD/target}/release/synod
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- etcd: three members, the flags of ../shared/tools/etcd-cluster.sh
EDIR=/tmp/synod-failover-etcd
ECLUSTER="e1=http://127.0.0.1:12380,e2=http://127.0.0.1:22380,e3=http://127.0.0.1:32380"
ENDPOINTS=http://127.0.0.1:12379,http://127.0.0.1:22379,http://127.0.0.1:32379
etcd_start() { # member index; in a subshell, so this shell does not report the kills
  local i=$1
  (etcd --name e$i --data-dir "$EDIR/e$i" \
    --listen-client-urls http://127.0.0.1:${i}2379 --advertise-client-urls http://127.0.0.1:${i}2379 \
    --listen-peer-urls http://127.0.0.1:${i}2380 --initial-advertise-peer-urls http://127.0.0.1:${i}2380 \
    --initial-cluster "$ECLUSTER" --initial-cluster-state new --initial-cluster-token failover \
    --log-level error >>"$EDIR/e$i.log" 2>&1 &
  echo $! >"$EDIR/e$i.pid")
}
etcd_leader() { # index of the member that calls itself leader
  for i in 1 2 3; do
    local st
    st=$(ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:${i}2379 --command-timeout=500ms \
      endpoint status -w json 2>/dev/null) || continue
    if python3 -c 'import json,sys; s=json.load(sys.stdin)[0]["Status"]; sys.exit(0 if s["header"]["member_id"]==s["leader"] else 1)' <<<"$st"; then
      echo "$i"; return 0
    fi
  done
  return 1
}
etcd_put() { # endpoints
  ETCDCTL_API=3 etcdctl --endpoints="$1" --dial-timeout=200ms --command-timeout=200ms put failover x >/dev/null 2>&1
}

pkill -x etcd 2>/dev/null || true
sleep 0.5
trap 'pkill -x etcd 2>/dev/null || true' EXIT
rm -rf "$EDIR"; mkdir -p "$EDIR"
for i in 1 2 3; do etcd_start "$i"; done
for _ in $(seq 100); do etcd_put http://127.0.0.1:12379 && break; sleep 0.2; done
baseline() { # command...: wall time of 10 successful runs, one per line
  for _ in $(seq 10); do
    local t0; t0=$(now_ms)
    "$@" || { echo "a write failed with no fault" >&2; exit 1; }
    echo $(($(now_ms) - t0))
  done
}
baseline etcd_put "$ENDPOINTS" >"$OUT/etcd-baseline.txt"
: >"$OUT/etcd.txt"
for k in $(seq "$KILLS"); do
  leader=""
  for _ in $(seq 100); do leader=$(etcd_leader) && break; sleep 0.1; done
  [ -n "$leader" ] || { echo "etcd has no leader" >&2; exit 1; }
  t0=$(now_ms)
  kill -9 "$(cat "$EDIR/e$leader.pid")"
  until etcd_put "$ENDPOINTS"; do :; done
  ms=$(($(now_ms) - t0))
  echo "etcd kill $k (e$leader): $ms ms" >&2
  echo "$ms" >>"$OUT/etcd.txt"
  etcd_start "$leader"
  sleep 3
done
pkill -x etcd 2>/dev/null || true

# ---- synod: three node processes, the same procedure
SDIR=$(mktemp -d /tmp/synod-failover.XXXX)
trap '"$SYNOD" cluster down --dir "$SDIR" >/dev/null 2>&1 || true' EXIT
"$SYNOD" cluster up --nodes 3 --dir "$SDIR" >&2
synod_leader() {
  "$SYNOD" admin --cluster "$SDIR/cluster.toml" status --json 2>/dev/null |
    python3 -c 'import json,sys; l=[n["node"] for n in json.load(sys.stdin)["nodes"] if n.get("role")=="leader"]; print(l[0]) if l else sys.exit(1)'
}
synod_put() {
  "$SYNOD" client --cluster "$SDIR/cluster.toml" --timeout-ms 200 --retries 3 kv put failover x >/dev/null 2>&1
}
until synod_put; do sleep 0.1; done
baseline synod_put >"$OUT/synod-baseline.txt"
: >"$OUT/synod.txt"
for k in $(seq "$KILLS"); do
  leader=""
  for _ in $(seq 100); do leader=$(synod_leader) && break; sleep 0.1; done
  [ -n "$leader" ] || { echo "synod has no leader" >&2; exit 1; }
  t0=$(now_ms)
  "$SYNOD" cluster kill --dir "$SDIR" --node "$leader" >/dev/null
  until synod_put; do :; done
  ms=$(($(now_ms) - t0))
  echo "synod kill $k (n$leader): $ms ms" >&2
  echo "$ms" >>"$OUT/synod.txt"
  "$SYNOD" cluster restart --dir "$SDIR" --node "$leader" >/dev/null
  sleep 3
done
"$SYNOD" cluster down --dir "$SDIR" >/dev/null || true
rm -rf "$SDIR" "$EDIR"

python3 - "$OUT" "$KILLS" <<'EOF'
import json, statistics, sys
out, kills = sys.argv[1], int(sys.argv[2])
res = {}
for name in ("synod", "etcd"):
    xs = [int(l) for l in open(f"{out}/{name}.txt") if l.strip()]
    base = [int(l) for l in open(f"{out}/{name}-baseline.txt") if l.strip()]
    res[name] = {"kills": len(xs), "median_ms": statistics.median(xs), "max_ms": max(xs),
                 "min_ms": min(xs), "no_fault_write_ms": statistics.median(base)}
print(f"{'system':<6} {'kills':>5} {'min':>8} {'median':>8} {'worst':>8} {'write, no fault':>16}")
for name, r in res.items():
    print(f"{name:<6} {r['kills']:>5} {r['min_ms']:>6} ms {r['median_ms']:>6} ms {r['max_ms']:>6} ms"
          f" {r['no_fault_write_ms']:>13} ms")
print(json.dumps(res))
EOF
