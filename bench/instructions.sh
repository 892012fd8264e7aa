#!/usr/bin/env bash
# User-space instructions per proxied request, Portcullis against nginx, counted by callgrind
# (valgrind): the same mock, the same ~1 KB chat request over plain HTTP keep-alive, each proxy in
# one process (Portcullis 1 worker; nginx `master_process off`). Counting starts after a warm-up
# and stops after a timed wrk run; the count divided by the requests answered in it. Unlike
# requests/s, the figure hardly moves with the machine's load (a virtual machine's speed drifts
# by up to 2x between runs); it leaves out the kernel (system calls, TCP), where both proxies spend
# most of their time on loopback.
#
#   bench/instructions.sh BUILD_DIR MOCK_PORT GATEWAY_CONFIG NGINX_CONF_TEMPLATE TMPDIR
#
# GATEWAY_CONFIG and NGINX_CONF_TEMPLATE are those of bench/run.sh's throughput comparison (the
# gateway's listens on port 0: its port is read from its log).
#
# Prints "portcullis INSTR REQUESTS" and "nginx INSTR REQUESTS" (instructions per request,
# requests counted), then the ten functions with the most instructions for each, to stdout.
set -euo pipefail
build=$1 mock_port=$2 gw_cfg=$3 ngx_tpl=$4 tmp=$5
secs=${BENCH_INSTR_SECONDS:-5}
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
pid=
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true' EXIT

count() { # name port -> "name instructions-per-request requests"; callgrind's file in $tmp/cg-NAME
  local name=$1 port=$2 n
  for _ in $(seq 600); do curl -sf -o /dev/null "http://127.0.0.1:$port/v1/models" && break; sleep 0.1; done
  curl -sf -o /dev/null "http://127.0.0.1:$port/v1/models" || { echo "instructions: $name does not answer under valgrind" >&2; exit 1; }
  wrk -t1 -c8 -d2s -s bench/chat.lua "http://127.0.0.1:$port" >/dev/null 2>&1
  callgrind_control -i on "$pid" >/dev/null 2>&1
  n=$(wrk -t1 -c8 -d"${secs}s" -s bench/chat.lua "http://127.0.0.1:$port" | awk '/ requests in / {print $1}')
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
  # the dump taken after the run (callgrind's file NAME.PID.1) holds what was counted
  local f i
  for f in "$tmp/cg-$name".*.1; do [[ -e $f ]] || f=; break; done
  i=$([[ -n $f ]] && callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')
  [[ -n $i && -n $n && $n -gt 0 ]] || { echo "instructions: no count for $name" >&2; exit 1; }
  cp "$f" "$tmp/cg-$name"
  awk -v i="$i" -v n="$n" -v name="$name" 'BEGIN { printf "%s %.0f %d\n", name, i / n, n }'
}

valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$tmp/cg-portcullis.%p" \
  "$build/portcullis" -c "$gw_cfg" 2>"$tmp/instr-gw.err" &
pid=$!
gw_port=
for _ in $(seq 600); do
  gw_port=$(grep -m1 'listening on' "$tmp/instr-gw.err" 2>/dev/null | sed 's/.*:\([0-9]*\) .*/\1/') || true
  [[ -n $gw_port ]] && break
  sleep 0.1
done
[[ -n $gw_port ]] || { echo "instructions: portcullis did not start under valgrind" >&2; exit 1; }
count portcullis "$gw_port"

ngx_port=$(free_port) ngx_tls_port=$(free_port)
mkdir -p "$tmp/instr-nginx"
sed -e "s|@DIR@|$tmp/instr-nginx|g" -e "s|@MOCK@|$mock_port|g" -e "s|@PORT@|$ngx_port|g" \
    -e "s|@TLSPORT@|$ngx_tls_port|g" -e "s|@CERTS@|$tmp/certs|g" \
    -e 's|^daemon off;|daemon off;\nmaster_process off;|' "$ngx_tpl" >"$tmp/instr-nginx/nginx.conf"
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$tmp/cg-nginx.%p" \
  nginx -p "$tmp/instr-nginx" -c "$tmp/instr-nginx/nginx.conf" 2>"$tmp/instr-nginx.err" &
pid=$!
count nginx "$ngx_port"

for name in portcullis nginx; do
  echo "== $name"
  callgrind_annotate --inclusive=no "$tmp/cg-$name" 2>/dev/null |
    grep -E '^ *[0-9,]+ \(' | grep -v 'PROGRAM TOTALS' | awk 'NR <= 10'
done
