#!/usr/bin/env bash
# The benchmarks of issue 10, in interleaved rounds on fresh servers:
#  - isolation: connect-to-OK of a client of an already-open file on an idle
#    offlogd, while it spawns writers for 1,000 new paths, and while one
#    FIFO is stalled with 1,500 clients waiting (isolation_bench); and, as
#    a control, while the bench itself creates 1,000 processes (the
#    machine's cost of process creation, without the server's work);
#  - scale: 10,000 connections over 1,000 files and 9,000 over 900
#    (offlog_load), offlogd against the original Python server, and offlogd
#    with --prefork 1000 (no spawn on the connect path; at 9,000 also with
#    no CPU spared, --writer-start-spare-cpus 0), next to the machine's own
#    cost of creating 1,000 processes (isolation_bench --forks 1000: one
#    after another, each waited for; and in a burst, each staying alive as
#    a writer does) and 900 in a burst.
# Writes isolation.csv, scale.csv, forks.csv, loadavg.csv, isolation.md
# (medians and ratios), isolation.png, scale.png and the server logs into
# DIR.
#
#   offlog/bench/isolation.sh [--out DIR] [--server-cmd CMD]
#                             [--baseline-cmd CMD] [--orig DIR] [--rounds N]
#                             [--nofile N] [--only iso|scale] [--skip-build]
#
# CMD is a shell command with {socket} standing for the socket path; every
# scenario starts its server afresh and stops it with SIGTERM. An empty
# --baseline-cmd skips the Python rows. The descriptor limit of every
# process here is raised to --nofile (default 65536; root may raise the hard
# limit) or else to the hard limit: the original server holds a socket and a
# file per client, so 10,000 connections need more than 20,000. run.sh calls
# this with its own binaries (--skip-build). --only runs the isolation
# conditions or the scale scenarios alone.
set -euo pipefail

cd "$(dirname "$0")/../.."
OUT="/tmp/offlog-isolation-$(date +%Y%m%d-%H%M%S)"
SERVER_CMD='bazel-bin/offlog/server/offlogd -s {socket}'
BASELINE_CMD='python3 -m offlog -s {socket}'
ORIG=/tmp/orig
ROUNDS=3
BUILD=1
NOFILE=65536
ONLY=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --server-cmd) SERVER_CMD="$2"; shift 2 ;;
    --baseline-cmd) BASELINE_CMD="$2"; shift 2 ;;
    --orig) ORIG="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --nofile) NOFILE="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --skip-build) BUILD=0; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

mkdir -p "$OUT/bin" "$OUT/logs"
ISO="$OUT/isolation.csv"
SCALE="$OUT/scale.csv"
FORKS="$OUT/forks.csv"
NEWFILES="$OUT/newfiles.csv"
rm -f "$ISO" "$SCALE" "$FORKS" "$NEWFILES" "$OUT/loadavg.csv"
if [[ "$(ulimit -Hn)" != unlimited && "$(ulimit -Hn)" -lt "$NOFILE" ]]; then
  ulimit -Hn "$NOFILE" 2>/dev/null || true
fi
ulimit -n "$(ulimit -Hn)"
echo "descriptor limit: $(ulimit -n)"

if [[ "$BUILD" == 1 ]]; then
  echo "== building"
  bazel build //offlog/bench:isolation_bench //offlog/bench:offlog_load \
    //offlog/server:offlogd 2>&1 | tail -1
fi
# Copies, so that a concurrent build cannot swap the binaries mid-run.
for b in bench/isolation_bench bench/offlog_load server/offlogd; do
  if [[ ! -x "$OUT/bin/${b#*/}" ]]; then
    cp -f "bazel-bin/offlog/$b" "$OUT/bin/"
  fi
done
SERVER_CMD="${SERVER_CMD//bazel-bin\/offlog\/server\/offlogd/$OUT/bin/offlogd}"
if [[ "$BASELINE_CMD" == *"-m offlog"* ]] &&
   ! PYTHONPATH="$ORIG" python3 -c 'from offlog.server import Server' 2>/dev/null; then
  echo "the original offlog is not importable from $ORIG: skipping Python rows"
  BASELINE_CMD=""
fi

SERVER_PID=""
SOCK=""
SOCKDIR=""
start_server() {  # label command
  SOCKDIR="$(mktemp -d /tmp/oli.XXXXXX)"
  SOCK="$SOCKDIR/s.sock"
  local cmd="${2//\{socket\}/$SOCK}"
  PYTHONPATH="$ORIG${PYTHONPATH:+:$PYTHONPATH}" \
    bash -c "exec $cmd" >"$OUT/logs/$1.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    [[ -S "$SOCK" ]] && return 0
    sleep 0.05
  done
  echo "server $1 did not create $SOCK" >&2
  return 1
}

stop_server() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "server $SERVER_PID still running 10 s after SIGTERM: SIGKILL" >&2
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$SOCKDIR"
}

