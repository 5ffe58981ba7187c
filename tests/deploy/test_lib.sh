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
