#!/bin/sh
# Runs batch_bench once, briefly; fails if it reports an error.
set -eu
out=$("$1" --clients=2 --records=2000 --rounds=1 2>&1) || { echo "$out"; exit 1; }
echo "$out"
echo "$out" | grep -q "^median off=" || { echo "no medians"; exit 1; }
