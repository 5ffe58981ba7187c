#!/usr/bin/env bash
# Suite `monitoring`: `flowps top` driven in a real terminal (tmux, installed
# when missing) on a live local cluster (2 ps shards, 2 workers) training a
# sync job. The screen read back (capture-pane) shows the job with a positive
# step rate, both workers with their examples/s and step-time split, and both
# shards with their pushes and memory; `q` quits it.
#   top_test.sh BIN_DIR SOURCE_DIR
set -uo pipefail
source "$(dirname "$0")/monitoring_lib.sh" "$1" "$2" top
ensure_packages tmux -- tmux
ensure_fashion_mnist
session="flowps-top-$$"
cleanup_more() { tmux kill-session -t "$session" 2>/dev/null || true; }

start_cluster "$tmp" "$bin" || exit 1
write_job "$tmp/job.yaml" top-job 100000 "$tmp/run"   # longer than the test: stopped at its end
"$bin/flowps" submit "$tmp/job.yaml" --cluster "$tmp/cluster.yaml" --wait >"$tmp/submit.log" 2>&1 &
started+=($!)

tmux new-session -d -s "$session" -x 200 -y 30 "'$bin/flowps' top --cluster '$tmp/cluster.yaml'"
screen() { tmux capture-pane -p -t "$session" >"$tmp/screen.txt" 2>/dev/null; }
training_shown() {  # the job steps, both workers compute, both shards applied pushes
  screen || return 1
  grep -Eq "job 'top-job' running: step [0-9]+/100000 .* [1-9][0-9.]* steps/s" "$tmp/screen.txt" &&
    [ "$(grep -Ec '^/job:worker/task:[01] +running +[0-9]+ +[0-9.]+ +[1-9][0-9]* ' "$tmp/screen.txt")" = 2 ] &&
    [ "$(grep -Ec '^/job:ps/task:[01] +[1-9][0-9]* +[1-9][0-9]* ' "$tmp/screen.txt")" = 2 ]
}
check "top shows the job stepping, both workers' examples/s and both shards' pushes" \
  wait_until 120 "a screen of the training job" training_shown
echo "--- the screen"
cat "$tmp/screen.txt"
check "the screen has the step-time split and the memory columns" \
  grep -Eq "PULL ms +COMP ms +PUSH ms +WAIT ms .*RSS" "$tmp/screen.txt"
check "each shard shows its memory" [ "$(grep -Ec '^/job:ps/task:[01] .*(KiB|MiB|GiB) *$' "$tmp/screen.txt")" = 2 ]
check "the chief is marked" grep -Eq "^/job:worker/task:0 .* chief" "$tmp/screen.txt"

tmux send-keys -t "$session" q
gone() { ! tmux has-session -t "$session" 2>/dev/null; }
check "q quits top" wait_until 10 "top to quit on q" gone

[ "$failures" -eq 0 ] || { echo "$failures checks failed"; exit 1; }
echo "all top checks passed"
