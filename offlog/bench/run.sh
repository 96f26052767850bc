#!/usr/bin/env bash
# Runs the benchmark scenarios of issue 6 against offlogd and (for the ratio
# rows) the original Python server, next to the machine's own limits, and
# writes results.csv, machine.csv, summary.md and PNG plots.
#
#   offlog/bench/run.sh [--out DIR] [--server-cmd CMD] [--baseline-cmd CMD]
#                       [--orig DIR] [--scale N] [--repeat N]
#                       [--no-isolation] [--epoll-only]
#
# CMD is a shell command with {socket} standing for the socket path; each
# scenario starts the server afresh on its own socket (so its peak RSS is the
# scenario's) and stops it with SIGTERM. An empty --baseline-cmd skips the
# Python rows; a --server-cmd whose program does not exist skips offlogd's.
# --scale multiplies every record count (default 1; 0.1 for a smoke run).
# --repeat runs the throughput scenarios (1, 2 and the feature costs) and the
# machine limits N times (default 3) for medians; the others run once.
# Then isolation.sh (issue 10: connect-to-OK under spawning and stall, and
# 10,000 connections against the original) runs --repeat rounds into
# DIR/isolation, unless --no-isolation.
# Every round also runs issue 12's comparison (epoll_rounds below): offlogd
# against epoll_baseline, a minimal single-process epoll server, for server
# CPU per 100-byte record, and against the one-process recv()+write() relay
# for 64 KiB records. --epoll-only runs just that, --repeat rounds (use 5 or
# more: single runs vary more than the 1.1x target), about 40 s a round.
# About 8 minutes on a 2-core machine with the defaults, plus the build,
# plus about 2 minutes per isolation round.
set -euo pipefail

cd "$(dirname "$0")/../.."
OUT="/tmp/offlog-bench-$(date +%Y%m%d-%H%M%S)"
SERVER_CMD='bazel-bin/offlog/server/offlogd -s {socket}'
BASELINE_CMD='python3 -m offlog -s {socket}'
ORIG=/tmp/orig
SCALE=1
REPEAT=3
ISOLATION=1
EPOLL_ONLY=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --server-cmd) SERVER_CMD="$2"; shift 2 ;;
    --baseline-cmd) BASELINE_CMD="$2"; shift 2 ;;
    --orig) ORIG="$2"; shift 2 ;;
    --scale) SCALE="$2"; shift 2 ;;
    --repeat) REPEAT="$2"; shift 2 ;;
    --no-isolation) ISOLATION=0; shift ;;
    --epoll-only) EPOLL_ONLY=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

mkdir -p "$OUT/bin" "$OUT/logs"
RESULTS="$OUT/results.csv"
MACHINE="$OUT/machine.csv"
rm -f "$RESULTS" "$MACHINE"
# 10,000 connections (scenario 5) need 10,000 descriptors here and twice
# that in a server that keeps a file open per client.
ulimit -n "$(ulimit -Hn)"

echo "== building"
bazel build //offlog/bench:offlog_load //offlog/bench:disk_baseline \
  //offlog/bench:offlog_check //offlog/bench:isolation_bench \
  //offlog/bench:epoll_baseline 2>&1 | tail -1
bazel build //offlog/server:offlogd 2>&1 | tail -1 ||
  echo "offlogd does not build; its rows will be skipped"
# Copies, so that a concurrent build cannot swap the binaries mid-run.
cp -f bazel-bin/offlog/bench/{offlog_load,disk_baseline,offlog_check} \
  bazel-bin/offlog/bench/{isolation_bench,epoll_baseline} "$OUT/bin/"
if [[ -x bazel-bin/offlog/server/offlogd ]]; then
  cp -f bazel-bin/offlog/server/offlogd "$OUT/bin/"
  SERVER_CMD="${SERVER_CMD//bazel-bin\/offlog\/server\/offlogd/$OUT/bin/offlogd}"
fi
LOAD="$OUT/bin/offlog_load"

n() { python3 -c "print(max(1, int($1 * $SCALE)))"; }

SERVERS=()
if [[ -x "$(eval echo "${SERVER_CMD%% *}")" ]] ||
   command -v "${SERVER_CMD%% *}" >/dev/null; then
  SERVERS+=("offlogd")
else
  echo "server command not found (${SERVER_CMD%% *}): skipping offlogd rows"
