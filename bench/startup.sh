#!/usr/bin/env bash
# bench/startup.sh - a one-shot check's start-up: `fdwatch 0 0r 1w` beside ref_oneshot.c
# (one select(2), t_select-style output, linked static like fdwatch), RUNS interleaved
# spawns each (default 300) after 20 warm-ups, stdin and stdout /dev/null; medians and
# the ratio. Needs gcc (with the static glibc) and python3.
#   bench/startup.sh          RUNS=300
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-300}
WORK=${WORK:-$ROOT/target/startup-bench}
mkdir -p "$WORK"
gcc -O2 -static -o "$WORK/ref_oneshot" "$ROOT/bench/ref_oneshot.c"
FDWATCH=$("$ROOT/bench/release-bin.sh")
# Both run from copies, as `cargo install` places the binary: a file the linker has just
# written sits in the page cache in small pieces, and its start then takes about ten
# page faults more.
cp "$FDWATCH" "$WORK/fdwatch"
cp "$WORK/ref_oneshot" "$WORK/ref_oneshot.run"
python3 - "$RUNS" "$WORK/fdwatch" "$WORK/ref_oneshot.run" <<'PY'
import os, statistics, sys, time
runs, fdwatch, ref = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cmds = [[fdwatch, "0", "0r", "1w"], [ref, "0", "0r", "1w"]]
devnull = os.open(os.devnull, os.O_RDWR)
fa = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1)]
times = [[] for _ in cmds]
for r in range(20 + runs):
    for i, c in enumerate(cmds):
        t0 = time.perf_counter_ns()
        _, status = os.waitpid(os.posix_spawn(c[0], c, os.environ, file_actions=fa), 0)
        if status != 0:
            sys.exit(f"{' '.join(c)}: exit status {status}")
        if r >= 20:
            times[i].append((time.perf_counter_ns() - t0) / 1e6)
med = [statistics.median(t) for t in times]
for name, m, t in zip(("fdwatch 0 0r 1w", "ref_oneshot 0 0r 1w"), med, times):
    print(f"{name:<22} median {m:.4f} ms  min {min(t):.4f} ms  ({len(t)} runs)")
print(f"fdwatch / ref_oneshot: {med[0] / med[1]:.3f}")
PY
