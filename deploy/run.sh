#!/usr/bin/env bash
# The README's run command: installs what is missing, builds offlogd (with
# offlogctl and offlog_tee beside it in bazel-bin) and runs it in the
# foreground on /tmp/offlog.sock (extra arguments go to offlogd).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh
bazel build //offlog/server:offlogd //offlog/ctl:offlogctl \
  //offlog/client:offlog_tee
exec bazel-bin/offlog/server/offlogd "$@"