fi
if [[ "$BASELINE_CMD" == *"-m offlog"* ]] &&
   ! PYTHONPATH="$ORIG" python3 -c 'from offlog.server import Server' 2>/dev/null; then
  echo "the original offlog is not importable from $ORIG: skipping Python rows"
  BASELINE_CMD=""
fi
if [[ -n "$BASELINE_CMD" ]]; then SERVERS+=("python"); fi

server_cmd() {
  case "$1" in
    offlogd) echo "$SERVER_CMD" ;;
    offlogd-noatomic) echo "$SERVER_CMD --no-atomic-lines" ;;
    offlogd-nopeek) echo "$SERVER_CMD --no-peek-reads" ;;
    python) echo "$BASELINE_CMD" ;;
    epoll) echo "$OUT/bin/epoll_baseline -s {socket}" ;;
  esac
}

SERVER_PID=""
SOCK=""
SOCKDIR=""
start_server() {  # name label
  SOCKDIR="$(mktemp -d /tmp/olb.XXXXXX)"
  SOCK="$SOCKDIR/s.sock"
  local cmd
  cmd="$(server_cmd "$1")"
  cmd="${cmd//\{socket\}/$SOCK}"
  PYTHONPATH="$ORIG${PYTHONPATH:+:$PYTHONPATH}" \
    bash -c "exec $cmd" >"$OUT/logs/$2-$1.log" 2>&1 &
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
  for _ in $(seq 50); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$SOCKDIR"
}

# load LABEL SERVER offlog_load-flags...: one scenario on a fresh server.
load() {
  local label="$1" name="$2"
  shift 2
  echo "== $label on $name: $*"
  start_server "$name" "$label" || return 0
  "$LOAD" --socket "$SOCK" --server_pid "$SERVER_PID" --out "$RESULTS" \
    --label "$label" --server_name "$name" "$@" || true
  stop_server
}

# Scenario 4 adds a probe: while one file is stalled, new clients of other
# files connect one after another and their connect-to-OK is measured.
isolation() {
  local name="$1"
  load s4-nostall "$name" --clients 7 --files 7 --records "$(n 100000)" \
    --size 100 --batch 10 --timeout_s 8
  echo "== s4-stall on $name"
  start_server "$name" s4-stall || return 0
  "$LOAD" --socket "$SOCK" --server_pid "$SERVER_PID" --out "$RESULTS" \
    --label s4-stall --server_name "$name" --clients 8 --files 8 \
    --stalled_files 1 --records "$(n 100000)" --size 100 --batch 10 \
    --timeout_s 8 --stall_s 8 &
  local main=$!
  sleep 1.5
  "$LOAD" --socket "$SOCK" --out "$RESULTS" --label s4-probe \
    --server_name "$name" --clients 100 --files 100 --threads 1 --records 1 \
    --size 100 --timeout_s 5 || true
  wait "$main" || true
  stop_server
}

throughput_scenarios() {
  local s="$1"
  # 1: 100-byte records, one send() per record, then 10 per send().
  load s1-c1-f1 "$s" --clients 1 --files 1 --records "$(n 200000)" --size 100
  for c in 8 64; do
    for f in 1 "$c"; do
      load "s1-c$c-f$f" "$s" --clients "$c" --files "$f" \
        --records "$(n $((480000 / c)))" --size 100
    done
  done
  load s1-c8-f1-b10 "$s" --clients 8 --files 1 --records "$(n 150000)" \
    --size 100 --batch 10
  load s1-c8-f8-b10 "$s" --clients 8 --files 8 --records "$(n 150000)" \
    --size 100 --batch 10
  # 2: 64 KiB writes (bandwidth).
  load s2-c1-f1 "$s" --clients 1 --files 1 --records "$(n 8192)" --size 65536
  load s2-c8-f1 "$s" --clients 8 --files 1 --records "$(n 2048)" --size 65536
  load s2-c8-f8 "$s" --clients 8 --files 8 --records "$(n 2048)" --size 65536
}

other_scenarios() {
  local s="$1"
  # 3: one paced client's send() latency, healthy and stalled target.
  load s3-healthy "$s" --clients 1 --files 1 --records "$(n 40000)" \
    --size 100 --rate 20000
  load s3-stalled "$s" --clients 1 --files 1 --stalled_files 1 \
    --records "$(n 40000)" --size 100 --rate 20000 --stall_s 2
  # 4: isolation.
  isolation "$s"
  # 5: scale, 10 clients held open on each of 1,000 files (and 900, which
  # fits a server that needs two descriptors per client under 20,000).
  load s5-10k "$s" --clients 10000 --files 1000 --records 10 --size 100 \
    --threads 200 --timeout_s 60
  load s5-9k "$s" --clients 9000 --files 900 --records 10 --size 100 \
    --threads 200 --timeout_s 60
}

