#!/usr/bin/env bash
# Suite `e2e`: a local cluster (1 ps + 2 workers, `flowps launch`) with a
# `tls:` map in its spec. Every connection is mutual TLS and the token still
# applies: status, logs, health and a short sync training job work over TLS;
# a client without TLS, one with another CA and one with a wrong token are
# refused, and the daemons keep serving. Certificates are made here by openssl.
#   tls_cluster_test.sh BIN_DIR SOURCE_DIR      (exit 77: skipped, with why)
set -uo pipefail
bin=$(realpath "$1")
src=$(realpath "$2")
source "$src/tests/deploy/test_lib.sh"
command -v openssl >/dev/null || skip "openssl is not installed"
ensure_fashion_mnist

tmp=$(mktemp -d /tmp/flowps-tls.XXXXXX)
launch_pid=
cleanup() {
  [ -z "$launch_pid" ] || stop_pids "$launch_pid"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
failures=0

bash "$src/tests/net/make_test_certs.sh" "$tmp" >/dev/null || skip "cannot make test certificates"
port=$((20000 + $$ % 20000))
printf 'tls-e2e-token\n' >"$tmp/cluster.token"
printf 'not-the-token\n' >"$tmp/wrong.token"
# spec FILE TOKEN_FILE [TLS_LINES]: the cluster on localhost (the certificates name localhost).
spec() {
  cat >"$1" <<SPEC
token_file: $2
jobs:
  ps:
    tasks:
      - address: localhost:$port
  worker:
    tasks:
      - address: localhost:$((port + 1))
      - address: localhost:$((port + 2))
SPEC
  [ -z "${3:-}" ] || printf '%b' "$3" >>"$1"
}
spec "$tmp/cluster.yaml" cluster.token 'tls:\n  cert: node.pem\n  key: node.key\n  ca: ca.pem\n'
spec "$tmp/plain.yaml" cluster.token
spec "$tmp/stranger.yaml" cluster.token 'tls:\n  cert: other.pem\n  key: other.key\n  ca: other-ca.pem\n'
spec "$tmp/wrong-token.yaml" wrong.token 'tls:\n  cert: node.pem\n  key: node.key\n  ca: ca.pem\n'

"$bin/flowps" launch "$tmp/cluster.yaml" --bin-dir "$bin" >"$tmp/launch.out" 2>&1 &
launch_pid=$!
check "flowps launch starts the three tasks over TLS" \
  wait_until 60 "the tasks healthy" grep -q "local tasks are healthy" "$tmp/launch.out"
check "   and each listens over mutual TLS" test "$(grep -c "over mutual TLS" "$tmp/launch.out")" -ge 3

status() {  # status SPEC WANT_EXIT: flowps status, output in $tmp/status.txt
  local rc=0
  "$bin/flowps" status --cluster "$1" --timeout-ms 3000 >"$tmp/status.txt" 2>&1 || rc=$?
  [ "$rc" -eq "$2" ] || { echo "  exit $rc, wanted $2: $(cat "$tmp/status.txt")"; return 1; }
}
check "flowps status reaches every task over TLS" status "$tmp/cluster.yaml" 0
check "   3 of 3 healthy" grep -q "3 of 3 tasks healthy" "$tmp/status.txt"
check "a client without TLS is refused" status "$tmp/plain.yaml" 1
check "   and sees no healthy task" grep -q "0 of 3 tasks healthy" "$tmp/status.txt"
check "a client with another CA is refused" status "$tmp/stranger.yaml" 1
check "   with a TLS error" grep -q "TLS handshake with localhost failed" "$tmp/status.txt"
check "a client with the CA but a wrong token is refused" status "$tmp/wrong-token.yaml" 1
check "   by the token gate" grep -q "login refused" "$tmp/status.txt"
check "the daemons logged the refused handshakes" grep -q "TLS handshake refused" "$tmp/launch.out"
check "and still serve the cluster" status "$tmp/cluster.yaml" 0

probe() {  # probe WANT_EXIT ARGS...: flowps health on the ps
  local want=$1 rc=0
  shift
  "$bin/flowps" health --address "localhost:$port" --token-file "$tmp/cluster.token" "$@" \
    >"$tmp/probe.txt" 2>&1 || rc=$?
  [ "$rc" -eq "$want" ] || { echo "  exit $rc, wanted $want: $(cat "$tmp/probe.txt")"; return 1; }
}
check "flowps health passes with the TLS flags" \
  probe 0 --tls-cert "$tmp/node.pem" --tls-key "$tmp/node.key" --tls-ca "$tmp/ca.pem"
check "flowps health fails without them" probe 1
check "flowps health refuses a certificate the CA did not sign (exit 2)" \
  probe 2 --tls-cert "$tmp/other.pem" --tls-key "$tmp/other.key" --tls-ca "$tmp/ca.pem"
check "   naming the flag" grep -q -- "--tls-cert: names '$tmp/other.pem'" "$tmp/probe.txt"

steps=60
write_job "$tmp/train.yaml" tls-train "$steps" "$tmp/run"
sed -i 's/eval_every_steps: 100/eval_every_steps: 60/' "$tmp/train.yaml"
rc=0
timeout 600 "$bin/flowps" submit "$tmp/train.yaml" --cluster "$tmp/cluster.yaml" --wait --poll-s 2 \
  >"$tmp/submit.out" 2>&1 || rc=$?
sed 's/^/  | /' "$tmp/submit.out" | tail -8
check "a job submitted over TLS trains to completion (exit $rc)" test "$rc" -eq 0
check "   every step ($steps/$steps)" grep -q "\"step\":$steps," "$tmp/run/metrics.jsonl"
check "   and reports its test accuracy" grep -q "final test accuracy" "$tmp/submit.out"
rc=0
"$bin/flowps" submit "$tmp/train.yaml" --cluster "$tmp/wrong-token.yaml" >"$tmp/refused.out" 2>&1 || rc=$?
check "a job submitted with a wrong token over TLS is refused (exit $rc)" test "$rc" -ne 0
check "   by the token gate" grep -q "login refused" "$tmp/refused.out"

stop_pids "$launch_pid"
launch_pid=
check "every task stopped" grep -q "all tasks stopped" "$tmp/launch.out"

[ "$failures" -eq 0 ] || { echo "$failures checks failed"; tail -30 "$tmp/launch.out"; exit 1; }
echo "all TLS cluster checks passed"
