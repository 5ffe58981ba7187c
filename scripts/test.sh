#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, runs every meson suite.
# Ends with meson's summary line (Ok / Fail / Skipped counts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
meson test -C build --print-errorlogs --num-processes 2 "$@"
