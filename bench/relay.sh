#!/usr/bin/env bash
# bench/relay.sh - fdwatch relay beside the limit a user-space relay reaches (ref_relay.c,
# the smallest splice(2) relay in C: one thread, epoll, no events), a direct connection,
# HAProxy and socat, in one run: one connection's throughput (BYTES up, then the same
# down) and the rate of N short connections (connect, 1 byte, half-close, the echo,
# close). RUNS interleaved rounds (each relay in turn, every round); medians, and every
# ratio of fdwatch to the others. fdwatch runs the way a user runs it, JSON events to a
# file. Needs gcc; socat and haproxy (tcp mode, option splice-auto, one thread) are
# measured where installed.
#   bench/relay.sh            BYTES=1G RUNS=5 N=1000, RELAY_ARGS="--buffer 262144" for relay options
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BYTES=$(numfmt --from=iec "${BYTES:-1G}")
RUNS=${RUNS:-5}
N=${N:-1000}
WORK=${WORK:-$ROOT/target/relay-bench}
mkdir -p "$WORK"
gcc -O2 -o "$WORK/relay_peer" "$ROOT/bench/relay_peer.c"
gcc -O2 -o "$WORK/ref_relay" "$ROOT/bench/ref_relay.c"
FDWATCH=$("$ROOT/bench/release-bin.sh")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SRV=$(free_port); FDW=$(free_port); REF=$(free_port); SOC=$(free_port); HAP=$(free_port)
"$WORK/relay_peer" server "$SRV" & PIDS=($!)
"$FDWATCH" relay ${RELAY_ARGS:-} --format json tcp-listen:127.0.0.1:"$FDW" tcp:127.0.0.1:"$SRV" > "$WORK/relay-events.jsonl" & PIDS+=($!)
"$WORK/ref_relay" "$REF" "$SRV" & PIDS+=($!)
HAVE_SOCAT=0
if command -v socat > /dev/null; then
  socat TCP-LISTEN:"$SOC",bind=127.0.0.1,fork,reuseaddr TCP:127.0.0.1:"$SRV" & PIDS+=($!)
  HAVE_SOCAT=1
fi
HAVE_HAPROXY=0
if command -v haproxy > /dev/null; then
  cat > "$WORK/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option splice-auto
listen relay
  bind 127.0.0.1:$HAP
  server s1 127.0.0.1:$SRV
EOF
  haproxy -db -f "$WORK/haproxy.cfg" & PIDS+=($!)
  HAVE_HAPROXY=1
fi
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null' EXIT
# Wait for the listeners (a connect that succeeds).
for p in "$SRV" "$FDW" "$REF" $([ $HAVE_SOCAT = 1 ] && echo "$SOC") $([ $HAVE_HAPROXY = 1 ] && echo "$HAP"); do
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null && break; sleep 0.05; done
done
names=(direct "fdwatch relay" ref_relay); ports=("$SRV" "$FDW" "$REF")
[ $HAVE_SOCAT = 1 ] && { names+=(socat); ports+=("$SOC"); }
[ $HAVE_HAPROXY = 1 ] && { names+=(haproxy); ports+=("$HAP"); }
: > "$WORK/runs.txt"
for ((r = 1; r <= RUNS; r++)); do
  for i in "${!names[@]}"; do
    read -r up down < <("$WORK/relay_peer" client "${ports[$i]}" "$BYTES")
    c=$("$WORK/relay_peer" conns "${ports[$i]}" "$N")
    printf '%s\t%s\t%s\t%s\n' "$i" "$up" "$down" "$c" >> "$WORK/runs.txt"
  done
done
python3 - "$WORK/runs.txt" "$BYTES" "$N" "${names[@]}" <<'PY'
import statistics, sys
path, nbytes, n, names = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
rows = [l.split("\t") for l in open(path)]
res = {}
for i, name in enumerate(names):
    r = [x for x in rows if int(x[0]) == i]
    up = statistics.median(nbytes / float(x[1]) / 1e9 for x in r)
    down = statistics.median(nbytes / float(x[2]) / 1e9 for x in r)
    rate = statistics.median(n / float(x[3]) for x in r)
    res[name] = (up, down, rate)
    print(f"{name:<14} up {up:6.2f} GB/s  down {down:6.2f} GB/s  {rate:8.0f} connections/s  ({len(r)} runs)")
f = res["fdwatch relay"]
for other in ("ref_relay", "haproxy", "direct", "socat"):
    if other in res:
        s = res[other]
        print(f"fdwatch relay / {other + ':':<10} up {f[0]/s[0]:.2f}, down {f[1]/s[1]:.2f}, connections {f[2]/s[2]:.2f}")
PY
