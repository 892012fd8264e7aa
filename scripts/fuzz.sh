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
  art="$build/artifacts-$name/"
  rm -rf "$art" && mkdir -p "$art"
  rc=0
  "$f" -max_total_time="$secs" -max_len=65536 -print_final_stats=0 -artifact_prefix="$art" \
       "$corpus" $( [ -d "$seeds" ] && echo "$seeds" ) > "$build/$name.log" 2>&1 || rc=$?
  grep -E "^Done|ERROR|SUMMARY|Test unit written" "$build/$name.log" || true
  if [ "$rc" -ne 0 ]; then
    # the stack and the input, so that a failure on a CI machine can be reproduced anywhere
    grep -E "^ +#[0-9]+ .* in " "$build/$name.log" | head -12 || true
    for a in "$art"*; do
      echo "input $(basename "$a") (base64; decode to a file and run $f <file>):"
      base64 -w0 "$a"; echo
    done
    exit "$rc"
  fi
  ran=$((ran + 1))
done
[ "$ran" -gt 0 ] || { echo "fuzz: no fuzz targets built in $build" >&2; exit 1; }
echo "fuzz: $ran targets ran clean"
