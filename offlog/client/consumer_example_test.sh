#!/bin/bash
# Builds docs/examples/consumer, a separate Bazel workspace that depends on
# @offlog//offlog/client through local_repository, with a nested Bazel, then
# runs it against offlogd and checks the file it wrote.
#
# Under `bazel test` (tags no-sandbox, external) it finds the source tree by
# following its own runfiles symlink. Run by hand (e.g. from CI) as
#   offlog/client/consumer_example_test.sh [PATH_TO_OFFLOGD]
# from the repository root, after `bazel build //offlog/server:offlogd`.
set -euo pipefail

script=$(readlink -f "${BASH_SOURCE[0]}")
repo=$(cd "$(dirname "$script")/../.." && pwd)
offlogd=${1:-$repo/bazel-bin/offlog/server/offlogd}
offlogd=$(readlink -f "$offlogd")
bazel=${BAZEL:-$(command -v bazel)}

# A Bazel of our own: never the caller's output base, and none of the test
# environment that would redirect it.
unset TEST_TMPDIR TEST_SRCDIR RUNFILES_DIR RUNFILES_MANIFEST_FILE \
  JAVA_RUNFILES PYTHON_RUNFILES BUILD_WORKSPACE_DIRECTORY
export HOME=${HOME:-/tmp}
user_root=/tmp/offlog_consumer_bazel
work=$(mktemp -d /tmp/offlogXXXXXX)
cleanup() {
  [[ -n "${server_pid:-}" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" || true
  (cd "$repo/docs/examples/consumer" &&
    "$bazel" --output_user_root="$user_root" shutdown) >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

cd "$repo/docs/examples/consumer"
"$bazel" --output_user_root="$user_root" --max_idle_secs=60 build \
  --symlink_prefix=/ //:consumer
bin=$("$bazel" --output_user_root="$user_root" --max_idle_secs=60 info \
  bazel-bin 2>/dev/null)/consumer

"$offlogd" -s "$work/s.sock" >"$work/offlogd.out" 2>&1 &
server_pid=$!
for _ in $(seq 100); do [[ -S "$work/s.sock" ]] && break; sleep 0.1; done

"$bin" "$work/s.sock" "$work/out.log"
grep -Eq '^\[[0-9-]+ [0-9:.]+ consumer INFO\] hello from a consumer$' \
  "$work/out.log"
[[ $(tail -n 1 "$work/out.log") == "raw line" ]]
[[ $(wc -l <"$work/out.log") -eq 2 ]]
echo "consumer example: OK"
