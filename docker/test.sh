#!/usr/bin/env bash
# The container cluster test, for a machine whose Docker engine runs but can
# pull no image: it builds the synod image from scratch (a statically linked
# binary in an otherwise empty filesystem, imported with `docker import`),
# starts the 5-node cluster of docker/compose.yml, and, while a recorded
# bank workload runs (`synod nemesis --cluster ... --faults none`), kills the
# leader's container, pauses another, and disconnects a third from the
# network, healing each. The history checker must pass and the replicas
# must agree.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! docker info >/dev/null 2>&1; then
  echo "container test: no Docker engine reachable here; skipped"
  exit 0
fi
PROJECT=synodtest
# Compose v2 as a plugin, or the standalone docker-compose.
if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"; else COMPOSE="docker-compose"; fi
NET=${PROJECT}_synod
CLUSTER=docker/cluster.toml
SYNOD=target/release/synod

echo "== building a static synod binary"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release -p synod \
  --target x86_64-unknown-linux-gnu --target-dir target/static
cargo build --release -p synod
STATIC=target/static/x86_64-unknown-linux-gnu/release/synod

echo "== building image synod:local from scratch (no registry)"
ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"; $COMPOSE -p $PROJECT -f docker/compose.yml down -v >/dev/null 2>&1 || true' EXIT
mkdir -p "$ROOT/data" "$ROOT/etc/synod" "$ROOT/tmp"
cp "$STATIC" "$ROOT/synod"
tar -C "$ROOT" -c . | docker import --change 'ENTRYPOINT ["/synod"]' --change 'VOLUME /data' - synod:local >/dev/null

echo "== starting 5 containers"
$COMPOSE -p $PROJECT -f docker/compose.yml down -v >/dev/null 2>&1 || true
$COMPOSE -p $PROJECT -f docker/compose.yml up -d

cid() { $COMPOSE -p $PROJECT -f docker/compose.yml ps -q "n$1"; }
leader() {
  "$SYNOD" admin --cluster $CLUSTER --json status |
    python3 -c 'import json,sys; n=[x["node"] for x in json.load(sys.stdin)["nodes"] if x.get("role")=="leader"]; print(n[0] if n else "")'
}
for _ in $(seq 100); do [ -n "$(leader)" ] && break; sleep 0.2; done
[ -n "$(leader)" ] || { echo "no leader elected"; $COMPOSE -p $PROJECT -f docker/compose.yml logs; exit 1; }
echo "leader: n$(leader)"

echo "== recorded bank workload, with container faults"
"$SYNOD" nemesis --cluster $CLUSTER --faults none --seconds 24 --workload bank --clients 6 \
  --history target/docker-history.json >target/docker-nemesis.json &
LOAD=$!
sleep 3
L=$(leader); echo "docker kill n$L (the leader)"; docker kill $(cid $L) >/dev/null
sleep 4; echo "docker start n$L"; docker start $(cid $L) >/dev/null
sleep 3
P=$(( L % 5 + 1 )); echo "docker pause n$P"; docker pause $(cid $P) >/dev/null
sleep 3; echo "docker unpause n$P"; docker unpause $(cid $P) >/dev/null
sleep 2
L=$(leader); echo "docker network disconnect n$L (the leader)"
docker network disconnect $NET $(cid $L)
sleep 4; echo "docker network connect n$L"
docker network connect --ip 172.28.5.1$L $NET $(cid $L)
wait $LOAD || { echo "the history check FAILED:"; cat target/docker-nemesis.json; exit 1; }
cat target/docker-nemesis.json
"$SYNOD" check target/docker-history.json
echo "== container test passed"
