#!/usr/bin/env bash
# The README's test command: installs what is missing, then runs every test,
# plainly and then under AddressSanitizer and UndefinedBehaviorSanitizer
# (OFFLOG_SANITIZERS=0 skips those two runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh
bazel test //... "$@"
if [[ "${OFFLOG_SANITIZERS:-1}" != 0 ]]; then
  bazel test --config=asan //... "$@"
  bazel test --config=ubsan //... "$@"
fi
