#!/usr/bin/env bash
# Suite `slurm`: a real single-node Slurm cluster (munged, slurmctld, slurmd
# started from a slurm.conf in a temporary folder, no systemd) runs
# deploy/slurm/flowps.sbatch: 1 ps and 2 workers under `srun --multi-prog` on
# 2 CPUs (--overcommit), with FLOWPS_JOB a short sync training job (300 steps
# of the MLP on Fashion-MNIST). The job must become healthy over RPC, train
# (every step, to at least 75 % test accuracy, metrics written), stop its
# tasks cleanly and end COMPLETED with exit code 0; no flowps task may outlive
# it.
# Then a job whose tasks cannot start (a bad spec) must end FAILED quickly.
# Everything started here is stopped by PID at the end, also on failure.
#
#   slurm_test.sh BIN_DIR SOURCE_DIR
set -uo pipefail
bin=$(realpath "$1")
src=$(realpath "$2")
source "$src/tests/deploy/test_lib.sh"

require_root "a real Slurm cluster (slurmd, munged)"
ensure_packages slurmctld slurmd slurm-client munge -- slurmctld slurmd sbatch munged scontrol
ensure_fashion_mnist

tmp=$(mktemp -d /tmp/flowps-slurm.XXXXXX)
chmod 0700 "$tmp"
mkdir -p /run/munge
munge_pid_file=/run/munge/flowps-test-$$.pid
pids=()
failures=0
cleanup() {
  [ "${#pids[@]}" -eq 0 ] || stop_pids "${pids[@]}"
  # Tasks a broken step might have left: found by their spec path, stopped by PID.
  local stray
  stray=$(pgrep -f -- "--cluster $tmp/" || true)
  [ -z "$stray" ] || { echo "stopping leftover processes $stray"; stop_pids $stray; }
  rm -f "$munge_pid_file"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# munged with its own key and socket; the pid file where munged wants it.
dd if=/dev/urandom of="$tmp/munge.key" bs=1 count=1024 status=none
chmod 0400 "$tmp/munge.key"
munged --foreground --force --key-file="$tmp/munge.key" --socket="$tmp/munge.socket" \
  --pid-file="$munge_pid_file" --seed-file="$tmp/munge.seed" --log-file="$tmp/munged.log" \
  >"$tmp/munged.out" 2>&1 &
pids+=($!)
wait_until 20 "munged listening" test -S "$tmp/munge.socket" || { cat "$tmp/munged.log"; exit 1; }

# Ports unlikely to be taken, different for each run of the test.
port=$((20000 + ($$ % 2000) * 8))
mkdir -p "$tmp/state" "$tmp/spool"
cat >"$tmp/slurm.conf" <<CONF
ClusterName=flowpstest
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$tmp/munge.socket
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=600
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=flowps Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$tmp/slurm.conf

slurmctld -D -c -f "$SLURM_CONF" >"$tmp/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N localhost -f "$SLURM_CONF" >"$tmp/slurmd.out" 2>&1 &
pids+=($!)
node_idle() { scontrol show node localhost 2>/dev/null | grep -q 'State=IDLE'; }
if ! wait_until 60 "the Slurm node idle" node_idle; then
  tail -20 "$tmp/slurmctld.log" "$tmp/slurmd.log"
  exit 1
fi
echo "ok: single-node Slurm up (slurmctld port $port)"

# submit JOB_NAME EXTRA_ENV...: sbatch --wait (bounded), prints the job id.
submit() {
  local name=$1
  shift
  env "$@" FLOWPS_BIN="$bin" FLOWPS_DEPLOY_DIR="$src/deploy/slurm" FLOWPS_RUN_DIR="$tmp/$name" \
    timeout 180 sbatch --parsable --wait --job-name="$name" --output="$tmp/$name.out" --chdir="$tmp" \
    "$src/deploy/slurm/flowps.sbatch"
}
job_field() { scontrol show job "$1" | tr ' ' '\n' | grep "^$2=" | head -1 | cut -d= -f2; }

# 1. A training job: every task answers over RPC, the job trains, all stop cleanly.
steps=300
write_job "$tmp/train.yaml" slurm-train "$steps" "$tmp/run"
job=$(submit healthy FLOWPS_BASE_PORT=$((port + 2)) FLOWPS_JOB="$tmp/train.yaml")
echo "job $job (training) output:"
sed 's/^/  | /' "$tmp/healthy.out"
accuracy=$(final_accuracy "$tmp/healthy.out")
check "the job trained every step ($steps/$steps)" grep -q "step $steps/$steps " "$tmp/healthy.out"
check "to at least 75 % test accuracy (${accuracy:-none}%)" test "${accuracy:-0}" -ge 75
check "the chief wrote the metrics of the last step" grep -q "\"step\":$steps," "$tmp/run/metrics.jsonl"
check "the job ended COMPLETED" test "$(job_field "$job" JobState)" = COMPLETED
check "the job's exit code is 0:0" test "$(job_field "$job" ExitCode)" = 0:0
check "three tasks ran under srun --multi-prog" grep -q "3 of 3 tasks healthy" "$tmp/healthy.out"
check "every task stopped cleanly" grep -q "work exit code 0, task steps exit code 0" "$tmp/healthy.out"
check "the token file is private (0600)" test "$(stat -c %a "$tmp/healthy/cluster.token")" = 600
check "the spec names the Slurm node" grep -q "address: localhost:$((port + 4))" "$tmp/healthy/cluster.yaml"
check "no flowps task outlived the job" none_running "--cluster $tmp/healthy/"

# 2. Tasks that cannot start: the job fails, it does not hang.

# Ports 65534..65536: the last is out of range, so every task refuses the spec.
job=$(submit broken FLOWPS_BASE_PORT=65534 FLOWPS_READY_S=30)
echo "job $job (broken) output:"
sed 's/^/  | /' "$tmp/broken.out"
check "a job whose tasks cannot start ends FAILED" test "$(job_field "$job" JobState)" = FAILED
check "no flowps task outlived the failed job" none_running "--cluster $tmp/broken/"

[ "$failures" -eq 0 ] || { echo "$failures checks failed"; tail -20 "$tmp/slurmctld.log"; exit 1; }
echo "all slurm checks passed"
