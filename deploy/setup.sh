#!/usr/bin/env bash
# Installs what offlog needs to build, test and benchmark on Debian 12, and
# nothing that is already there. Safe to run any number of times.
set -euo pipefail

packages=(
  bazel-bootstrap bazel-rules-java g++
  libabsl-dev libgflags-dev libgoogle-glog-dev
  libgtest-dev libgmock-dev libbenchmark-dev libsystemd-dev
  systemd          # systemd-socket-activate and systemd-analyze, for tests
  systemd-container  # systemd-nspawn: //offlog/tests/systemd boots systemd
  logrotate        # //offlog/tests/systemd runs the packaged logrotate snippet
  clang libclang-rt-14-dev  # libFuzzer and the sanitizer runtimes
  gnuplot-nox      # offlog/bench/run.sh draws its plots with it
  python3
  groff-base bsdextrautils  # the man page test renders docs/offlogd.8
  fuse3 libfuse3-dev        # offlog/tests/hangfs, a FUSE mount that hangs on command
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "offlog setup: installing ${missing[*]}" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi
