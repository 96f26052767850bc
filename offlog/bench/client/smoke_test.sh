#!/bin/sh
# Runs every benchmark once, briefly; fails if any reports an error.
set -eu
out=$("$1" --benchmark_min_time=0.01 2>&1) || { echo "$out"; exit 1; }
echo "$out"
for name in BM_ProxyFileWrite BM_LocalFileWrite BM_BareSend; do
  echo "$out" | grep -q "^$name" || { echo "missing $name"; exit 1; }
done
if echo "$out" | grep -qi "error"; then exit 1; fi
