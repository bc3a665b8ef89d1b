#!/usr/bin/env bash
# bench/startup-order.sh - regenerates link/startup.ld, the link order that puts what a
# one-shot check touches at start-up next to each other. A page fault maps the 64 KiB
# around it, so code and constants spread over the whole binary cost a fault per 64 KiB
# window touched; gathered, a handful. The script builds the release binary with a link
# map, runs `fdwatch 0 0r 1w` under valgrind's lackey (every instruction and memory
# address), finds the input section of each address in the map, and writes a patterns
# file for the linker (bench/startup-order.py; hashes in symbol names become wildcards,
# so an edit elsewhere in the code does not make it stale). valgrind's CPU picks other
# string functions than a real one (no AVX-512) and a run under it is slow enough to
# format its times other ways, so where perf works the page faults of real runs add
# what the traces missed, over ROUNDS builds (default 3: each fault shows one miss per
# 64 KiB window). Run it after changing what start-up runs; a stale file only costs
# start-up time (tests/it/startup.rs checks that its patterns still name functions of
# the binary). Needs valgrind and python3 (and perf for the second part).
#   bench/startup-order.sh          ROUNDS=3
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$ROOT/target/startup-order}
ROUNDS=${ROUNDS:-3}
mkdir -p "$WORK"
export FDWATCH_LINK_MAP="$WORK/fdwatch.map"
SECTIONS="$WORK/sections.txt"
: >"$SECTIONS"
resolve() { python3 "$ROOT/bench/startup-order.py" resolve "$FDWATCH_LINK_MAP" "$@" >>"$SECTIONS"; }
# Two runs each: /dev/null (what bench/startup.sh times) and pipes (a shell pipeline).
trace() { valgrind --tool=lackey --trace-mem=yes --log-file="$WORK/$1" "$FDWATCH" 0 0r 1w; }
faults() {
  perf record -q -o "$WORK/faults.data" -e page-faults -c 1 -d "$FDWATCH" 0 0r 1w &&
    perf script -i "$WORK/faults.data" -F addr | sed 's/^ */F /' >>"$WORK/faults.txt"
}
for ((round = 1; round <= ROUNDS; round++)); do
  FDWATCH=$("$ROOT/bench/release-bin.sh")
  if ((round == 1)); then
    trace null.txt </dev/null >/dev/null
    echo data | trace pipe.txt | cat >/dev/null
    resolve "$WORK/null.txt" "$WORK/pipe.txt"
  fi
  : >"$WORK/faults.txt"
  if { faults </dev/null >/dev/null && echo data | faults | cat >/dev/null; } 2>/dev/null; then
    resolve "$WORK/faults.txt"
  else
    echo "startup-order.sh: perf record did not run; valgrind's traces alone" >&2
    ROUNDS=1
  fi
  python3 "$ROOT/bench/startup-order.py" write "$SECTIONS" >"$ROOT/link/startup.ld"
  echo "round $round: link/startup.ld has $(grep -c '^    ' "$ROOT/link/startup.ld") patterns"
done
