#!/usr/bin/env bash
# Suite `netns`: three "hosts" (network namespaces ps, w0, w1) joined by a
# bridge in a fourth namespace, with addresses 10.77.0.1-3/24 that exist only
# inside them. flowps-ps and two flowps-worker daemons run one per host from a
# generated cluster spec and must answer each other's health calls over RPC
# across the bridge:
#   1. plain;
#   2. with a bandwidth cap (tc tbf) on the ps host's link, whose counters must
#      show the traffic went through it;
#   3. with 10 % packet loss (nftables inside the ps namespace), counted;
#   4. with worker 1's link taken down (it must be seen DOWN while the others
#      stay healthy) and up again (healthy again, the same process), while a
#      log stream (`flowps logs -f`) from the ps host, opened before the flap,
#      must still carry worker 1's new lines after it;
#   5. with worker 1 pushing updates while its link goes down and up: it must
#      retry, and the ps must hold every update exactly once.
#   6. real training (`flowps submit --wait` from the ps host to the chief on
#      w0; sync mode, both workers needed for every step), each round on fresh
#      daemons: plain; through a tbf cap; with worker 1's link down for 6 s
#      mid-training and up again, its connections to the ps reset (it must
#      reconnect and repeat its calls in flight). Each job must finish, and
#      the ps must report
#      exactly one optimizer application per global step, every step counted
#      from both workers, none dropped as stale.
# In 1-4, besides the health calls, both worker hosts push updates to the ps
# (tests/deploy/ps_traffic.cc, a worker-like client) and the ps must hold
# exactly their sum after each round.
# Finally every daemon must stop cleanly on SIGTERM. The namespaces, links and
# processes are removed at the end, also on failure.
#
#   netns_test.sh BIN_DIR SOURCE_DIR PS_TRAFFIC     (KEEP_TMP=1 keeps the logs in /tmp/flowps-netns.*)
set -uo pipefail
bin=$(realpath "$1")
src=$(realpath "$2")
traffic=$(realpath "$3")
source "$src/tests/deploy/test_lib.sh"

require_root "creating network namespaces"
ensure_packages iproute2 nftables util-linux -- ip tc nft nsenter
ensure_fashion_mnist
ip netns add "fpsprobe$$" 2>/dev/null || skip "cannot create a network namespace here (no CAP_SYS_ADMIN?)"
ip netns del "fpsprobe$$"

