#!/usr/bin/env bash
# Helper used for issue 12 (docs/PERFORMANCE.md); BIN defaults to bazel-bin/offlog/bench.
# e12ab.sh ROUNDS OUTCSV "C F R S" name=cmd...
set -u
R=$1 OUT=$2 SC=$3; shift 3
SERVERS=("$@")
for r in $(seq $R); do
  set -- $SC
  for nc in "${SERVERS[@]}"; do
    name=${nc%%=*} cmd=${nc#*=}
    D=$(mktemp -d /tmp/e12a.XXXX)
    $cmd -s $D/s.sock >/dev/null 2>&1 & P=$!
    for _ in $(seq 100); do [[ -S $D/s.sock ]] && break; sleep 0.05; done
    ${BIN:-bazel-bin/offlog/bench}/offlog_load --socket $D/s.sock --server_pid $P --clients $1 --files $2 --records $3 --size $4 --out $OUT --label "a-c$1-f$2-s$4" --server_name $name >/dev/null 2>&1
    kill -TERM $P; wait $P 2>/dev/null; rm -rf $D
  done
done
python3 - "$OUT" <<'PY'
import csv,sys,statistics as st
rows=list(csv.DictReader(open(sys.argv[1])))
g={}
for r in rows: g.setdefault(r['label'],{}).setdefault(r['server'],[]).append(r)
for l,ss in g.items():
  for s,v in ss.items():
    print(l, s, f"cpu median {st.median(float(x['server_cpu_us_per_record']) for x in v):.2f} MB/s median {st.median(float(x['mb_per_s']) for x in v):.0f}", "rounds:", " ".join(f"{float(x['server_cpu_us_per_record']):.0f}/{float(x['mb_per_s']):.0f}" for x in v), "bad", sum(int(x['torn'] or 0)+int(x['missing'] or 0)+int(x['errors'] or 0) for x in v))
PY
