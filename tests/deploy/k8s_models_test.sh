#!/usr/bin/env bash
# Suite `k8s`: validates deploy/k8s offline with the npm package
# kubernetes-models (the Kubernetes OpenAPI schemas), installed on first use
# into CACHE_DIR. Skipped (77, with the reason) without node/npm or when the
# npm registry cannot be reached.
#   k8s_models_test.sh SOURCE_DIR CACHE_DIR
set -uo pipefail
src=$(realpath "$1")
cache=$2
source "$src/tests/deploy/test_lib.sh"

command -v node >/dev/null || skip "node is not installed (apt-get install nodejs npm)"
command -v npm >/dev/null || skip "npm is not installed (apt-get install npm)"
mkdir -p "$cache"
cache=$(realpath "$cache")
if [ ! -d "$cache/node_modules/kubernetes-models" ] || [ ! -d "$cache/node_modules/js-yaml" ]; then
  echo "installing kubernetes-models and js-yaml into $cache"
  timeout 300 npm install --silent --no-audit --no-fund --prefix "$cache" kubernetes-models@5 js-yaml@4 \
    >"$cache/npm.log" 2>&1 || { tail -5 "$cache/npm.log"; skip "npm cannot install kubernetes-models"; }
fi
cp "$src/tests/deploy/k8s_models_validate.mjs" "$cache/"
cd "$cache" && node k8s_models_validate.mjs "$src/deploy/k8s"