# 7: what offlogd's safety features cost: the same runs with
# --no-atomic-lines and with --no-peek-reads.
feature_scenarios() {
  [[ " ${SERVERS[*]} " == *" offlogd "* ]] || return 0
  for v in offlogd-noatomic offlogd-nopeek; do
    {
      load s1-c8-f1 "$v" --clients 8 --files 1 --records "$(n 60000)" \
        --size 100
      load s1-c8-f1-b10 "$v" --clients 8 --files 1 --records "$(n 150000)" \
        --size 100 --batch 10
      load s2-c8-f1 "$v" --clients 8 --files 1 --records "$(n 2048)" \
        --size 65536
    } 2>&1 | tee -a "$OUT/logs/load-$v.log"
  done
}

# Issue 12: offlogd against epoll_baseline (server CPU per 100-byte record)
# and against the one-process recv()+write() relay (disk_baseline --mode
# relay, 64 KiB blocks; its rows go to machine.csv labelled e12-r<round>).
# Each scenario runs on both servers back to back, the order alternating
# from round to round, so that a noisy neighbour hits both alike. report.py
# gives the medians, the ratios and every round's figures.
epoll_round() {  # round
  local order=(epoll offlogd)
  [[ $(($1 % 2)) == 0 ]] && order=(offlogd epoll)
  [[ " ${SERVERS[*]} " == *" offlogd "* ]] || order=(epoll)
  echo "== issue 12 round $1: relay"
  "$OUT/bin/disk_baseline" --mode relay --out "$MACHINE" --dir /tmp \
    --label "e12-r$1" --bytes "$(n 1073741824)"
  local c f
  for cf in 8:1 8:8 64:64; do
    c="${cf%:*}" f="${cf#*:}"
    for s in "${order[@]}"; do
      load "e12-c$c-f$f" "$s" --clients "$c" --files "$f" \
        --records "$(n $((480000 / c)))" --size 100
    done
  done
  for f in 8 1; do
    for s in "${order[@]}"; do
      load "e12-64k-c8-f$f" "$s" --clients 8 --files "$f" \
        --records "$(n 2048)" --size 65536
    done
  done
}

if [[ "$EPOLL_ONLY" == 1 ]]; then
  for rep in $(seq "$REPEAT"); do
    epoll_round "$rep" 2>&1 | tee -a "$OUT/logs/load-e12.log"
  done
  echo "== report"
  python3 offlog/bench/report.py "$OUT"
  echo "results in $OUT"
  exit 0
fi

# The throughput scenarios and the machine limits run --repeat times,
# interleaved so that a noisy neighbour hits every server alike; report.py
# takes the median of each column.
for rep in $(seq "$REPEAT"); do
  epoll_round "$rep" 2>&1 | tee -a "$OUT/logs/load-e12.log"
  echo "== round $rep of $REPEAT: machine limits"
  "$OUT/bin/disk_baseline" --mode all --out "$MACHINE" --dir /tmp \
    --bytes "$(n 1073741824)" | tee -a "$OUT/logs/machine.log"
  for s in "${SERVERS[@]}"; do
    throughput_scenarios "$s" 2>&1 | tee -a "$OUT/logs/load-$s.log"
  done
  feature_scenarios
done
for s in "${SERVERS[@]}"; do
  other_scenarios "$s" 2>&1 | tee -a "$OUT/logs/load-$s.log"
done

if [[ "$ISOLATION" == 1 && " ${SERVERS[*]} " == *" offlogd "* ]]; then
  mkdir -p "$OUT/isolation/bin"
  cp -f "$OUT"/bin/{isolation_bench,offlog_load,offlogd} "$OUT/isolation/bin/"
  offlog/bench/isolation.sh --skip-build --out "$OUT/isolation" \
    --server-cmd "$SERVER_CMD" --baseline-cmd "$BASELINE_CMD" \
    --orig "$ORIG" --rounds "$REPEAT" 2>&1 | tee "$OUT/logs/isolation.log"
fi

echo "== report"
python3 offlog/bench/report.py "$OUT"
echo "results in $OUT"
