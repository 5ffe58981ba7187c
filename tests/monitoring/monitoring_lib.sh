# Shared by the monitoring suite's tests: a live local cluster of 2 ps
# shards and 2 workers on free loopback ports, each task with a /metrics
# port, and the chief with a dashboard port.
#   source monitoring_lib.sh BIN_DIR SOURCE_DIR NAME
# sets $bin and $src, sources tests/deploy/test_lib.sh, makes the test's
# folder $tmp, and at exit stops what the test started: the PIDs it adds to
# `started` (last first), then the cluster, then removes $tmp. A test may
# define cleanup_more (run first).
bin=$(realpath "$1")
src=$(realpath "$2")
source "$src/tests/deploy/test_lib.sh"
tmp=$(mktemp -d "/tmp/flowps-$3.XXXXXX")
launch_pid=
started=()
failures=0
cleanup() {
  if declare -F cleanup_more >/dev/null; then cleanup_more; fi
  local i
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do stop_pids "${started[i]}"; done
  [ -z "$launch_pid" ] || stop_pids "$launch_pid"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# free_ports N: N distinct free TCP ports on 127.0.0.1, one per line.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
}

# start_cluster DIR BIN: writes DIR/cluster.yaml and starts `flowps launch`
# on it (PID in $launch_pid, log in DIR/launch.log); sets ps_ports,
# worker_ports, metrics_ports (ps 0, ps 1, worker 0, worker 1) and
# dashboard_port. Waits (bounded) until every task is healthy.
start_cluster() {
  local dir=$1 bin=$2
  mapfile -t p < <(free_ports 9)
  ps_ports=("${p[0]}" "${p[1]}")
  worker_ports=("${p[2]}" "${p[3]}")
  metrics_ports=("${p[4]}" "${p[5]}" "${p[6]}" "${p[7]}")
  dashboard_port=${p[8]}
  printf 'monitoring-test-token\n' >"$dir/cluster.token"
  cat >"$dir/cluster.yaml" <<SPEC
token_file: cluster.token
jobs:
  ps:
    tasks:
      - address: 127.0.0.1:${ps_ports[0]}
        metrics_port: ${metrics_ports[0]}
      - address: 127.0.0.1:${ps_ports[1]}
        metrics_port: ${metrics_ports[1]}
  worker:
    tasks:
      - address: 127.0.0.1:${worker_ports[0]}
        metrics_port: ${metrics_ports[2]}
        dashboard_port: $dashboard_port
      - address: 127.0.0.1:${worker_ports[1]}
        metrics_port: ${metrics_ports[3]}
SPEC
  "$bin/flowps" launch "$dir/cluster.yaml" --bin-dir "$bin" --wait-s 60 >"$dir/launch.log" 2>&1 &
  launch_pid=$!
  wait_until 90 "every task of the cluster healthy" "$bin/flowps" status --cluster "$dir/cluster.yaml" ||
    { tail -20 "$dir/launch.log"; return 1; }
}

# start_small_cluster DIR BIN WORKERS DEVICES: writes DIR/cluster.yaml (one
# ps, WORKERS workers with `devices: [DEVICES]`, worker 0 the chief, free
# ports, no metrics ports) and starts `flowps launch` on it (PID in
# $launch_pid, log in DIR/launch.log). Waits (bounded) until every task is healthy.
start_small_cluster() {
  local dir=$1 bin=$2 workers=$3 devices=$4 i
  mapfile -t p < <(free_ports $((workers + 1)))
  printf 'small-cluster-token\n' >"$dir/local.token"
  {
    printf 'token_file: local.token\njobs:\n  ps:\n    tasks:\n      - address: 127.0.0.1:%s\n' "${p[0]}"
    printf '  worker:\n    chief: 0\n    tasks:\n'
    for ((i = 1; i <= workers; i++)); do
      printf '      - address: 127.0.0.1:%s\n        devices: [%s]\n' "${p[i]}" "$devices"
    done
  } >"$dir/cluster.yaml"
  "$bin/flowps" launch "$dir/cluster.yaml" --bin-dir "$bin" --wait-s 60 >"$dir/launch.log" 2>&1 &
  launch_pid=$!
  wait_until 90 "every task of the cluster healthy" "$bin/flowps" status --cluster "$dir/cluster.yaml" ||
    { tail -20 "$dir/launch.log"; return 1; }
}
