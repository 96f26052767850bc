#!/usr/bin/env bash
# offlog_load against a real offlogd: healthy clients end with a clean
# checker (exit 0), clients of a stalled FIFO give up without hanging, and
# offlog_check flags a file with a missing record. Asserts outcomes, never
# timings.
set -euo pipefail
LOAD="$1"
CHECK="$2"
OFFLOGD="$3"

DIR="$(mktemp -d /tmp/offlog_load_test.XXXXXX)"
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DIR"' EXIT
"$OFFLOGD" -s "$DIR/s.sock" -l "$DIR/server.log" &
PID=$!
for _ in $(seq 100); do [[ -S "$DIR/s.sock" ]] && break; sleep 0.05; done

"$LOAD" --socket "$DIR/s.sock" --clients 4 --files 2 --records 500 \
  --size 60 --batch 3 --server_pid "$PID" --out "$DIR/r.csv" --label smoke \
  >"$DIR/out1"
grep -q "CLEAN" "$DIR/out1"
[[ "$(wc -l <"$DIR/r.csv")" == 2 ]]
grep -q "^smoke,,4,2,0,60,3," "$DIR/r.csv"

"$LOAD" --socket "$DIR/s.sock" --clients 3 --files 3 --stalled_files 1 \
  --records 2000 --size 100 --stall_s 1 --timeout_s 20 >"$DIR/out2"
grep -q "CLEAN" "$DIR/out2"

mkdir "$DIR/keep"
"$LOAD" --socket "$DIR/s.sock" --clients 2 --files 1 --records 10 \
  --size 50 --dir "$DIR/keep" --keep >/dev/null
"$CHECK" --size 50 --records 10 --clients 2 "$DIR/keep/file0.log" >/dev/null
sed -i '3d' "$DIR/keep/file0.log"
if "$CHECK" --size 50 --records 10 --clients 2 "$DIR/keep/file0.log" \
  >"$DIR/out3"; then
  echo "offlog_check missed a deleted record" >&2
  exit 1
fi
grep -q "missing=1" "$DIR/out3"
echo PASS