# Waits (at most 120 s) until the server has N child processes: its
# preforked writers (plus the spawner).
wait_children() {
  local want="$1" have=0
  for _ in $(seq 1200); do
    have="$(pgrep -c -P "$SERVER_PID" || true)"
    [[ "$have" -ge "$want" ]] && return 0
    sleep 0.1
  done
  echo "only $have of $want preforked writers after 120 s" >&2
}

iso() {  # round disturbance
  local label="iso-$2"
  local load
  load="$(cut -d' ' -f1 /proc/loadavg), busy $(busy)"
  echo "== round $1: $label on offlogd (load $load)"
  start_server "$label-r$1" "$SERVER_CMD" || return 0
  mkdir "$SOCKDIR/t"
  "$OUT/bin/isolation_bench" --socket "$SOCK" --dir "$SOCKDIR/t" \
    --server_pid "$SERVER_PID" --disturb "$2" --probes 1000 --out "$ISO" \
    --label "$label" --server_name offlogd || true
  stop_server
}

# scale ROUND LABEL SERVER-NAME COMMAND [preforked writers to wait for]
scale() {
  local clients="${2#s5-}" files
  clients="${clients%k}000"
  files=$((clients / 10))
  echo "== round $1: $2 on $3 (load $(cut -d' ' -f1 /proc/loadavg))"
  start_server "$2-$3-r$1" "$4" || return 0
  if [[ -n "${5:-}" ]]; then wait_children "$5"; fi
  "$OUT/bin/offlog_load" --socket "$SOCK" --server_pid "$SERVER_PID" \
    --out "$SCALE" --label "$2" --server_name "$3" --clients "$clients" \
    --files "$files" --records 10 --size 100 --threads 200 --timeout_s 60 ||
    true
  stop_server
}

# newfiles ROUND NAME COMMAND: connect-to-OK for files that no writer has
# open yet, one after another (issue 12), against each server.
newfiles() {
  echo "== round $1: newfiles on $2 (load $(cut -d' ' -f1 /proc/loadavg))"
  start_server "newfiles-$2-r$1" "$3" || return 0
  mkdir "$SOCKDIR/t"
  "$OUT/bin/isolation_bench" --socket "$SOCK" --dir "$SOCKDIR/t" \
    --disturb newfiles --probes 300 --out "$NEWFILES" --label newfiles \
    --server_name "$2" || true
  stop_server
}

# One uid (this script's) opens every connection, so offlogd's per-uid bound
# (half of its connections, 7,476 under a limit of 20,000 descriptors) is
# lifted to 10,000. The original holds two descriptors per client, so under
# 20,000 it fits 9,000 connections but not 10,000 (it dies of EMFILE in
# accept()).
OFFLOGD_SCALE="$SERVER_CMD --max-connections-per-uid 10000"
# The share of both CPUs busy over one second with none of our processes
# running (other users' work), from /proc/stat.
busy() {
  local a b
  a=($(head -1 /proc/stat))
  sleep 1
  b=($(head -1 /proc/stat))
  local total=0 idle=$(((b[4] - a[4]) + (b[5] - a[5])))
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  echo "$((100 * (total - idle) / total))%"
}

for r in $(seq "$ROUNDS"); do
  echo "$r,$(cut -d' ' -f1-3 /proc/loadavg) busy $(busy)" >>"$OUT/loadavg.csv"
  if [[ "$ONLY" != scale ]]; then
    for d in none spawn stall forks; do iso "$r" "$d"; done
  fi
  [[ "$ONLY" == iso ]] && continue
  newfiles "$r" offlogd "$SERVER_CMD"
  if [[ -n "$BASELINE_CMD" ]]; then newfiles "$r" python "$BASELINE_CMD"; fi
  for m in serial burst; do
    "$OUT/bin/isolation_bench" --forks 1000 --fork_mode "$m" --out "$FORKS" \
      --label forks-1000
  done
  # The floor for bringing up the 900 writers of the 9,000-over-900 run.
  "$OUT/bin/isolation_bench" --forks 900 --fork_mode burst --out "$FORKS" \
    --label forks-900
  for c in s5-10k s5-9k; do
    scale "$r" "$c" offlogd "$OFFLOGD_SCALE"
    if [[ -n "$BASELINE_CMD" ]]; then
      scale "$r" "$c" python "$BASELINE_CMD"
    fi
    scale "$r" "$c" offlogd-prefork1000 "$OFFLOGD_SCALE --prefork 1000" 1000
  done
  # No process created on the connect path and no CPU spared: what is left
  # of offlogd's cost when both are gone.
  scale "$r" s5-9k offlogd-prefork1000-spare0 "$OFFLOGD_SCALE --prefork 1000 \
--writer-start-spare-cpus 0" 1000
done
echo "end,$(cut -d' ' -f1-3 /proc/loadavg) busy $(busy)" >>"$OUT/loadavg.csv"

python3 offlog/bench/isolation_report.py "$OUT" | tee "$OUT/isolation.md"
echo "results in $OUT"
