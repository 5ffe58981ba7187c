#!/usr/bin/env bash
# Suite `monitoring`: `flowps submit --trace 3` on a live local cluster of one
# ps shard and two workers (the README's local cluster, on free ports) training
# a sync job. The chief writes <run_dir>/trace.json, names it in its log, in
# `flowps status` and in submit's summary; check_trace.py loads it as
# Perfetto would and checks that every span's parent and task exist, that the
# executor's nodes, the RPCs and the shard's aggregation and apply are there,
# that the spans of a step nest in time, and that a worker's pushPull overlaps
# the shard's apply of that step. Then two async jobs on the same cluster,
# without and with mode.prefetch: every traced push has the shard's outcome
# under it, never a duplicate (without prefetch: apply, every time; with it,
# the two pushes computed from one step are told apart by their seq), the file was written with no
# span in flight (the chief's last collection waits for them), each step's
# spans carry its own number, and with prefetch the next step's compute
# overlaps the push.
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

# Async, with and without prefetch: worker 1 may still push when the chief
# ends the job; the chief's last collection waits for its spans.
async_job() {  # async_job NAME PREFETCH(true|false)
  sed -e "s/^  type: sync\$/  type: async\\n  prefetch: $2/" -e '/replicas_to_aggregate/d' -e "s/^name: trace-job\$/name: $1/" \
    -e 's/^  steps: 12$/  steps: 200/' -e "s|^run_dir: .*|run_dir: $tmp/$1|" "$tmp/job.yaml" >"$tmp/$1.yaml"
  check "$1 is an async job (prefetch: $2)" grep -q "prefetch: $2" "$tmp/$1.yaml"
  check "the traced job $1 trains to its end" \
    timeout 300 "$bin/flowps" submit "$tmp/$1.yaml" --cluster "$tmp/cluster.yaml" --trace 3 --wait >"$tmp/$1.log" 2>&1
  cat "$tmp/$1.log"
}
async_job trace-async false
check "the async trace has the shard's apply of every traced push (check_trace.py)" \
  python3 "$src/tests/monitoring/check_trace.py" "$tmp/trace-async/trace.json" --ps 1 --workers 2 --steps 3 --async --all-applied
async_job trace-prefetch true
check "the prefetch trace files each step's spans under it, overlapping, with every outcome (check_trace.py)" \
  python3 "$src/tests/monitoring/check_trace.py" "$tmp/trace-prefetch/trace.json" --ps 1 --workers 2 --steps 3 --async --prefetch

check "the chief's last collections found every span (none left in flight)" \
  sh -c "! grep -q 'spans still in flight' '$tmp/launch.log'"

[ "$failures" -eq 0 ] || { echo "$failures checks failed"; tail -40 "$tmp/launch.log"; exit 1; }
echo "all trace checks passed"
