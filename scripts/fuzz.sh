#!/usr/bin/env bash
# Runs each libFuzzer target for a few seconds, seeded from tests/fixtures/fuzz/<target>/.
set -euo pipefail
build=${1:-build-fuzz}
secs=${2:-20}
shopt -s nullglob
ran=0
for f in "$build"/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  corpus="tests/fuzz/corpus-$name"
  mkdir -p "$corpus"
  seeds="tests/fixtures/fuzz/$name"
  echo "== $name: ${secs}s =="
  "$f" -max_total_time="$secs" -max_len=65536 -print_final_stats=0 "$corpus" \
       $( [ -d "$seeds" ] && echo "$seeds" ) 2>&1 | grep -E "^Done|ERROR|SUMMARY|Test unit written"
  ran=$((ran + 1))
done
[ "$ran" -gt 0 ] || { echo "fuzz: no fuzz targets built in $build" >&2; exit 1; }
echo "fuzz: $ran targets ran clean"