tag=fp$$
hosts=(ps w0 w1)
declare -A addr=([ps]=10.77.0.1 [w0]=10.77.0.2 [w1]=10.77.0.3)
tmp=$(mktemp -d /tmp/flowps-netns.XXXXXX)
declare -A pid_of=()
failures=0
cleanup() {
  local pids=("${pid_of[@]}")
  [ "${#pids[@]}" -eq 0 ] || stop_pids "${pids[@]}"
  for h in br "${hosts[@]}"; do ip netns del "$tag-$h" 2>/dev/null || true; done
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The network: a bridge in $tag-br, one veth pair per host (eth0 inside the host).
must() { "$@" || { echo "FAIL: setting up the network: $*"; exit 1; }; }
must ip netns add "$tag-br"
must ip -n "$tag-br" link add br0 type bridge
must ip -n "$tag-br" link set br0 up
for h in "${hosts[@]}"; do
  must ip netns add "$tag-$h"
  must ip -n "$tag-br" link add "v-$h" type veth peer name eth0 netns "$tag-$h"
  must ip -n "$tag-br" link set "v-$h" master br0 up
  must ip -n "$tag-$h" link set lo up
  must ip -n "$tag-$h" addr add "${addr[$h]}/24" dev eth0
  must ip -n "$tag-$h" link set eth0 up
done
# nsenter execs the program itself (`ip netns exec` would fork and wait), so
# $! is the daemon's own PID.
in_ns() { local h=$1; shift; nsenter --net="/run/netns/$tag-$h" -- "$@"; }
only_local_route() { [ "$(ip -n "$tag-$1" route show | grep -vc '^10\.77\.0\.0/24 ')" = 0 ]; }
for h in "${hosts[@]}"; do
  check "host $h has no route but 10.77.0.0/24 (no traffic leaves the namespaces)" only_local_route "$h"
done

od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$tmp/cluster.token"
chmod 0600 "$tmp/cluster.token"
cat >"$tmp/cluster.yaml" <<SPEC
token_file: cluster.token
jobs:
  ps:
    tasks:
      - address: ${addr[ps]}:7400
  worker:
    chief: 0
    tasks:
      - address: ${addr[w0]}:7500
      - address: ${addr[w1]}:7500
SPEC
spec=$tmp/cluster.yaml

start() {  # start HOST PROGRAM TASK
  nsenter --net="/run/netns/$tag-$1" -- "$bin/$2" --cluster "$spec" --task "$3" --log-level debug \
    >"$tmp/$1.log" 2>&1 &
  pid_of[$1]=$!
}
start ps flowps-ps 0
start w0 flowps-worker 0
start w1 flowps-worker 1

status_from() { in_ns "$1" "$bin/flowps" status --cluster "$spec" --timeout-ms "${2:-1000}" >"$tmp/status.txt" 2>&1; }
all_healthy_from() { status_from "$1" "${2:-1000}"; }
show_status() { sed 's/^/  | /' "$tmp/status.txt"; }

# What runs across the hosts: every host asks every task for its health over
# RPC (login with the token, then the call), and both worker hosts push
# $pushes updates each to the ps over the bridge (ps_traffic, a worker-like
# client: the worker loop is not there yet), after which the ps must hold
# exactly the sum of all updates pushed so far: none lost, none applied twice.
# When `flowps submit` exists, a short training job goes here too.
pushes=20
total=0
start_pushes() {  # start_pushes HOST WORKER N [STEP_MS]: N updates as worker WORKER, in the background
  nsenter --net="/run/netns/$tag-$1" -- "$traffic" --cluster "$spec" --worker "$2" --pushes "$3" \
    --step-ms "${4:-0}" --deadline-s 60 >"$tmp/push-$1.txt" 2>&1 &
  pid_of[push-$1]=$!
}
finish_pushes() {  # finish_pushes HOST: waits for them (bounded by their deadline); their exit code
  local rc=0
  wait "${pid_of[push-$1]}" || rc=$?
  unset "pid_of[push-$1]"
  sed 's/^/  | /' "$tmp/push-$1.txt"
  return "$rc"
}
ps_holds_total() {
  in_ns w0 "$traffic" --cluster "$spec" --check "$total" --deadline-s 20 >"$tmp/check.txt" 2>&1 ||
    { sed 's/^/  | /' "$tmp/check.txt"; return 1; }
  sed 's/^/  | /' "$tmp/check.txt"
}
run_across() {
  local h ok=0
  for h in "${hosts[@]}"; do all_healthy_from "$h" "${1:-1000}" || { ok=1; show_status; }; done
  start_pushes w0 0 "$pushes"
  start_pushes w1 1 "$pushes"
  finish_pushes w0 || ok=1
  finish_pushes w1 || ok=1
  total=$((total + 2 * pushes))
  ps_holds_total || ok=1
  return "$ok"
}

if ! wait_until 30 "all three daemons healthy" all_healthy_from w0; then
  show_status
  tail -5 "$tmp"/*.log
  exit 1
fi
show_status
check "the chief host configures the ps and creates w over the bridge" \
  in_ns w0 "$traffic" --cluster "$spec" --setup --deadline-s 20
check "1. every host reaches every task; both workers' updates all reach the ps" run_across

# 2. A bandwidth cap on the ps host's link.
must in_ns ps tc qdisc add dev eth0 root tbf rate 20mbit burst 32kb latency 400ms
check "2. the same through a 20 Mbit/s cap on the ps host's link" run_across 3000
tbf_bytes() { in_ns ps tc -s qdisc show dev eth0 | awk '/Sent/ {print $2; exit}'; }
# Each pull sends w (16384 floats, 64 KiB) from the ps through the cap.
check "the capped link carried the pulls ($(tbf_bytes) bytes through tbf)" \
  test "$(tbf_bytes)" -ge $((2 * pushes * 65536))
in_ns ps tc qdisc del dev eth0 root

# 3. 10 % loss on what the ps host receives.
must in_ns ps nft -f - <<'NFT'
table inet flowps_loss {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "eth0" numgen random mod 100 < 10 counter drop
  }
}
NFT
check "3. the same with 10 % loss" run_across 10000
dropped=$(in_ns ps nft list table inet flowps_loss | awk '/counter/ {for (i=1;i<=NF;i++) if ($i=="packets") print $(i+1)}')
check "the loss rule dropped packets (${dropped:-0})" test "${dropped:-0}" -gt 0
in_ns ps nft delete table inet flowps_loss

# 4. Worker 1's link down, then up again. A log stream from the ps host to
# every task, opened before, must still carry worker 1's new lines after.
nsenter --net="/run/netns/$tag-ps" -- "$bin/flowps" logs --cluster "$spec" --follow >"$tmp/follow.log" 2>&1 &
pid_of[follower]=$!
w1_accepts() { grep -c "/job:worker/task:1 .*accepted a connection" "$tmp/follow.log"; }
check "   a log stream from the ps host follows worker 1" \
  wait_until 10 "worker 1's lines in the stream" grep -q "/job:worker/task:1 .*listening on" "$tmp/follow.log"
w1_pid=${pid_of[w1]}
ip -n "$tag-br" link set v-w1 down
status_from ps 1000
check "4. with its link down, worker 1 is seen DOWN" grep -q "/job:worker/task:1 .*DOWN" "$tmp/status.txt"
check "   while the ps and worker 0 stay healthy" \
  bash -c "grep -q '/job:ps/task:0 .*healthy' '$tmp/status.txt' && grep -q '/job:worker/task:0 .*healthy' '$tmp/status.txt'"
show_status
ip -n "$tag-br" link set v-w1 up
check "   with its link up again, worker 1 is healthy again" wait_until 30 "worker 1 back" all_healthy_from ps
check "   it is the same process (it survived the flap)" grep -q "pid $w1_pid " "$tmp/status.txt"
check "   every host reaches every task again, and the updates add up" run_across

# 5. Worker 1 pushes 60 updates, one each 50 ms (at least 3 s); 0.5 s in,
# its link goes down for 6 s, longer than its 5 s call deadline, so calls in
# flight fail and are sent again (the same worker and step) until the ps
# answers. The ps must hold every update exactly once.
start_pushes w1 1 60 50
sleep 0.5
ip -n "$tag-br" link set v-w1 down
sleep 6
ip -n "$tag-br" link set v-w1 up
check "5. worker 1's pushes across a 6 s link cut finish" finish_pushes w1
check "   some were cut off and sent again" bash -c "! grep -q ' 0 retries' '$tmp/push-w1.txt'"
total=$((total + 60))
check "   the ps holds every update exactly once" ps_holds_total
accepts_before_stop=$(w1_accepts)
stream_carries_new_lines() { in_ns ps "$bin/flowps" health --address "${addr[w1]}:7500" \
  --token-file "$tmp/cluster.token" >/dev/null && [ "$(w1_accepts)" -gt "$accepts_before_stop" ]; }
check "   the log stream opened before the flap carries worker 1's lines after it" \
  wait_until 10 "a new line of worker 1 in the stream" stream_carries_new_lines

# Every daemon stops cleanly on SIGTERM (exit code 0) within 10 s.
stop_cleanly() {
  local h rc ok=0
  if [ -n "${pid_of[follower]:-}" ]; then
    stop_pids "${pid_of[follower]}"
    unset "pid_of[follower]"
  fi
  for h in "${hosts[@]}"; do kill -TERM "${pid_of[$h]}"; done
  for h in "${hosts[@]}"; do
    wait_until 10 "$h stopped" bash -c "! kill -0 ${pid_of[$h]} 2>/dev/null" || ok=1
    rc=0
    kill -0 "${pid_of[$h]}" 2>/dev/null || { wait "${pid_of[$h]}" || rc=$?; }
    [ "$rc" -eq 0 ] || { echo "$h exited with $rc"; tail -3 "$tmp/$h.log"; ok=1; }
  done
  return "$ok"
}
check "every daemon stopped cleanly on SIGTERM" stop_cleanly
forget_stopped() { for h in "${hosts[@]}"; do kill -0 "${pid_of[$h]}" 2>/dev/null || unset "pid_of[$h]"; done; }
forget_stopped

# 6. Training across the hosts. Each round starts fresh daemons (a ps keeps
# the configuration of its first job), submits a sync job from the ps host to
# the chief on w0, and reads what the ps counted (ps_traffic --stats) and the
# workers' status (flowps status --json) before stopping them.
chief_step() {
  in_ns ps "$bin/flowps" status --cluster "$spec" --json --timeout-ms 2000 2>/dev/null |
    grep -o '"global_step":[0-9]*' | head -1 | cut -d: -f2
}
ps_accepts_from_w1() { grep -c "accepted a connection from ${addr[w1]}:" "$tmp/ps.log"; }
train_round() {  # train_round NAME STEPS [cut]: leaves NAME.out, NAME.stats, NAME.json
  local name=$1 steps=$2 rc=0
  start ps flowps-ps 0
  start w0 flowps-worker 0
  start w1 flowps-worker 1
  wait_until 30 "all three daemons healthy" all_healthy_from ps || { show_status; return 1; }
  write_job "$tmp/$name.yaml" "netns-$name" "$steps" "$tmp/$name-run"
  in_ns ps timeout 150 "$bin/flowps" submit "$tmp/$name.yaml" --cluster "$spec" --wait >"$tmp/$name.out" 2>&1 &
  pid_of[submit]=$!
  if [ "${3:-}" = cut ]; then
    at_least_50() { [ "$(chief_step)" -ge 50 ] 2>/dev/null; }
    wait_until 60 "training at step 50" at_least_50 || true
    ps_accepts_from_w1 >"$tmp/$name.accepts-before"
    echo "  | link of w1 down at global step $(chief_step)"
    ip -n "$tag-br" link set v-w1 down
    sleep 1
    echo "$(chief_step)" >"$tmp/$name.step-cut"
    sleep 5
    echo "$(chief_step)" >"$tmp/$name.step-at-up"
    ip -n "$tag-br" link set v-w1 up
    # TCP alone would carry the open connections across the cut; reset worker
    # 1's connections to the ps too (as a restarted interface or a NAT that
    # forgot them would), so that its calls in flight fail and it must
    # reconnect and make them again.
    in_ns w1 ss -K dst "${addr[ps]}" 2>/dev/null | grep -c ESTAB >"$tmp/$name.reset"
    echo "  | link of w1 up and its connections to the ps reset at global step $(cat "$tmp/$name.step-at-up")"
  fi
  wait "${pid_of[submit]}" || rc=$?
  unset "pid_of[submit]"
  sed 's/^/  | /' "$tmp/$name.out"
  in_ns ps "$traffic" --cluster "$spec" --stats --deadline-s 20 >"$tmp/$name.stats" 2>&1
  in_ns ps "$bin/flowps" status --cluster "$spec" --json --timeout-ms 2000 >"$tmp/$name.json" 2>&1
  sed 's/^/  | /' "$tmp/$name.stats"
  ps_accepts_from_w1 >"$tmp/$name.accepts-after"
  stop_cleanly || rc=1
  forget_stopped
  return "$rc"
}
stat_of() { sed -n "s/^shard 0:.* $2 \([0-9]*\).*/\1/p" "$tmp/$1.stats"; }
stale_of_workers() { grep -o '"stale_dropped":[0-9]*' "$tmp/$1.json" | cut -d: -f2 | sort -u | tr '\n' ' '; }
check_exactly_once() {  # check_exactly_once NAME STEPS
  check "   the ps is at global step $2 ($(stat_of "$1" step))" test "$(stat_of "$1" step)" = "$2"
  check "   one optimizer application per step ($(stat_of "$1" applied))" test "$(stat_of "$1" applied)" = "$2"
  check "   every step counted a push from both workers ($(stat_of "$1" accepted) accepted)" \
    test "$(stat_of "$1" accepted)" -ge $((2 * $2))
  check "   no push dropped as stale (ps $(stat_of "$1" stale), workers $(stale_of_workers "$1"))" \
    bash -c "[ '$(stat_of "$1" stale)' = 0 ] && [ '$(stale_of_workers "$1")' = '0 ' ]"
}

check "6. a sync job of 300 steps trains across the hosts" train_round plain 300
accuracy=$(final_accuracy "$tmp/plain.out")
check "   to at least 75 % test accuracy (${accuracy:-none}%)" test "${accuracy:-0}" -ge 75
check_exactly_once plain 300

must in_ns ps tc qdisc add dev eth0 root tbf rate 50mbit burst 32kb latency 400ms
check "   a job of 100 steps trains through a 50 Mbit/s cap on the ps host's link" train_round capped 100
# Every step both workers pull the MLP's 50890 floats (203560 bytes) from the ps.
check "   the capped link carried the pulls ($(tbf_bytes) bytes through tbf)" \
  test "$(tbf_bytes)" -ge $((100 * 2 * 203560))
check_exactly_once capped 100
in_ns ps tc qdisc del dev eth0 root

check "   a job of 3000 steps finishes across a 6 s cut of worker 1's link and a reset of its connections" train_round flap 3000 cut
# ss -K finds no connection to reset when worker 1 had already given up its
# connection during the cut (its call's deadline passed first); either way its
# calls in flight failed, and the reconnection check below must then hold.
check "   the cut reset worker 1's connections to the ps, or they had already broken ($(cat "$tmp/flap.reset") reset, $(cat "$tmp/flap.accepts-before") -> $(cat "$tmp/flap.accepts-after") accepted)" \
  test "$(cat "$tmp/flap.reset")" -gt 0 -o "$(cat "$tmp/flap.accepts-after")" -gt "$(cat "$tmp/flap.accepts-before")"
check "   worker 1 reconnected to the ps ($(cat "$tmp/flap.accepts-before") connections before the cut, $(cat "$tmp/flap.accepts-after") after)" \
  test "$(cat "$tmp/flap.accepts-after")" -gt "$(cat "$tmp/flap.accepts-before")"
check "   training waited for worker 1 while its link was down (global step $(cat "$tmp/flap.step-cut" 2>/dev/null) 1 s into the cut, $(cat "$tmp/flap.step-at-up" 2>/dev/null) at its end)" \
  test "$(cat "$tmp/flap.step-cut" 2>/dev/null)" = "$(cat "$tmp/flap.step-at-up" 2>/dev/null)"
check "   the cut came mid-training (global step $(cat "$tmp/flap.step-at-up" 2>/dev/null) when the link came up)" \
  test "$(cat "$tmp/flap.step-at-up" 2>/dev/null || echo 3000)" -lt 3000
check_exactly_once flap 3000

[ "$failures" -eq 0 ] || { echo "$failures checks failed"; exit 1; }
echo "all netns checks passed"
