#!/usr/bin/env bash
# Installs the Debian packages flowps needs (Debian 12). Safe to run again:
# it does nothing when everything is present. Needs root (or sudo) to install.
set -euo pipefail

PKGS=(meson ninja-build pkg-config g++ capnproto libcapnp-dev libasio-dev libeigen3-dev
      libspdlog-dev libfmt-dev libcli11-dev libyaml-cpp-dev catch2 zlib1g-dev
      dataset-fashion-mnist gnuplot-nox libopenblas-dev fortunes
      pybind11-dev python3-dev python3-numpy python3-pytest
      prometheus-cpp-dev  # every task's /metrics
      libssl-dev openssl  # TLS: kj-tls and the spec's certificate checks; openssl makes the tests' certificates
      clang libfuzzer-14-dev)  # clang and libFuzzer: the fuzz suite (scripts/fuzz.sh)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "flowps: all build dependencies are installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "flowps: need root to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "flowps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q -o DPkg::Lock::Timeout=600
$SUDO apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}"
