#!/usr/bin/env bash
# Builds the libFuzzer targets with clang directly (Bazel's toolchain here is
# gcc, which has no -fsanitize=fuzzer) and runs each for a bounded time.
#   offlog/tests/fuzz.sh [SECONDS_PER_TARGET]   (default 30)
# Exit status is non-zero if a target fails to build or finds a crash; crash
# inputs are left in $OUT/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_TARGET="${1:-30}"
OUT="${FUZZ_OUT:-/tmp/offlog-fuzz}"
mkdir -p "$OUT/bin"
CXX="${CXX_FUZZ:-clang++}"
FLAGS=(-std=c++20 -g -O1 -I. -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined)
# As third_party/BUILD lists them for //third_party:absl.
ABSL=(-labsl_status -labsl_statusor -labsl_strings -labsl_str_format_internal
      -labsl_synchronization -labsl_time -labsl_time_zone -labsl_raw_hash_set
      -labsl_hash -labsl_cord -labsl_base -labsl_throw_delegate
      -labsl_raw_logging_internal -labsl_int128)

build() {  # name sources...
  local name=$1; shift
  "$CXX" "${FLAGS[@]}" "$@" -o "$OUT/bin/$name" "${ABSL[@]}"
}
build handshake_fuzzer offlog/tests/fuzz/handshake_fuzzer.cc \
  offlog/common/protocol.cc
build pyerror_fuzzer offlog/tests/fuzz/pyerror_fuzzer.cc \
  offlog/common/pyerror.cc offlog/common/utf8.cc
build escape_fuzzer offlog/tests/fuzz/escape_fuzzer.cc \
  offlog/server/server_log.cc offlog/ctl/ctl_format.cc \
  offlog/server/control_protocol.cc offlog/common/utf8.cc \
  offlog/common/timefmt.cc

status=0
for t in handshake_fuzzer pyerror_fuzzer escape_fuzzer; do
  mkdir -p "$OUT/$t/corpus"
  echo "== $t: ${SECONDS_PER_TARGET}s"
  (cd "$OUT/$t" && "$OUT/bin/$t" -max_total_time="$SECONDS_PER_TARGET" \
      -max_len=8192 -print_final_stats=1 corpus) || status=1
done
exit $status
