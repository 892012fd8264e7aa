#!/usr/bin/env bash
# `make run`: starts the gateway on the default config. When a provider key is missing, the
# default routes fall back to the bundled mock provider (tests/mock), which this script starts
# on 127.0.0.1:8089 first and stops when the gateway exits.
set -euo pipefail
build=${1:-build}
config=${2:-config/portcullis.yaml}

mock_pid=""
cleanup() { [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null || true; }
trap cleanup EXIT

if [ -z "${OPENAI_API_KEY:-}" ] || [ -z "${ANTHROPIC_API_KEY:-}" ]; then
  if [ "$config" = "config/portcullis.yaml" ]; then
    echo "run: no provider key set: starting the bundled mock provider on 127.0.0.1:8089"
    fifo=$(mktemp -u); mkfifo "$fifo"
    "$build/pc-mock" --listen 127.0.0.1:8089 >"$fifo" &
    mock_pid=$!
    # Wait for the mock's LISTEN line (it prints it once bound), then keep draining its stdout.
    exec 3<"$fifo"; rm -f "$fifo"
    if ! read -r -t 10 line <&3 || [[ "$line" != LISTEN* ]]; then
      echo "run: the mock provider did not start" >&2; exit 1
    fi
    cat <&3 >/dev/null &
  fi
fi
"$build/portcullis" -c "$config" &
gw_pid=$!
trap 'kill -TERM $gw_pid 2>/dev/null; wait $gw_pid; cleanup' INT TERM
wait $gw_pid
