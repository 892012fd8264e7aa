#!/usr/bin/env bash
# Runs the integration suite (real binary, mock provider, curl, official SDKs) against the
# release build and again against the ASan+UBSan build.
set -euo pipefail
release=${1:-build}
asan=${2:-build-asan}
root=$(pwd)
cd tests/integration
npm ci --no-audit --no-fund --loglevel=error
# The tests start gateways with a 10 s deadline (30 s under ASan); the first start on a machine
# compiles the shipped rule packs for longer than that. `check` compiles them into the user's
# cache now, so the suite does not depend on the unit tests having run first.
"$root/$release/portcullis" check -c "$root/config/portcullis.yaml" >/dev/null
for b in "$release" "$asan"; do
  echo "== integration tests: $b =="
  PORTCULLIS_BIN="$root/$b/portcullis" PC_MOCK_BIN="$root/$b/pc-mock" \
    node --test --test-concurrency=1 ./*.test.mjs
  echo "== SDK streaming under the trace filter (random re-chunking): $b =="
  PC_TEST_TRACE=1 PORTCULLIS_BIN="$root/$b/portcullis" PC_MOCK_BIN="$root/$b/pc-mock" \
    node --test --test-concurrency=1 ./sdk.test.mjs
done
