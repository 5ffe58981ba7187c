#!/usr/bin/env bash
# Suite `slurm`: deploy/slurm/flowps-slurm-spec.sh on the variables of jobs
# this single-node test Slurm cannot run (several nodes, a heterogeneous job):
# each task gets the host srun puts it on and its own port, the spec parses
# with flowps's parser (`flowps status` exits 1, tasks down, not 2, bad spec),
# the token is fresh and private, and missing or inconsistent variables are
# refused naming what is wrong. Needs scontrol (slurm-client), nothing running.
#   slurm_spec_test.sh BIN_DIR SOURCE_DIR
set -uo pipefail
bin=$(realpath "$1")
src=$(realpath "$2")
source "$src/tests/deploy/test_lib.sh"

if ! command -v scontrol >/dev/null; then
  require_root "installing slurm-client for scontrol"
  ensure_packages slurm-client -- scontrol
fi
gen=$src/deploy/slurm/flowps-slurm-spec.sh
tmp=$(mktemp -d /tmp/flowps-slurm-spec.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
# scontrol only needs a slurm.conf to expand host lists; no daemon is asked.
printf 'ClusterName=spec\nSlurmctldHost=localhost\nNodeName=localhost CPUs=1\nPartitionName=p Nodes=localhost\n' \
  >"$tmp/slurm.conf"
export SLURM_CONF=$tmp/slurm.conf
unset SLURM_JOB_NODELIST SLURM_TASKS_PER_NODE SLURM_JOB_ID

addresses() { grep -o 'address: .*' "$1/cluster.yaml" | cut -d' ' -f2 | tr '\n' ' '; }
parses() { local rc=0; "$bin/flowps" status --cluster "$1/cluster.yaml" --timeout-ms 1 >/dev/null 2>&1 || rc=$?; [ "$rc" = 1 ]; }

# Two nodes, 2 + 2 tasks, 2 of them ps: block distribution.
SLURM_JOB_NODELIST="n[1-2]" SLURM_TASKS_PER_NODE="2(x2)" "$gen" --out "$tmp/multi" --num-ps 2 --base-port 9000 >/dev/null
check "two nodes: tasks laid out in block order, one port per task" \
  test "$(addresses "$tmp/multi")" = "n1:9000 n1:9001 n2:9002 n2:9003 "
check "   the first two are the ps tasks" \
  test "$(sed -n '/^  ps:/,/^  worker:/p' "$tmp/multi/cluster.yaml" | grep -c address)" = 2
check "   the spec parses with flowps's parser" parses "$tmp/multi"
check "   the token file is private (0600) and 64 hex digits" \
  bash -c "[ \$(stat -c %a '$tmp/multi/cluster.token') = 600 ] && grep -qxE '[0-9a-f]{64}' '$tmp/multi/cluster.token'"

SLURM_JOB_NODELIST="n[1-2]" SLURM_TASKS_PER_NODE="2(x2)" "$gen" --out "$tmp/again" --num-ps 2 >/dev/null
check "each run makes a new token" bash -c "! cmp -s '$tmp/multi/cluster.token' '$tmp/again/cluster.token'"

# Uneven tasks per node.
SLURM_JOB_NODELIST="gpu[07-08],cpu1" SLURM_TASKS_PER_NODE="1,2(x2)" "$gen" --out "$tmp/uneven" >/dev/null
check "uneven tasks per node (1,2(x2)) on three nodes" \
  test "$(addresses "$tmp/uneven")" = "gpu07:17400 gpu08:17401 gpu08:17402 cpu1:17403 cpu1:17404 "

# A heterogeneous job: group 0 the ps tasks, group 1 the workers with GPUs.
SLURM_JOB_NODELIST_HET_GROUP_0=cpu1 SLURM_TASKS_PER_NODE_HET_GROUP_0=1 \
SLURM_JOB_NODELIST_HET_GROUP_1="gpu[1-2]" SLURM_TASKS_PER_NODE_HET_GROUP_1="1(x2)" \
  "$gen" --het --out "$tmp/het" --worker-devices "gpu:0" >/dev/null
check "heterogeneous job: ps from group 0, workers from group 1" \
  test "$(addresses "$tmp/het")" = "cpu1:17400 gpu1:17401 gpu2:17402 "
check "   workers get the GPU devices" test "$(grep -c 'devices: \[gpu:0\]' "$tmp/het/cluster.yaml")" = 2
check "   the spec parses with flowps's parser" parses "$tmp/het"

refused() {  # refused MESSAGE ENV... -- ARGS...: exit 2 and MESSAGE on stderr
  local want=$1 rc=0
  shift
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  env "${envs[@]}" "$gen" "$@" >/dev/null 2>"$tmp/err.txt" || rc=$?
  [ "$rc" = 2 ] && grep -qF "$want" "$tmp/err.txt" || { echo "  exit $rc: $(cat "$tmp/err.txt")"; return 1; }
}
check "outside a job it is refused, naming the variable" \
  refused "SLURM_JOB_NODELIST is not set" -- --out "$tmp/none"
check "as many ps tasks as tasks is refused (no worker)" \
  refused "needs more than --num-ps 2" SLURM_JOB_NODELIST=n1 SLURM_TASKS_PER_NODE=2 -- --out "$tmp/x" --num-ps 2
check "a node list and tasks per node that disagree are refused" \
  refused "has 2 nodes but tasks per node '3' names 1" SLURM_JOB_NODELIST="n[1-2]" SLURM_TASKS_PER_NODE=3 -- --out "$tmp/x"
check "an unreadable tasks per node is refused" \
  refused "cannot read tasks per node '2(y3)'" SLURM_JOB_NODELIST="n[1-3]" SLURM_TASKS_PER_NODE="2(y3)" -- --out "$tmp/x"
check "a heterogeneous job without its group variables is refused" \
  refused "SLURM_JOB_NODELIST_HET_GROUP_0 is not set" SLURM_JOB_NODELIST=n1 SLURM_TASKS_PER_NODE=3 -- --het --out "$tmp/x"
check "nothing is written when refused" test ! -e "$tmp/x/cluster.yaml"

[ "$failures" -eq 0 ] || { echo "$failures checks failed"; exit 1; }
echo "all slurm spec checks passed"
