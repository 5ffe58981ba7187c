#!/usr/bin/env bash
# The main job, for now: install what is missing, build, launch the example
# local cluster (configs/local.yaml), show that every task is healthy, show a
# few lines of its merged log stream, and stop it cleanly. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh

SPEC=configs/local.yaml
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

echo "demo: launching $SPEC"
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

echo
echo "demo: flowps status --cluster $SPEC"
"$BIN/flowps" status --cluster "$SPEC"
echo
echo "demo: flowps logs --cluster $SPEC (first lines)"
"$BIN/flowps" logs --cluster "$SPEC" >run/demo-logs.txt
head -n 8 run/demo-logs.txt
echo
echo "demo: stopping the cluster (SIGTERM to flowps launch)"
kill -TERM "$LAUNCH"
rc=0
wait "$LAUNCH" || rc=$?
trap - EXIT
rm -f "$PIDFILE"
grep "^flowps launch:" "$LOG"
if [ "$rc" -ne 0 ]; then
  echo "demo: flowps launch exited with $rc" >&2
  exit 1
fi
echo "demo: done; every task stopped"
