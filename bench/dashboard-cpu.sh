#!/usr/bin/env bash
# The CPU the nodes spend per operation under `synod bench --cluster FILE --clients 64` (10 s), without and with a dashboard polling them and one event-stream reader (curl), alternated three times each; and the dashboard process's own CPU. Usage: bench/dashboard-cpu.sh [path/to/synod]
set -euo pipefail
DIR=$(mktemp -d)/c
S=${1:-target/release/synod}
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
tck=$(getconf CLK_TCK)
for mode in without with without with without with; do
  rm -rf $DIR; $S cluster up --nodes 3 --dir $DIR >/dev/null
  pids=$(for f in $DIR/n*.pid; do cat $f; echo; done)
  dpid=""; cpid=""
  if [ $mode = with ]; then
    $S dashboard --cluster $DIR/cluster.toml --listen 127.0.0.1:0 > $DIR/dash.out 2>&1 & dpid=$!
    sleep 1; url=$(head -1 $DIR/dash.out | sed 's/dashboard: //'); curl -sN "${url}events" > /dev/null & cpid=$!
  fi
  before=0; for p in $pids; do before=$((before + $(cpu $p))); done
  db0=0; [ -n "$dpid" ] && db0=$(cpu $dpid)
  line=$($S bench --cluster $DIR/cluster.toml --clients 64 --quiet --warmup 0 --seconds 10)
  after=0; for p in $pids; do after=$((after + $(cpu $p))); done
  db1=0; [ -n "$dpid" ] && db1=$(cpu $dpid)
  ops=$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ops"])')
  echo "$mode: ops $ops, nodes cpu $(( (after-before)*1000/tck )) ms, $(( (after-before)*1000000/tck/ops )) us/op; dashboard cpu $(( (db1-db0)*1000/tck )) ms"
  [ -n "$cpid" ] && kill $cpid; [ -n "$dpid" ] && kill $dpid
  $S cluster down --dir $DIR >/dev/null
done
