#!/usr/bin/env bash
# Suite `monitoring`: `flowps submit --trace 3` on a live local cluster of one
# ps shard and two workers (the README's local cluster, on free ports) training
# a sync job. The chief writes <run_dir>/trace.json, names it in its log, in
# `flowps status` and in submit's summary; check_trace.py loads it as
# Perfetto would and checks that every span's parent and task exist, that the
# executor's nodes, the RPCs and the shard's aggregation and apply are there,
# that the spans of a step nest in time, and that a worker's pushPull overlaps
# the shard's apply of that step.
#   trace_test.sh BIN_DIR SOURCE_DIR
set -uo pipefail
source "$(dirname "$0")/monitoring_lib.sh" "$1" "$2" trace
ensure_fashion_mnist

start_small_cluster "$tmp" "$bin" 2 "cpu:0" || exit 1

write_job "$tmp/job.yaml" trace-job 12 "$tmp/run"
check "the traced job trains to its end" \
  timeout 300 "$bin/flowps" submit "$tmp/job.yaml" --cluster "$tmp/cluster.yaml" --trace 3 --wait >"$tmp/submit.log" 2>&1
cat "$tmp/submit.log"
check "submit's summary names the trace" grep -q "trace: $tmp/run/trace.json" "$tmp/submit.log"
check "flowps status names the trace" sh -c "'$bin/flowps' status --cluster '$tmp/cluster.yaml' | grep -q 'trace: $tmp/run/trace.json'"
check "the chief's log names the trace" grep -q "written to $tmp/run/trace.json (open it in https://ui.perfetto.dev" "$tmp/launch.log"
check "the trace lies beside metrics.jsonl" test -s "$tmp/run/metrics.jsonl" -a -s "$tmp/run/trace.json"
check "the trace holds every task, parent and phase (check_trace.py)" \
  python3 "$src/tests/monitoring/check_trace.py" "$tmp/run/trace.json" --ps 1 --workers 2 --steps 3

[ "$failures" -eq 0 ] || { echo "$failures checks failed"; tail -40 "$tmp/launch.log"; exit 1; }
echo "all trace checks passed"
