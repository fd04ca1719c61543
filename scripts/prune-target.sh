#!/usr/bin/env bash
# The cargo target folder outlives clones (it is what keeps CI and `make test` warm), so each
# rebuild of a test binary leaves the old one behind: tens of GB after a few weeks. Builds the
# workspace's tests (`cargo test --no-run`, which `cargo test` would do anyway), asks cargo which
# executables are current, and deletes the other executables of the test profile's deps and
# examples folders. Binaries and examples are current when they are the file (same inode) cargo
# copied to its named place.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo test --workspace --no-run --message-format=json-render-diagnostics | python3 -c '
import json, os, sys
current = set()
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    exe = msg.get("executable") if msg.get("reason") == "compiler-artifact" else None
    if exe and os.path.exists(exe):
        st = os.stat(exe)
        current.add((st.st_dev, st.st_ino))
if not current:
    sys.exit("prune-target: cargo listed no executables; nothing deleted")
target = os.environ["CARGO_TARGET_DIR"]
freed = 0
for sub in ("debug/deps", "debug/examples"):
    folder = os.path.join(target, sub)
    if not os.path.isdir(folder):
        continue
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if "." in name or not os.path.isfile(path) or not os.access(path, os.X_OK):
            continue
        st = os.stat(path)
        if (st.st_dev, st.st_ino) not in current:
            freed += st.st_size
            os.remove(path)
            if os.path.exists(path + ".d"):
                os.remove(path + ".d")
print(f"prune-target: removed {freed // 1048576} MiB of stale test executables")
'
