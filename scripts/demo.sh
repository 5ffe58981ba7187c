#!/usr/bin/env bash
# The README's main command: install what is missing, build, launch a local
# cluster of 2 ps shards and 2 workers (configs/local-2x2.yaml), train the MLP
# on Fashion-MNIST (configs/jobs/mlp_2x2.yaml) with progress, rate and ETA,
# print the summary line (final test accuracy, time, examples/s, metrics file
# and plot), and stop the cluster cleanly. Safe to run again: each run starts
# the job afresh (its run folder and checkpoints are removed first).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh

SPEC=configs/local-2x2.yaml
JOB=configs/jobs/mlp_2x2.yaml
RUN_DIR=runs/mlp_2x2
TARGET=85
BIN=build/src/cli
mkdir -p run
LOG=run/demo-launch.log
PIDFILE=run/demo-launch.pid

# A launch left running by an interrupted earlier demo holds the ports: stop it.
if [ -f "$PIDFILE" ]; then
  old=$(cat "$PIDFILE")
  if kill -0 "$old" 2>/dev/null && grep -q "flowps" "/proc/$old/cmdline" 2>/dev/null; then
    echo "demo: stopping the cluster of an earlier run (pid $old)"
    kill -TERM "$old"
    for _ in $(seq 1 100); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$PIDFILE"
fi
# A fresh run: a job submitted again would resume from its newest checkpoint.
rm -rf "$RUN_DIR"

echo "demo: launching $SPEC (2 ps, 2 workers)"
"$BIN/flowps" launch "$SPEC" >"$LOG" 2>&1 &
LAUNCH=$!
echo "$LAUNCH" >"$PIDFILE"
stop_cluster() {
  if kill -0 "$LAUNCH" 2>/dev/null; then
    kill -TERM "$LAUNCH"
    wait "$LAUNCH" || true
  fi
  rm -f "$PIDFILE"
}
trap stop_cluster EXIT

healthy=no
for _ in $(seq 1 150); do
  if ! kill -0 "$LAUNCH" 2>/dev/null; then
    echo "demo: flowps launch stopped early; its output:" >&2
    cat "$LOG" >&2
    exit 1
  fi
  if grep -q "local tasks are healthy" "$LOG"; then healthy=yes; break; fi
  sleep 0.2
done
if [ "$healthy" != yes ]; then
  echo "demo: the cluster did not become healthy; flowps launch said:" >&2
  cat "$LOG" >&2
  exit 1
fi
"$BIN/flowps" status --cluster "$SPEC" | sed 's/^/  /'

echo
echo "demo: flowps submit $JOB --cluster $SPEC --wait"
"$BIN/flowps" submit "$JOB" --cluster "$SPEC" --wait --poll-s 2 | tee run/demo-submit.log
summary=$(grep "done: final test accuracy" run/demo-submit.log || true)

echo
echo "demo: flowps status --cluster $SPEC"
"$BIN/flowps" status --cluster "$SPEC" | sed 's/^/  /'

echo
echo "demo: stopping the cluster (SIGTERM to flowps launch)"
kill -TERM "$LAUNCH"
rc=0
wait "$LAUNCH" || rc=$?
trap - EXIT
rm -f "$PIDFILE"
grep "^flowps launch:" "$LOG" | tail -n 5
if [ "$rc" -ne 0 ]; then
  echo "demo: flowps launch exited with $rc" >&2
  exit 1
fi
if [ -z "$summary" ]; then
  echo "demo: the job did not finish; see $LOG and flowps logs" >&2
  exit 1
fi
accuracy=$(sed -n 's/.*final test accuracy \([0-9.]*\)%.*/\1/p' <<<"$summary")
echo
echo "demo: $summary"
if awk -v a="$accuracy" -v t="$TARGET" 'BEGIN { exit !(a >= t) }'; then
  echo "demo: test accuracy $accuracy% >= $TARGET%; every task stopped"
else
  echo "demo: test accuracy $accuracy% is below $TARGET%" >&2
  exit 1
fi
