#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, runs every meson suite.
# Ends with meson's summary line (Ok / Fail / Skipped counts), then names each
# skipped test with its suite and the reason it gave.
# The suites slurm and netns need root (they start a real Slurm cluster and
# create network namespaces); k8s needs node and npm. Without them those tests
# exit 77 and are listed as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
if [ "$(id -u)" -ne 0 ]; then
  echo "flowps: not root: the suites slurm and netns will be skipped (they need root)"
fi
rc=0
meson test -C build --print-errorlogs --num-processes 2 "$@" || rc=$?
python3 - build/meson-logs/testlog.json <<'PY'
import json, sys
skipped = []
for line in open(sys.argv[1]):
    t = json.loads(line)
    if t.get("result") == "SKIP":
        why = [l for l in (t.get("stdout") or "").splitlines() if l.startswith("SKIPPED:")]
        # meson names a test "<project>:<suite> / <test>".
        skipped.append((t["name"], why[-1][len("SKIPPED: "):] if why else "no reason given"))
for name, why in skipped:
    print(f"flowps: skipped {name}: {why}")
if not skipped:
    print("flowps: no test was skipped")
PY
exit "$rc"
