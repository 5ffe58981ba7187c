#!/usr/bin/env bash
# Configures (once) and builds flowps into ./build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
  meson setup build
fi
ninja -C build
