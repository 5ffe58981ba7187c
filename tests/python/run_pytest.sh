#!/usr/bin/env bash
# Runs the pytest suite of tests/python against the built package.
# Usage: run_pytest.sh PYTHON PACKAGE_DIR (the folder holding flowps/).
# Exits 77 with a SKIPPED: line when PYTHON lacks pytest or numpy.
set -euo pipefail
python="$1"
package_dir="$(cd "$2" && pwd)"
here="$(cd "$(dirname "$0")" && pwd)"
for module in pytest numpy; do
  if ! "$python" -c "import $module" 2>/dev/null; then
    echo "SKIPPED: $python has no module $module (install python3-$module)"
    exit 77
  fi
done
cd "$here"
# The cluster tests start build/src/cli/flowps-ps and flowps-worker.
export FLOWPS_BIN_DIR="${FLOWPS_BIN_DIR:-$(cd "$package_dir/../src/cli" && pwd)}"
PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$package_dir" exec "$python" -m pytest -q -p no:cacheprovider "$here"
