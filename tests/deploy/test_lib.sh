# Shared by the deploy suites' tests (sourced). Exit code 77 tells meson the
# test was skipped; every skip says why.

skip() { echo "SKIPPED: $*"; exit 77; }

require_root() {
  [ "$(id -u)" = 0 ] || skip "$1 needs root (it is uid $(id -u))"
}

# Installs Debian packages unless every command named after -- exists already:
#   ensure_packages PKG... -- CMD...; skips the test when they cannot be had.
ensure_packages() {
  local pkgs=() cmds=() missing=0
  while [ "$1" != -- ]; do pkgs+=("$1"); shift; done
  shift
  cmds=("$@")
  for c in "${cmds[@]}"; do command -v "$c" >/dev/null || missing=1; done
  [ "$missing" = 1 ] || return 0
  command -v apt-get >/dev/null || skip "${cmds[*]} missing and no apt-get to install ${pkgs[*]}"
  echo "installing ${pkgs[*]}"
  local install=(apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${pkgs[@]}")
  # A fresh machine may have no package lists yet: update once and retry.
  if ! DEBIAN_FRONTEND=noninteractive timeout 900 "${install[@]}" >/tmp/flowps-apt-$$.log 2>&1 &&
     ! { timeout 300 apt-get update -q -o DPkg::Lock::Timeout=600 >>/tmp/flowps-apt-$$.log 2>&1 &&
         DEBIAN_FRONTEND=noninteractive timeout 900 "${install[@]}" >>/tmp/flowps-apt-$$.log 2>&1; }; then
    tail -5 /tmp/flowps-apt-$$.log
    rm -f /tmp/flowps-apt-$$.log
    skip "cannot install ${pkgs[*]} with apt-get"
  fi
  rm -f /tmp/flowps-apt-$$.log
  for c in "${cmds[@]}"; do command -v "$c" >/dev/null || skip "$c still missing after installing ${pkgs[*]}"; done
}

# wait_until SECONDS DESCRIPTION CMD...: runs CMD every 0.2 s until it
# succeeds; fails the test naming DESCRIPTION when SECONDS pass first.
wait_until() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "FAIL: $what not within ${limit}s"
      return 1
    fi
    sleep 0.2
  done
}

# stop_pids PID...: SIGTERM, up to 10 s to exit, then SIGKILL. Only the PIDs
# given, which the test started itself.
stop_pids() {
  local pid alive i
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for ((i = 0; i < 50; i++)); do
    alive=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 1 ] || break
    sleep 0.2
  done
  for pid in "$@"; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "pid $pid ignored SIGTERM for 10 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

check() {  # check DESCRIPTION CMD...: prints ok/FAIL, counts failures in $failures
  local what=$1
  shift
  if "$@"; then
    echo "ok: $what"
  else
    echo "FAIL: $what"
    failures=$((failures + 1))
  fi
}

none_running() {  # none_running PATTERN: no process's command line matches PATTERN
  ! pgrep -f -- "$1" >/dev/null
}

# Fashion-MNIST in /usr/share/datasets/fashion-mnist (Debian's
# dataset-fashion-mnist), installed when missing; skips the test otherwise.
fashion_mnist=/usr/share/datasets/fashion-mnist
ensure_fashion_mnist() {
  [ -f "$fashion_mnist/train-images-idx3-ubyte.gz" ] && return 0
  command -v apt-get >/dev/null || skip "$fashion_mnist missing and no apt-get to install dataset-fashion-mnist"
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q -o DPkg::Lock::Timeout=600 \
    --no-install-recommends dataset-fashion-mnist >/dev/null 2>&1 ||
    skip "cannot install dataset-fashion-mnist with apt-get"
  [ -f "$fashion_mnist/train-images-idx3-ubyte.gz" ] || skip "$fashion_mnist still missing"
}

# write_job FILE NAME STEPS RUN_DIR: a short sync training job for 2 workers
# (the MLP 784-64-10 on Fashion-MNIST, Adam, batch 64 per worker, STEPS global
# steps, evaluated every 100 steps and at the end).
write_job() {
  cat >"$1" <<JOB
name: $2
model:
  type: mlp
  hidden: [64]
  seed: 1
data:
  path: $fashion_mnist
  batch_size: 64
  seed: 1
optimizer:
  type: adam
  learning_rate: 0.002
mode:
  type: sync
  total_workers: 2
  replicas_to_aggregate: 2
train:
  steps: $3
  log_every_steps: 50
  eval_every_steps: 100
run_dir: $4
JOB
}

# final_accuracy OUTPUT: the percentage in `flowps submit --wait`'s summary
# line ("done: final test accuracy 84.12%, ..."), as an integer (84).
final_accuracy() {
  sed -n 's/.*done: final test accuracy \([0-9]*\)\.[0-9]*%.*/\1/p' "$1" | tail -1
}
