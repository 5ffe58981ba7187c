#!/usr/bin/env bash
# Suite `k8s`: `flowps health`, the command the readiness and liveness probes
# run, against a real flowps-ps task on 127.0.0.1: 0 when the task answers
# with the right token, 1 for a wrong token or a port nobody serves, 2 for a
# missing or empty token file or a bad address; the task survives the probes.
#   health_probe_test.sh BIN_DIR SOURCE_DIR
set -uo pipefail
bin=$(realpath "$1")
src=$(realpath "$2")
source "$src/tests/deploy/test_lib.sh"

tmp=$(mktemp -d /tmp/flowps-probe.XXXXXX)
ps_pid=
cleanup() {
  [ -z "$ps_pid" ] || stop_pids "$ps_pid"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
failures=0

port=$((30000 + $$ % 20000))
printf '  s3cret\n' >"$tmp/cluster.token"
printf 'wrong\n' >"$tmp/wrong.token"
: >"$tmp/empty.token"
cat >"$tmp/cluster.yaml" <<SPEC
token_file: cluster.token
jobs:
  ps:
    tasks:
      - address: 127.0.0.1:$port
  worker:
    tasks:
      - address: 127.0.0.1:$((port + 1))
SPEC
"$bin/flowps-ps" --cluster "$tmp/cluster.yaml" --task 0 >"$tmp/ps.log" 2>&1 &
ps_pid=$!

probe() {  # probe WANT_EXIT ADDRESS TOKEN_FILE: runs flowps health, output in $tmp/probe.txt
  local rc=0
  "$bin/flowps" health --address "$2" --token-file "$3" --timeout-ms 2000 >"$tmp/probe.txt" 2>&1 || rc=$?
  [ "$rc" -eq "$1" ] || { echo "  exit $rc, wanted $1: $(cat "$tmp/probe.txt")"; return 1; }
}
check "the probe passes once the task answers with the cluster token" \
  wait_until 20 "the ps task healthy" probe 0 "127.0.0.1:$port" "$tmp/cluster.token"
check "   and names the task and its pid" grep -q "healthy /job:ps/task:0 pid $ps_pid " "$tmp/probe.txt"
check "a wrong token fails the probe (exit 1)" probe 1 "127.0.0.1:$port" "$tmp/wrong.token"
check "   saying the login was refused" grep -q "login refused" "$tmp/probe.txt"
check "a port nobody serves fails the probe (exit 1)" probe 1 "127.0.0.1:$((port + 1))" "$tmp/cluster.token"
check "a missing token file is a usage error (exit 2)" probe 2 "127.0.0.1:$port" "$tmp/nowhere.token"
check "   naming the file" grep -q "$tmp/nowhere.token" "$tmp/probe.txt"
check "an empty token file is a usage error (exit 2)" probe 2 "127.0.0.1:$port" "$tmp/empty.token"
check "an address without a port is a usage error (exit 2)" probe 2 "127.0.0.1" "$tmp/cluster.token"
check "the task is still serving after the probes" kill -0 "$ps_pid"

[ "$failures" -eq 0 ] || { echo "$failures checks failed"; exit 1; }
echo "all health probe checks passed"
