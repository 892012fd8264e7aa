#!/usr/bin/env bash
# Runs the integration suite (real binary, mock provider, curl, official SDKs) against the
# release build and again against the ASan+UBSan build.
set -euo pipefail
release=${1:-build}
asan=${2:-build-asan}
root=$(pwd)
cd tests/integration
npm ci --no-audit --no-fund --loglevel=error
for b in "$release" "$asan"; do
  echo "== integration tests: $b =="
  PORTCULLIS_BIN="$root/$b/portcullis" PC_MOCK_BIN="$root/$b/pc-mock" \
    node --test --test-concurrency=1 ./*.test.mjs
  echo "== SDK streaming under the trace filter (random re-chunking): $b =="
  PC_TEST_TRACE=1 PORTCULLIS_BIN="$root/$b/portcullis" PC_MOCK_BIN="$root/$b/pc-mock" \
    node --test --test-concurrency=1 ./sdk.test.mjs
done
