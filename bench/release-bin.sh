#!/usr/bin/env bash
# bench/release-bin.sh - builds fdwatch in release mode and prints the binary's path,
# which depends on the build target (.cargo/config.toml), so cargo is asked. The bench
# scripts share it.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(cargo build --release --message-format=json-render-diagnostics |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "fdwatch":
        print(m["executable"])')
[ -x "$bin" ] || { echo "release-bin.sh: the release build gave no fdwatch binary" >&2; exit 2; }
echo "$bin"
