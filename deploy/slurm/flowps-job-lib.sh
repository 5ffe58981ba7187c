# Shared by flowps.sbatch and flowps-het.sbatch (sourced, after the task steps
# were started in the background and their srun PIDs put in step_pids):
# waits for the cluster to be healthy, runs the work, stops the steps.
# Needs: bin, spec, run_dir, step_pids (array).

# Stops the task steps: SIGTERM to their tasks through `scancel --signal=TERM`
# (which spares the batch script; a SIGTERM to srun itself would make it
# SIGKILL the tasks), then waits up to 30 s for every srun to end before
# forcing it. Returns the first non-zero exit code of the steps.
stop_steps() {
  local pid rc=0 r alive i
  for pid in "${step_pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
  [ -z "${alive:-}" ] || scancel --signal=TERM "$SLURM_JOB_ID"
  for ((i = 0; i < 150; i++)); do
    alive=
    for pid in "${step_pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ -n "$alive" ] || break
    sleep 0.2
  done
  for pid in "${step_pids[@]}"; do
    kill -0 "$pid" 2>/dev/null && { echo "flowps job: step (srun pid $pid) still running after 30 s: ending it" >&2; kill -TERM "$pid"; }
  done
  for pid in "${step_pids[@]}"; do
    r=0
    wait "$pid" || r=$?
    [ "$rc" -ne 0 ] || rc=$r
  done
  return "$rc"
}

# Every task answers its health call over RPC within $1 seconds, and no step
# ended before that; otherwise stops the steps and returns 1.
wait_healthy() {
  local deadline=$((SECONDS + $1)) pid
  until "$bin/flowps" status --cluster "$spec" --timeout-ms 1000 >"$run_dir/status.txt" 2>&1; do
    for pid in "${step_pids[@]}"; do
      if ! kill -0 "$pid" 2>/dev/null; then
        echo "flowps job: a task step ended before the cluster was healthy" >&2
        cat "$run_dir/status.txt" >&2
        stop_steps || true
        return 1
      fi
    done
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "flowps job: not every task became healthy within $1 s" >&2
      cat "$run_dir/status.txt" >&2
      stop_steps || true
      return 1
    fi
    sleep 1
  done
  echo "flowps job: cluster healthy"
  cat "$run_dir/status.txt"
}

# The work on the healthy cluster, then the stop; the job's exit code.
run_work_and_stop() {
  local work_rc=0 step_rc=0
  if [ -n "${FLOWPS_JOB:-}" ]; then
    # --wait: follow the job to its end; exit 0 only when it finished training.
    "$bin/flowps" submit "$FLOWPS_JOB" --cluster "$spec" --wait || work_rc=$?
  fi
  stop_steps || step_rc=$?
  echo "flowps job: work exit code $work_rc, task steps exit code $step_rc"
  [ "$work_rc" -eq 0 ] && [ "$step_rc" -eq 0 ]
}
