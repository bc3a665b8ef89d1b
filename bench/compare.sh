#!/usr/bin/env bash
# bench/compare.sh - fdwatch against the C references, as ratios from one run.
#
#   bench/compare.sh              build release, run the reference kit with fdwatch rows
#                                 (readiness, one-shot startup, --tee throughput), then
#                                 the monitor-at-scale bench; exit 1 if a target is missed
#   QUICK=1 bench/compare.sh      a smoke run of the same (seconds; ratios mean little)
#
# Env: KIT (the reference kit's directory, required: the repository does not hold the
# kit), WORK (default target/ref-bench), FDS (default "10 1000 10000"), and run.sh's own
# knobs (REPEATS, MS, SIZE, RUNS). Needs gcc, python3 and coreutils; hyperfine, pv and
# taskset are used when present. Figures from another run or machine are never
# compared: only ratios from this run count (see the kit's README).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KIT=${KIT:-}
[ -n "$KIT" ] && [ -x "$KIT/run.sh" ] || { echo "compare.sh: no reference kit at ${KIT:-(KIT unset)} (set KIT=...)" >&2; exit 2; }
cd "$ROOT"

FDWATCH=$("$ROOT/bench/release-bin.sh")
echo "fdwatch: $FDWATCH" >&2

export FDWATCH
export EXTRA_CONSUMER="$FDWATCH -m --tee - 2>/dev/null"
export FDS=${FDS:-10 1000 10000}
export WORK=${WORK:-$ROOT/target/ref-bench}
status=0
"$KIT/run.sh" || status=$?

echo
echo "monitor at scale (cargo bench --bench monitor): 1 active pipe among N idle ones"
if [ "${QUICK:-0}" != 1 ]; then
  cargo bench --bench monitor || status=1
else
  echo "(skipped in QUICK mode)"
fi
exit $status
