#!/usr/bin/env bash
# Helper used for issue 12 (docs/PERFORMANCE.md); LOAD defaults to bazel-bin/offlog/bench/offlog_load.
# e12prof.sh SERVERBIN CLIENTS FILES RECORDS SIZE [server args]: counts syscalls of the server tree during one load.
set -u
BIN=$1 C=$2 F=$3 R=$4 S=$5; shift 5
D=$(mktemp -d /tmp/e12p.XXXX)
EV=syscalls:sys_enter_recvfrom,syscalls:sys_enter_splice,syscalls:sys_enter_write,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_nanosleep,syscalls:sys_enter_sendto,syscalls:sys_enter_clock_nanosleep,syscalls:sys_enter_newfstat,raw_syscalls:sys_enter,context-switches,task-clock
perf stat -e "$EV" -o $D/perf.txt -- $BIN -s $D/s.sock "$@" >$D/log 2>&1 &
PP=$!
for _ in $(seq 100); do [[ -S $D/s.sock ]] && break; sleep 0.05; done
SP=$(pgrep -P $PP | head -1)
${LOAD:-bazel-bin/offlog/bench/offlog_load} --socket $D/s.sock --server_pid $SP --clients $C --files $F --records $R --size $S | grep -E "throughput|server:|checker"
kill -TERM $SP; wait $PP
grep -E "syscalls|context|task-clock" $D/perf.txt | awk -v n=$((C*R)) '{gsub(",","",$1); printf "%-40s %12s  per record %.3f\n", $2, $1, $1/n}'
rm -rf $D
