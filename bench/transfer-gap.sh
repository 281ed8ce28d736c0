#!/usr/bin/env bash
# The write gap of a leader transfer beside that of a leader kill, measured
# the same way in the same run on one 3-node synod cluster on loopback
# (docs/liveness.md, "Handing the leadership over").
#
# Each round, alternating: find the leader; then either
# - transfer: `synod admin transfer-leader --to N` (N the next node; the
#   tool returns once N leads), or
# - kill: SIGKILL the leader (restarted after the measurement, then 3 s to
#   settle);
# and write with a one-shot client that knows every node (200 ms timeouts)
# until a write succeeds. The figure is the time from the operator's action
# to that success: it includes one tool process start per action and one
# client process start per try, for both. The wall time of one write with
# no fault (a process start and a commit) is printed beside it.
#
#   bench/transfer-gap.sh            # 20 of each
#   ROUNDS=30 bench/transfer-gap.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-20}
OUT=${OUT:-target/transfer-gap}
mkdir -p "$OUT"
echo "== building synod (release)" >&2
cargo build --release -p synod >&2
SYNOD=$PWD/target/release/synod
now_ms() { echo $(($(date +%s%N) / 1000000)); }

DIR=$(mktemp -d /tmp/synod-transfer.XXXX)
trap '"$SYNOD" cluster down --dir "$DIR" >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
"$SYNOD" cluster up --nodes 3 --dir "$DIR" >&2
CLUSTER=$DIR/cluster.toml
leader() {
  "$SYNOD" admin --cluster "$CLUSTER" status --json 2>/dev/null |
    python3 -c 'import json,sys; l=[n["node"] for n in json.load(sys.stdin)["nodes"] if n.get("role")=="leader"]; print(l[0]) if l else sys.exit(1)'
}
put() {
  "$SYNOD" client --cluster "$CLUSTER" --timeout-ms 200 --retries 3 kv put gap x >/dev/null 2>&1
}
find_leader() {
  local l=""
  for _ in $(seq 100); do l=$(leader) && break; sleep 0.1; done
  [ -n "$l" ] || { echo "no leader" >&2; exit 1; }
  echo "$l"
}
until put; do sleep 0.1; done
: >"$OUT/baseline.txt"
for _ in $(seq 10); do
  t0=$(now_ms); put || { echo "a write failed with no fault" >&2; exit 1; }
  echo $(($(now_ms) - t0)) >>"$OUT/baseline.txt"
done
: >"$OUT/transfer.txt"
: >"$OUT/kill.txt"
for k in $(seq "$ROUNDS"); do
  l=$(find_leader)
  to=$((l % 3 + 1))
  t0=$(now_ms)
  "$SYNOD" admin --cluster "$CLUSTER" transfer-leader --to "$to" >/dev/null
  until put; do :; done
  ms=$(($(now_ms) - t0))
  echo "transfer $k (n$l to n$to): $ms ms" >&2
  echo "$ms" >>"$OUT/transfer.txt"
  sleep 1

  l=$(find_leader)
  t0=$(now_ms)
  "$SYNOD" cluster kill --dir "$DIR" --node "$l" >/dev/null
  until put; do :; done
  ms=$(($(now_ms) - t0))
  echo "kill $k (n$l): $ms ms" >&2
  echo "$ms" >>"$OUT/kill.txt"
  "$SYNOD" cluster restart --dir "$DIR" --node "$l" >/dev/null
  sleep 3
done

python3 - "$OUT" <<'EOF'
import json, statistics, sys
out = sys.argv[1]
res = {}
for name in ("transfer", "kill", "baseline"):
    xs = [int(l) for l in open(f"{out}/{name}.txt") if l.strip()]
    res[name] = {"n": len(xs), "min_ms": min(xs), "median_ms": statistics.median(xs), "max_ms": max(xs)}
print(f"{'event':<9} {'n':>3} {'min':>8} {'median':>8} {'worst':>8}")
for name, r in res.items():
    print(f"{name:<9} {r['n']:>3} {r['min_ms']:>5} ms {r['median_ms']:>5} ms {r['max_ms']:>5} ms")
print(json.dumps(res))
EOF
