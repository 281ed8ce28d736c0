#!/usr/bin/env python3
"""Runs a load tool and says what each operation cost in CPU.

    bench/cpu-per-op.py SERVERS -- LOAD COMMAND...

LOAD COMMAND must print one JSON line with `ops` last (as etcd-bench and
`synod bench` do). SERVERS is a string found in the command line of every
server process of the system under load (its data or cluster directory);
the servers' user and system CPU is read from /proc just before the load
starts and just after it ends, the load tool's own from its rusage. The
JSON line comes back with four fields added:

- `server_cpu_us_per_op`, `client_cpu_us_per_op`: CPU microseconds per
  operation, all server processes together, and the load tool;
- `server_cores`, `client_cores`: the same as cores kept busy over the run.

On a machine where the load tool and the servers share the cores, these
say how much of the machine each operation takes, which a throughput
ratio alone does not (docs/performance.md, "What the machine allows").
"""

import json
import os
import resource
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def server_cpu(pattern):
    """CPU seconds used so far by every process whose command line holds
    `pattern`, by pid."""
    used = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            if pattern not in cmdline or int(pid) == os.getpid():
                continue
            with open(f"/proc/{pid}/stat") as f:
                # Fields after the command name, which may hold spaces.
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        used[pid] = (int(fields[11]) + int(fields[12])) / TICK
    return used


def main():
    args = sys.argv[1:]
    if len(args) < 3 or args[1] != "--":
        sys.exit(__doc__)
    pattern, command = args[0], args[2:]
    before = server_cpu(pattern)
    if not before:
        sys.exit(f"no running process has {pattern!r} in its command line")
    started = time.monotonic()
    load = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    elapsed = time.monotonic() - started
    after = server_cpu(pattern)
    client = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in load.stdout.splitlines() if line.strip()]
    if not lines:
        sys.exit(f"{command[0]} printed nothing")
    result = json.loads(lines[-1])
    ops = result["ops"]
    # A server that stopped during the run counts for what was read before.
    servers = sum(after.get(pid, used) - used for pid, used in before.items())
    clients = client.ru_utime + client.ru_stime
    per_op = lambda seconds: round(seconds / ops * 1e6, 1) if ops else None
    result["server_cpu_us_per_op"] = per_op(servers)
    result["client_cpu_us_per_op"] = per_op(clients)
    result["server_cores"] = round(servers / elapsed, 2)
    result["client_cores"] = round(clients / elapsed, 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
