#!/usr/bin/env bash
# `make bench`: Portcullis (1 worker) against nginx (1 worker, upstream keep-alive pool), both in
# front of the same mock provider, measured in the same run; writes bench/RESULTS.md.
# Figures are reported as ratios to nginx. Nothing here is asserted by the tests.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/deps.sh nginx-light wrk
dur=${BENCH_SECONDS:-10}
conns=${BENCH_CONNS:-64}
idle_n=${BENCH_IDLE_CONNS:-10000}
ulimit -n "$(ulimit -Hn)" || true

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

wait_line() { # file pattern -> prints the first matching line, waits up to 10 s
  for _ in $(seq 200); do
    if l=$(grep -m1 "$2" "$1" 2>/dev/null); then echo "$l"; return 0; fi
    sleep 0.05
  done
  echo "bench: timed out waiting for '$2' in $1" >&2; return 1
}
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

"$build/pc-mock" --listen 127.0.0.1:0 --threads 1 >"$tmp/mock.out" 2>&1 &
pids+=($!)
mock_port=$(wait_line "$tmp/mock.out" '^LISTEN' | sed 's/.*://')

cat >"$tmp/gw.yaml" <<YAML
workers: 1
listen: [127.0.0.1:0]
access_log: off
log_level: warn
providers:
  - name: mock
    base_url: http://127.0.0.1:$mock_port
    auth: none
routes:
  - prefix: /v1/
    provider: mock
YAML
"$build/portcullis" -c "$tmp/gw.yaml" 2>"$tmp/gw.err" &
gw_pid=$!
pids+=($gw_pid)
gw_port=$(wait_line "$tmp/gw.err" 'listening on' | sed 's/.*:\([0-9]*\) .*/\1/')

ngx_port=$(free_port)
sed -e "s|@DIR@|$tmp|g" -e "s|@MOCK@|$mock_port|g" -e "s|@PORT@|$ngx_port|g" bench/nginx.conf.in >"$tmp/nginx.conf"
nginx -p "$tmp" -c "$tmp/nginx.conf" &
pids+=($!)
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$ngx_port/v1/models" && break; sleep 0.05; done

run_wrk() { # name port -> "rps p50 p99"
  wrk -t1 -c"$conns" -d2s -s bench/chat.lua "http://127.0.0.1:$2" >/dev/null 2>&1 # warm-up
  wrk -t1 -c"$conns" -d"${dur}s" --latency -s bench/chat.lua "http://127.0.0.1:$2" >"$tmp/wrk-$1.txt"
  awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {print rps, p50, p99}' "$tmp/wrk-$1.txt"
}
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else if (v ~ /s$/) printf "%.3f", v*1000; else print v }'; }

read -r d_rps d_p50 d_p99 < <(run_wrk direct "$mock_port")
read -r g_rps g_p50 g_p99 < <(run_wrk portcullis "$gw_port")
read -r n_rps n_p50 n_p99 < <(run_wrk nginx "$ngx_port")

read -r t_direct t_direct90 < <(bench/ttfb.sh "http://127.0.0.1:$mock_port/v1/chat/completions" 300)
read -r t_gw t_gw90 < <(bench/ttfb.sh "http://127.0.0.1:$gw_port/v1/chat/completions" 300)
read -r t_ngx t_ngx90 < <(bench/ttfb.sh "http://127.0.0.1:$ngx_port/v1/chat/completions" 300)

rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
idle_kib() { # pid port -> KiB per idle keep-alive connection
  local before after
  before=$(rss "$1")
  coproc HOLD { node bench/idle_conns.mjs 127.0.0.1 "$2" "$idle_n"; }
  read -r ready _ <&"${HOLD[0]}"
  after=$(rss "$1")
  exec {HOLD[1]}>&-
  wait "$HOLD_PID" 2>/dev/null || true
  awk -v a="$after" -v b="$before" -v n="$idle_n" 'BEGIN { printf "%.2f", (a-b)/n }'
}
ngx_worker=$(pgrep -P "$(cat "$tmp/nginx.pid")" | head -1)
m_gw=$(idle_kib "$gw_pid" "$gw_port")
m_ngx=$(idle_kib "$ngx_worker" "$ngx_port")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a/b }'; }
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
cat >bench/RESULTS.md <<MD
# Benchmark results

Produced by \`make bench\` (bench/run.sh) on $(date -u +%Y-%m-%d), $(nproc) cores ($cpu), all
processes on one machine over loopback. wrk: 1 thread, $conns connections, ${dur}s after a 2 s
warm-up, ~1 KB OpenAI chat request (bench/chat.lua), non-streaming JSON answer from the mock
provider (tests/mock, 1 thread). Portcullis: 1 worker, access log off. nginx $(nginx -v 2>&1 | sed 's/.*\///'):
1 worker, \`proxy_pass\` with an upstream \`keepalive 64\` pool (bench/nginx.conf.in). Same run,
same mock. Note: on 2 cores, wrk, the proxy and the mock share the CPUs, so absolute numbers are
low; the ratio is the figure of merit.

## Throughput and latency

| target | requests/s | p50 | p99 | requests/s vs nginx |
|---|---|---|---|---|
| mock direct (no proxy) | $d_rps | $(to_ms "$d_p50") ms | $(to_ms "$d_p99") ms | $(ratio "$d_rps" "$n_rps") |
| **Portcullis** | $g_rps | $(to_ms "$g_p50") ms | $(to_ms "$g_p99") ms | **$(ratio "$g_rps" "$n_rps")** |
| nginx | $n_rps | $(to_ms "$n_p50") ms | $(to_ms "$n_p99") ms | 1.00 |

## Time to first SSE byte (streaming request, 300 sequential requests with curl)

| target | median | p90 | added vs direct (median) |
|---|---|---|---|
| mock direct | $t_direct ms | $t_direct90 ms | — |
| **Portcullis** | $t_gw ms | $t_gw90 ms | $(awk -v a="$t_gw" -v b="$t_direct" 'BEGIN{printf "%.3f", a-b}') ms |
| nginx | $t_ngx ms | $t_ngx90 ms | $(awk -v a="$t_ngx" -v b="$t_direct" 'BEGIN{printf "%.3f", a-b}') ms |

## Memory per idle keep-alive connection

$idle_n connections, each after one request/response, held idle; RSS difference of the serving
process divided by the count (kernel socket buffers are not in RSS for either).

| target | KiB per idle connection |
|---|---|
| **Portcullis** | $m_gw |
| nginx | $m_ngx |

Goals: throughput ≥ 1.0 × nginx; ≤ 8 KiB per idle connection.
MD
cat bench/RESULTS.md
