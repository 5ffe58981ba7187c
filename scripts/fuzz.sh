#!/usr/bin/env bash
# The fuzz suite: builds the libFuzzer targets of tests/fuzz in build-fuzz
# (clang++, AddressSanitizer; the main build stays on g++) and runs each for
# FUZZ_SECONDS (default 8; seven targets, about a minute in all) on its seed
# corpus (tests/fuzz/corpus/<target>, read only; new inputs go to a temporary
# folder). Exits 77 with a SKIPPED: line where clang++ or libFuzzer is
# missing, 1 when a target crashed, leaked or hung (the input that did it is
# kept under build-fuzz/crashes/ and named).
#   bash scripts/fuzz.sh [target...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${FUZZ_SECONDS:-8}"
all=(fuzz_rpc_wire fuzz_ps_service fuzz_tensor_codec fuzz_graph_def fuzz_cluster_spec fuzz_job_spec fuzz_checkpoint)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi

if ! command -v clang++ >/dev/null 2>&1; then
  echo "SKIPPED: clang++ is not installed (scripts/install-deps.sh installs clang and libfuzzer-14-dev)"
  exit 77
fi
probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' > "$probe/p.cc"
if ! clang++ -fsanitize=fuzzer "$probe/p.cc" -o "$probe/p" >/dev/null 2>&1; then
  echo "SKIPPED: clang++ cannot link libFuzzer (install libfuzzer-14-dev)"
  exit 77
fi

# A cheap build (docs/PERFORMANCE.md, "Fuzz build"): only the libraries the
# targets link (ninja builds just the targets), no tests, no CUDA, no Python,
# -O1 with line tables only. A build dir made with other options is made anew.
options=(-Dfuzz=true -Dtests=false -Dgpu=disabled -Dpython=disabled -Doptimization=1 -Ddebug=false)
if [ ! -f "$build/build.ninja" ] || [ "$(cat "$build/.fuzz-options" 2>/dev/null)" != "${options[*]}" ]; then
  rm -rf "$build"
  CXX=clang++ meson setup "$build" "$root" "${options[@]}" >"$probe/setup.log" 2>&1 || { cat "$probe/setup.log"; exit 1; }
  echo "${options[*]}" > "$build/.fuzz-options"
fi
started=$(date +%s)
ninja -C "$build" $(printf 'tests/fuzz/%s ' "${targets[@]}") >"$probe/build.log" 2>&1 || { tail -50 "$probe/build.log"; exit 1; }
echo "fuzz: targets built in $(( $(date +%s) - started )) s ($(grep -c 'Compiling' "$probe/build.log" || true) files compiled)"

failed=0
mkdir -p "$build/crashes"
for t in "${targets[@]}"; do
  new="$probe/corpus-$t"
  mkdir -p "$new"
  log="$build/crashes/$t.log"
  malloc_mb=2048
  if (cd "$probe" && "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -error_exitcode=1 -timeout_exitcode=1 -rss_limit_mb=2048 \
        -malloc_limit_mb=$malloc_mb -print_final_stats=1 -artifact_prefix="$build/crashes/$t-" \
        "$new" "$root/tests/fuzz/corpus/$t") >"$log" 2>&1; then
    echo "fuzz: $t: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') runs, no crash"
  else
    failed=1
    echo "fuzz: $t FAILED; log: $log"
    grep -E 'ERROR: |SUMMARY: |Test unit written to' "$log" | head -5
    # The first frames say where (CI keeps only this output, not the log).
    grep -E '^ +#[0-9]+ ' "$log" | grep -v -E 'libFuzzer|fuzzer::|__sanitizer|libc\.so|_start' | head -12 || true
  fi
done
exit "$failed"
