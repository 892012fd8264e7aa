#!/usr/bin/env bash
# `make bench`: Portcullis (1 worker) against nginx (1 worker, upstream keep-alive pool), both in
# front of the same mock provider, measured in the same run; writes bench/RESULTS.md.
# Plain HTTP: throughput and latency, time to first SSE byte, memory per idle connection.
# TLS (both terminate TLS with the same certificate from certs/mkcerts.sh and proxy plain HTTP to
# the mock): keep-alive throughput over TLS and new full TLS handshakes per second.
# Filter chain overhead: two more Portcullis processes with the same 100 `patterns` rules
# (bench/patterns100.yaml), chain on and off, a 4 KB prompt (bench/chat4k.lua) and a 2,000-event
# stream.
# Secrets and personal data: the default config's two `patterns` filters (secrets, pii) on one
# core (bench/patterns_scan.c, pc-bench-patterns: MB/s and µs per event over English and
# technical text), and a Portcullis process with them against the chain-OFF one: start time
# (compiling both packs cold), the 4 KB prompt and the 2,000-event stream.
# Budgets: three Portcullis processes with a virtual key, its team without limits, with limits on
# the embedded (journaled) store, and with limits on a redis-server started here: throughput and
# added latency per request.
# Figures are reported as ratios to nginx (chain: ON to OFF). Nothing here is asserted by the tests.
# Environment: BENCH_SECONDS (10) per measured run, BENCH_ROUNDS (3) and BENCH_ROUND_SECONDS (5):
# the alternating rounds of every head-to-head comparison, BENCH_CONNS (64) wrk connections,
# BENCH_IDLE_CONNS (10000), BENCH_TLS=0 to leave out the TLS section, BENCH_CHAIN=0 to leave out
# the filter chain section, BENCH_INJECTION=0 to leave out the injection filter section (needs
# the chain section), BENCH_SENSITIVE=0 to leave out the secrets and personal data section
# (needs the chain section), BENCH_BUDGET=0 to leave out the budget section, BENCH_AUDIT=0 to
# leave out the audit section, BENCH_EGRESS=0 to leave out the egress check section, BENCH_INSTR=0 to
# leave out the instruction count (bench/instructions.sh, callgrind), BENCH_AUDIT_RECORDS
# (200000) records per audit thread run, BENCH_CHAIN_STREAMS (30) streamed requests per target, BENCH_RESULTS
# (output file, default bench/RESULTS.md). If a proxy cannot serve a measurement (e.g. Portcullis
# does not start with its TLS listener or with the 100 rules, over 1 % of a run's requests fail,
# any request of the chain section fails or a stream arrives incomplete) the script stops with an
# error and exit status 1 and writes no results.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/deps.sh nginx-light wrk valgrind jq
dur=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}
round_secs=${BENCH_ROUND_SECONDS:-5}
conns=${BENCH_CONNS:-64}
idle_n=${BENCH_IDLE_CONNS:-10000}
tls_on=${BENCH_TLS:-1}
chain_on=${BENCH_CHAIN:-1}
audit_on=${BENCH_AUDIT:-1}
inj_on=${BENCH_INJECTION:-1}
sens_on=${BENCH_SENSITIVE:-1}
bud_on=${BENCH_BUDGET:-1}
eg_on=${BENCH_EGRESS:-1}
instr_on=${BENCH_INSTR:-1}
audit_records=${BENCH_AUDIT_RECORDS:-200000}
chain_streams=${BENCH_CHAIN_STREAMS:-30}
results=${BENCH_RESULTS:-bench/RESULTS.md}
ulimit -n "$(ulimit -Hn)" || true

tmp=$(mktemp -d)
pids=()
cleanup() { # SIGTERM, up to 5 s to exit, then SIGKILL (a hung drain must not hang the bench)
  local p alive
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive+=" $p"; done
    [[ -z $alive ]] && break
    sleep 0.1
  done
  for p in $alive; do
    echo "bench: warning: pid $p ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)) did not exit within 5 s of SIGTERM; killed" >&2
    kill -9 "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
die() { echo "bench: $*" >&2; exit 1; }

wait_line() { # file pattern -> prints the first matching line, waits up to 10 s
  for _ in $(seq 200); do
    if l=$(grep -m1 "$2" "$1" 2>/dev/null); then echo "$l"; return 0; fi
    sleep 0.05
  done
  echo "bench: timed out waiting for '$2' in $1" >&2; return 1
}
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# Certificates for the TLS listeners (dev CA + server certificate for localhost / 127.0.0.1).
certs=$tmp/certs
certs/mkcerts.sh "$certs" >/dev/null
wait_tls() { # pid port -> waits up to 10 s for a verified HTTPS answer on 127.0.0.1:port
  for _ in $(seq 200); do
    kill -0 "$1" 2>/dev/null || return 1
    curl -sf -o /dev/null --cacert "$certs/ca.crt" "https://127.0.0.1:$2/v1/models" && return 0
    sleep 0.05
  done
  return 1
}
tls_info() { # port -> "protocol cipher-suite key-exchange", certificate and host name verified
  openssl s_client -connect "127.0.0.1:$1" -servername localhost -verify_return_error \
    -verify_hostname localhost -CAfile "$certs/ca.crt" -brief </dev/null 2>&1 |
    awk -F': ' '/^Protocol version/ {p=$2} /^Ciphersuite/ {c=$2} /^Server Temp Key/ {split($2,k,","); g=k[1]}
                END {if (p == "" || c == "") exit 1; print p, c, g}'
}

"$build/pc-mock" --listen 127.0.0.1:0 --threads 1 >"$tmp/mock.out" 2>&1 &
pids+=($!)
mock_port=$(wait_line "$tmp/mock.out" '^LISTEN' | sed 's/.*://')

cat >"$tmp/gw.yaml" <<YAML
workers: 1
listen: [127.0.0.1:0]
access_log: off
log_level: warn
admin:
  listen: off
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

if [[ $chain_on != 0 ]]; then
  # Filter chain overhead: two more Portcullis processes (1 worker, access log off, admin off) in
  # front of the same mock with the same config, the `patterns` filter with the 100 rules of
  # bench/patterns100.yaml; the chain-OFF one has `filters: []` on its route. Started and checked
  # here, before anything is measured, so that a rule that does not compile or a chain that does
  # not filter fails fast.
  chain_rules=$(grep -c '^ *- {id: ' bench/patterns100.yaml)
  ((chain_rules == 100)) || die "bench/patterns100.yaml holds $chain_rules rules, expected 100"
  for side in on off; do
    {
      cat <<YAML
workers: 1
listen: [127.0.0.1:0]
access_log: off
log_level: warn
admin:
  listen: off
providers:
  - name: mock
    base_url: http://127.0.0.1:$mock_port
    auth: none
routes:
  - prefix: /v1/
    provider: mock
YAML
      [[ $side == off ]] && echo "    filters: []"
      cat bench/patterns100.yaml
    } >"$tmp/gw-chain-$side.yaml"
  done
  start_gw() { # name [what] -> starts portcullis -c $tmp/NAME.yaml; sets started_pid, started_port, started_ms
    local l= t0 what=${2:-the 100 rules of bench/patterns100.yaml}
    t0=$(date +%s%N)
    "$build/portcullis" -c "$tmp/$1.yaml" 2>"$tmp/$1.err" &
    started_pid=$!
    pids+=("$started_pid")
    for _ in $(seq 6000); do # up to 300 s: compiling the shipped packs cold takes one to three minutes
      l=$(grep -m1 'listening on' "$tmp/$1.err") && break
      kill -0 "$started_pid" 2>/dev/null || break
      sleep 0.05
    done
    if [[ -z $l ]] || ! kill -0 "$started_pid" 2>/dev/null; then
      {
        echo "bench: ERROR: Portcullis with the filter chain config $1.yaml ($what) did not"
        echo "start. No results written."
        echo "--- portcullis stderr ($build/portcullis -c $1.yaml) ---"; cat "$tmp/$1.err"
        echo "--- (BENCH_CHAIN=0 leaves the filter chain section out) ---"
      } >&2
      exit 1
    fi
    started_ms=$((($(date +%s%N) - t0) / 1000000))
    started_port=$(sed 's/.*:\([0-9]*\) .*/\1/' <<<"$l")
  }
  start_gw gw-chain-on
  chon_port=$started_port chon_ms=$started_ms chon_pid=$started_pid
  start_gw gw-chain-off
  choff_port=$started_port choff_pid=$started_pid
  if [[ $inj_on != 0 ]]; then
    # The injection filter with the shipped pack, default thresholds, session escalation on.
    sed -e '/^    filters: \[\]$/d' -e '/^filters:/,$d' "$tmp/gw-chain-off.yaml" >"$tmp/gw-inj.yaml"
    cat >>"$tmp/gw-inj.yaml" <<YAML
filters:
  - type: injection
    pack: $PWD/config/rules/injection.yaml
    classifier: $PWD/config/models/injection.pcm
YAML
    # Started with an empty PORTCULLIS_CACHE_DIR: the start time is that of a first start
    # (compiling the pack's four databases); the next process, on the same cache, loads them.
    inj_cache=$tmp/inj-cache
    mkdir "$inj_cache"
    PORTCULLIS_CACHE_DIR=$inj_cache start_gw gw-inj "the shipped injection pack"
    inj_port=$started_port inj_ms=$started_ms inj_pid=$started_pid
    # ... and the rule pack alone (classifier off): what the classifier adds per request.
    sed -e "s|^    classifier: .*|    classifier: 'off'|" "$tmp/gw-inj.yaml" >"$tmp/gw-inj-rules.yaml"
    PORTCULLIS_CACHE_DIR=$inj_cache start_gw gw-inj-rules "the shipped injection pack"
    injr_port=$started_port injr_ms=$started_ms
  fi
  if [[ $sens_on != 0 ]]; then
    # The default config's two patterns filters, secrets and pii: their entries under `filters:`
    # in config/portcullis.yaml as they are (rules files made absolute, comments dropped), on the
    # chain-OFF config. Started with an empty PORTCULLIS_CACHE_DIR, so the start time is that of
    # a first start (compiling both packs, block and stream databases); a second process on the
    # same cache shows a later start, and is stopped.
    default_filter() { # name -> its entry in config/portcullis.yaml
      awk -v want="$1" -v dir="$PWD/config" '
        function flush() { if (item ~ ("\n    name: " want "\n")) printf "%s", item; item = "" }
        /^filters:/ { f = 1; next }
        f && /^[^ #]/ { flush(); f = 0 }
        !f || /^ *#/ { next }
        /^  - / { flush() }
        { sub(/[ \t]+(#.*)?$/, "")
          if ($1 == "rules_file:" && $2 !~ /^\//) sub(/rules_file: /, "rules_file: " dir "/")
          item = item $0 "\n" }
        END { flush() }' config/portcullis.yaml
    }
    sens_filters=$(default_filter secrets; default_filter pii)
    for n in secrets pii; do
      grep -q "^    name: $n\$" <<<"$sens_filters" ||
        die "config/portcullis.yaml has no patterns filter named $n (BENCH_SENSITIVE=0 leaves the secrets and personal data section out)"
    done
    sens_key() { # filter key -> the value of key in the filter's entry (top level of the entry)
      awk -v want="$1" -v k="    $2: " '/^  - / {n = ""} /^    name: / {n = $2} n == want && index($0, k) == 1 {print substr($0, length(k) + 1)}' <<<"$sens_filters"
    }
    sed -e '/^    filters: \[\]$/d' -e '/^filters:/,$d' "$tmp/gw-chain-off.yaml" >"$tmp/gw-sens.yaml"
    printf 'filters:\n%s\n' "$sens_filters" >>"$tmp/gw-sens.yaml"
    cp "$tmp/gw-sens.yaml" "$tmp/gw-sens-warm.yaml"
    sens_cache=$tmp/sens-cache
    mkdir "$sens_cache"
    PORTCULLIS_CACHE_DIR=$sens_cache start_gw gw-sens "the default config's secrets and pii filters"
    sens_port=$started_port sens_ms=$started_ms sens_pid=$started_pid
    PORTCULLIS_CACHE_DIR=$sens_cache start_gw gw-sens-warm "the default config's secrets and pii filters"
    sens_warm_ms=$started_ms
    kill "$started_pid"
    wait "$started_pid" 2>/dev/null || true
  fi

  # The texts. Request: bench/prompt4k.txt as the user message (the body bench/chat4k.lua sends),
  # answered by a short summary (the mock's `text`, in X-Mock). Stream: the prompt's words, cycled
  # to 2,000 words; the mock sends one content event per word (its default split).
  jq -cjn --rawfile t bench/prompt4k.txt '{model: "gpt-4o-mini", messages: [
      {role: "system", content: "You are a concise assistant for an operations team."},
      {role: "user", content: $t}], max_tokens: 400}' >"$tmp/chat4k.json"
  chat4k_bytes=$(wc -c <"$tmp/chat4k.json")
  answer4k="Summary: order volume grew by about eighteen percent and the average pick time fell to three minutes and forty seconds. Decisions: start the scheduler migration on the pilot site next month (Tom); add partial pallet support to the mobile app backlog with high priority (Maria); keep per site pricing while finance runs the simulation (Aisha). Open questions: the label printer integration, the cost of each night support option, and whether power users still need the old dashboard layout."
  xmock4k=$(jq -cn --arg t "$answer4k" '{text: $t}')
  stream_events=2000
  awk -v n=$stream_events '{for (i = 1; i <= NF; i++) w[++k] = $i}
      END {for (j = 0; j < n; j++) printf "%s%s", (j ? " " : ""), w[j % k + 1]}' bench/prompt4k.txt >"$tmp/stream.txt"
  stream_bytes=$(wc -c <"$tmp/stream.txt")
  xmock_stream=$(jq -cn --rawfile t "$tmp/stream.txt" '{text: $t}')
  stream_req='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Write the full report on the warehouse routing project."}]}'
  # None of them matches a rule (same code as the proxy: portcullis scan), so the figures are the
  # cost of scanning, not of redacting.
  scan_out=$({ cat "$tmp/chat4k.json"; echo; jq -cn --arg t "$answer4k" '{role: "assistant", text: $t}'
               jq -cn --rawfile t "$tmp/stream.txt" '{role: "assistant", text: $t}'; } |
             "$build/portcullis" scan -c "$tmp/gw-chain-on.yaml" --route /v1/) ||
    die "portcullis scan failed on the benchmark texts: $scan_out"
  [[ $(jq -r .action <<<"$scan_out" | sort -u) == pass ]] ||
    die "the benchmark texts match rules of bench/patterns100.yaml: $(jq -c 'del(.text)' <<<"$scan_out")"

  # SSE check: prints the number of non-empty content deltas, a newline and their text; fails
  # unless the stream ends with data: [DONE] and holds no error event.
  cat >"$tmp/sse.jq" <<'JQ'
[inputs | rtrimstr("\r") | select(startswith("data: ")) | .[6:]] as $d
| if ($d | length) == 0 or $d[-1] != "[DONE]" then error("the stream does not end with data: [DONE]") else . end
| [$d[:-1][] | fromjson
   | if has("error") then error("error event: \(.error | tojson)") else (.choices[]?.delta.content // empty) end
   | select(. != "")]
| "\(length)\n\(join(""))"
JQ
  # The chain really filters: an AWS access key id (made up) is redacted on the way to the mock,
  # and in a streamed answer; the chain-OFF process passes it unchanged.
  key=AKIAZ7QK3MXW2RPLB4TV
  for side in on off; do
    p=$chon_port want='[REDACTED:aws-access-key]'
    [[ $side == off ]] && p=$choff_port want=$key
    curl -sf -o /dev/null -H 'content-type: application/json' "http://127.0.0.1:$p/v1/chat/completions" \
      -d "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"upload it with $key today\"}]}" ||
      die "chain $side: request failed"
    seen=$(curl -sf "http://127.0.0.1:$mock_port/_mock/last" | jq -r .body)
    [[ $seen == *"upload it with $want today"* ]] ||
      die "chain $side: the mock saw $seen (expected 'upload it with $want today')"
    seen=$(curl -sfN -H 'content-type: application/json' -H "X-Mock: {\"text\":\"the key is $key for now\"}" \
             -d '{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}' \
             "http://127.0.0.1:$p/v1/chat/completions" | jq -Rjnf "$tmp/sse.jq") ||
      die "chain $side: streamed request failed"
    [[ ${seen#*$'\n'} == "the key is $want for now" ]] ||
      die "chain $side: streamed text '${seen#*$'\n'}' (expected 'the key is $want for now')"
  done

  if [[ $sens_on != 0 ]]; then
    # The benchmark texts hold no secret and no personal data (same code as the proxy:
    # portcullis scan), so the figures are the cost of scanning, and the stream must arrive as
    # the mock sent it.
    scan_out=$({ cat "$tmp/chat4k.json"; echo; jq -cn --arg t "$answer4k" '{role: "assistant", text: $t}'
                 jq -cn --rawfile t "$tmp/stream.txt" '{role: "assistant", text: $t}'; } |
               PORTCULLIS_CACHE_DIR=$sens_cache "$build/portcullis" scan -c "$tmp/gw-sens.yaml" --route /v1/) ||
      die "portcullis scan failed on the benchmark texts with the secrets and pii filters: $scan_out"
    [[ $(jq -r .action <<<"$scan_out" | sort -u) == pass ]] ||
      die "the benchmark texts match rules of the secrets / pii packs: $(jq -c 'del(.text, .body)' <<<"$scan_out")"
    # The filters really run: a made-up AWS key is redacted on the way to the mock (the e-mail
    # address only reported there: pii requests are events), both are redacted in a streamed
    # answer; the chain-OFF process passes them (checked above for the key).
    mail=jane.doe@acme-corp.com
    curl -sf -o /dev/null -H 'content-type: application/json' "http://127.0.0.1:$sens_port/v1/chat/completions" \
      -d "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"upload it with $key and mail $mail today\"}]}" ||
      die "secrets + pii: request failed"
    seen=$(curl -sf "http://127.0.0.1:$mock_port/_mock/last" | jq -r .body)
    [[ $seen == *"upload it with [REDACTED:"*"] and mail $mail today"* && $seen != *$key* ]] ||
      die "secrets + pii: the mock saw $seen (expected the key redacted, the e-mail address as it was)"
    seen=$(curl -sfN -H 'content-type: application/json' -H "X-Mock: {\"text\":\"the key is $key, mail $mail now\"}" \
             -d '{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}' \
             "http://127.0.0.1:$sens_port/v1/chat/completions" | jq -Rjnf "$tmp/sse.jq") ||
      die "secrets + pii: streamed request failed"
    [[ ${seen#*$'\n'} == "the key is [REDACTED:"*"], mail [REDACTED:"*"] now" && $seen != *$key* && $seen != *$mail* ]] ||
      die "secrets + pii: streamed text '${seen#*$'\n'}' (expected the key and the e-mail address redacted)"
  fi
fi

if [[ $tls_on != 0 ]]; then
  # A second Portcullis process (1 worker) with only a TLS listener, in front of the same mock.
  # Started (and checked) before anything is measured so that a missing feature fails fast.
  gwtls_port=$(free_port)
  cat >"$tmp/gw-tls.yaml" <<YAML
workers: 1
listen:
  - addr: 127.0.0.1:$gwtls_port
    tls:
      cert: $certs/server.crt
      key: $certs/server.key
access_log: off
log_level: warn
admin:
  listen: off
providers:
  - name: mock
    base_url: http://127.0.0.1:$mock_port
    auth: none
routes:
  - prefix: /v1/
    provider: mock
YAML
  "$build/portcullis" -c "$tmp/gw-tls.yaml" 2>"$tmp/gw-tls.err" &
  gwtls_pid=$!
  pids+=("$gwtls_pid")
  if ! wait_tls "$gwtls_pid" "$gwtls_port"; then
    {
      echo "bench: ERROR: Portcullis did not start with a TLS listener (or did not answer HTTPS on"
      echo "127.0.0.1:$gwtls_port with the certificate it was given). No results written."
      echo "--- config ($build/portcullis -c gw-tls.yaml) ---"; cat "$tmp/gw-tls.yaml"
      echo "--- portcullis stderr ---"; cat "$tmp/gw-tls.err"
      echo "--- (is TLS termination built? 'make build'; BENCH_TLS=0 leaves the TLS section out) ---"
    } >&2
    exit 1
  fi
  gwtls_info=$(tls_info "$gwtls_port") || die "openssl s_client could not verify Portcullis' TLS listener on 127.0.0.1:$gwtls_port"
fi

ngx_port=$(free_port)
ngx_tls_port=$(free_port)
sed -e "s|@DIR@|$tmp|g" -e "s|@MOCK@|$mock_port|g" -e "s|@PORT@|$ngx_port|g" \
    -e "s|@TLSPORT@|$ngx_tls_port|g" -e "s|@CERTS@|$certs|g" bench/nginx.conf.in >"$tmp/nginx.conf"
nginx -p "$tmp" -c "$tmp/nginx.conf" &
ngx_pid=$!
pids+=("$ngx_pid")
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$ngx_port/v1/models" && break; sleep 0.05; done
if [[ $tls_on != 0 ]]; then
  wait_tls "$ngx_pid" "$ngx_tls_port" || die "nginx does not answer HTTPS on 127.0.0.1:$ngx_tls_port ($(tail -3 "$tmp/nginx-error.log" 2>/dev/null))"
  ngx_info=$(tls_info "$ngx_tls_port") || die "openssl s_client could not verify nginx's TLS listener on 127.0.0.1:$ngx_tls_port"
fi

wrk_run() { # name url lua [VAR=value...] -> 2 s warm-up, then the measured run into $tmp/wrk-NAME.txt
  # Overrides (shell variables): WRK_CONNS ($conns), WRK_SECS ($dur), WRK_WARM=0 (no warm-up),
  # WRK_MAX_FAIL (1: percentage of failed requests tolerated).
  local name=$1 url=$2 lua=$3 c=${WRK_CONNS:-$conns} d=${WRK_SECS:-$dur} maxfail=${WRK_MAX_FAIL:-1}
  shift 3
  if [[ ${WRK_WARM:-1} != 0 ]]; then
    env "$@" wrk -t1 -c"$c" -d2s -s "$lua" "$url" >/dev/null 2>&1 || die "wrk failed against $url"
  fi
  env "$@" wrk -t1 -c"$c" -d"${d}s" --latency -s "$lua" "$url" >"$tmp/wrk-$name.txt" ||
    die "wrk failed against $url"
  # A run where over 1 % of the requests failed (socket errors, non-2xx answers) measures nothing.
  awk -v max="$maxfail" '/ requests in / {n=$1} /Socket errors/ {gsub(",", ""); e+=$4+$6+$8+$10} /Non-2xx/ {e+=$NF}
       END {exit !(n > 0 && e * 100 <= n * max)}' "$tmp/wrk-$name.txt" ||
    { cat "$tmp/wrk-$name.txt" >&2; die "$name ($url): too many failed requests, see wrk's output above"; }
}
wrk_stats() { # name -> "rps p50 p99"
  awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {print rps, p50, p99}' "$tmp/wrk-$1.txt"
}
run_wrk() { wrk_run "$1" "http://127.0.0.1:$2" bench/chat.lua; } # name port
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else if (v ~ /s$/) printf "%.3f", v*1000; else print v }'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # pid -> user + system time in clock ticks
median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# A head-to-head comparison: A and B (name url pid lua, pid = the serving process) each warmed up,
# then $rounds rounds of A then B, ${round_secs}s each, with the serving process's CPU time
# (user + system, /proc/PID/stat) around every measured run. On a shared 2-core machine one long
# run of A followed by one of B compares two machine states as much as two proxies (throughput
# drifted by up to 70 % between bench runs); alternating short rounds and taking medians does not.
# Writes $tmp/wrk-NAME.txt with the medians over the rounds (wrk's format, read by wrk_stats) and
# $tmp/pair-A-B.txt: "median of the rounds' A/B requests/s ratios, A's and B's median proxy CPU
# µs per request".
wrk_pair() { # nameA urlA pidA nameB urlB pidB lua [VAR=value...: wrk's environment]
  local na=$1 ua=$2 pa=$3 nb=$4 ub=$5 pb=$6 lua=$7 r n side c0 c1 url pid
  shift 7
  local wrk_env=("$@")
  WRK_WARM=0 WRK_SECS=2 wrk_run "$na-warm" "$ua" "$lua" "${wrk_env[@]}"
  WRK_WARM=0 WRK_SECS=2 wrk_run "$nb-warm" "$ub" "$lua" "${wrk_env[@]}"
  for ((r = 1; r <= rounds; r++)); do
    for side in a b; do
      if [[ $side == a ]]; then n=$na url=$ua pid=$pa; else n=$nb url=$ub pid=$pb; fi
      c0=$(cpu_ticks "$pid")
      WRK_WARM=0 WRK_SECS=$round_secs wrk_run "$n.r$r" "$url" "$lua" "${wrk_env[@]}"
      c1=$(cpu_ticks "$pid")
      echo "CPU-ticks: $((c1 - c0))" >>"$tmp/wrk-$n.r$r.txt"
    done
  done
  local tck
  tck=$(getconf CLK_TCK)
  for n in "$na" "$nb"; do
    {
      echo "Requests/sec: $(for ((r = 1; r <= rounds; r++)); do wrk_stats "$n.r$r" | awk '{print $1}'; done | median)"
      echo "    50% $(for ((r = 1; r <= rounds; r++)); do to_ms "$(wrk_stats "$n.r$r" | awk '{print $2}')"; echo; done | median)ms"
      echo "    99% $(for ((r = 1; r <= rounds; r++)); do to_ms "$(wrk_stats "$n.r$r" | awk '{print $3}')"; echo; done | median)ms"
      echo "CPU-us-per-request: $(for ((r = 1; r <= rounds; r++)); do
        awk -v t="$tck" '/ requests in / {n = $1} /^CPU-ticks:/ {c = $2} END {printf "%.1f\n", c * 1e6 / t / n}' "$tmp/wrk-$n.r$r.txt"
      done | median)"
    } >"$tmp/wrk-$n.txt"
  done
  {
    for ((r = 1; r <= rounds; r++)); do
      awk -v a="$(wrk_stats "$na.r$r" | awk '{print $1}')" -v b="$(wrk_stats "$nb.r$r" | awk '{print $1}')" 'BEGIN {printf "%.4f\n", a / b}'
    done | median | tr '\n' ' '
    awk '/^CPU-us-per-request:/ {printf "%s ", $2}' "$tmp/wrk-$na.txt" "$tmp/wrk-$nb.txt"
    echo
  } >"$tmp/pair-$na-$nb.txt"
}
pair_stats() { cat "$tmp/pair-$1-$2.txt"; } # nameA nameB -> "ratio cpuA cpuB"

ngx_worker=$(pgrep -P "$(cat "$tmp/nginx.pid")" | head -1)
run_wrk direct "$mock_port"
wrk_pair portcullis "http://127.0.0.1:$gw_port" "$gw_pid" nginx "http://127.0.0.1:$ngx_port" "$ngx_worker" bench/chat.lua
read -r d_rps d_p50 d_p99 < <(wrk_stats direct)
read -r g_rps g_p50 g_p99 < <(wrk_stats portcullis)
read -r n_rps n_p50 n_p99 < <(wrk_stats nginx)
read -r gn_ratio g_cpu n_cpu < <(pair_stats portcullis nginx)

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
m_gw=$(idle_kib "$gw_pid" "$gw_port")
m_ngx=$(idle_kib "$ngx_worker" "$ngx_port")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a/b }'; }

# User-space instructions per proxied request under callgrind: two more processes, one at a time
# (bench/instructions.sh), in front of the same mock.
instr_md=
if [[ $instr_on != 0 ]]; then
  bench/instructions.sh "$build" "$mock_port" "$tmp/gw.yaml" bench/nginx.conf.in "$tmp" >"$tmp/instr.txt" ||
    die "bench/instructions.sh failed"
  read -r _ gi_ins gi_n < <(grep '^portcullis ' "$tmp/instr.txt")
  read -r _ ni_ins ni_n < <(grep '^nginx ' "$tmp/instr.txt")
  top_fns() { # name -> the five functions with the most instructions, as a markdown list
    awk -v n="$1" '/^== / {on = ($2 == n); k = 0; next}
      on && k < 5 {
        k++; pct = ""; f = $0
        if (match(f, /\( *[0-9.]+%\)/)) { pct = substr(f, RSTART + 1, RLENGTH - 2); gsub(/ /, "", pct) }
        sub(/^[^)]*\) +/, "", f); sub(/ \[.*/, "", f); sub(/.*:/, "", f)
        printf "%s`%s` %s", (k > 1 ? ", " : ""), f, pct
      }' "$tmp/instr.txt"
  }
  instr_md=$(cat <<MD


### User-space instructions per request

callgrind (valgrind) counts every instruction each proxy executes in user space over a ${BENCH_INSTR_SECONDS:-5} s wrk run
(8 connections, bench/chat.lua, after a 2 s warm-up), each proxy alone in one process under
valgrind (nginx with \`master_process off\`); the kernel's share (system calls, TCP on loopback)
is not counted. Unlike requests/s, the count hardly moves with the machine's load
(bench/instructions.sh).

| target | instructions per request | requests counted | vs nginx |
|---|---|---|---|
| **Portcullis** | $gi_ins | $gi_n | **$(ratio "$gi_ins" "$ni_ins")** |
| nginx | $ni_ins | $ni_n | 1.00 |

Where they go (self instructions, share of the run): Portcullis $(top_fns portcullis); nginx $(top_fns nginx).
MD
)
fi

to_us() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.0f", v+0; else if (v ~ /ms$/) printf "%.0f", v*1000; else if (v ~ /s$/) printf "%.0f", v*1000000; else print v }'; }

chain_md=
inj_md=
sens_md=
if [[ $chain_on != 0 ]]; then
  # Scenario 1, the 4 KB prompt: throughput at $conns connections (as above), then latency with
  # one connection (3 s, no queueing). Any failed request stops the bench.
  chat4k_env=(BENCH_BODY="$tmp/chat4k.json" BENCH_XMOCK="$xmock4k")
  WRK_MAX_FAIL=0 wrk_pair chain-on "http://127.0.0.1:$chon_port" "$chon_pid" \
    chain-off "http://127.0.0.1:$choff_port" "$choff_pid" bench/chat4k.lua "${chat4k_env[@]}"
  for side in off on; do
    p=$choff_port
    [[ $side == on ]] && p=$chon_port
    WRK_MAX_FAIL=0 WRK_CONNS=1 WRK_SECS=3 WRK_WARM=0 \
      wrk_run "chain1-$side" "http://127.0.0.1:$p" bench/chat4k.lua "${chat4k_env[@]}"
  done
  read -r cf_rps cf_p50 cf_p99 < <(wrk_stats chain-off)
  read -r cn_rps cn_p50 cn_p99 < <(wrk_stats chain-on)
  read -r con_ratio _ < <(pair_stats chain-on chain-off)
  read -r cf1_rps cf1_p50 cf1_p99 < <(wrk_stats chain1-off)
  read -r cn1_rps cn1_p50 cn1_p99 < <(wrk_stats chain1-on)

  # Scenario 2, the 2,000-event stream: sequential curl -N runs, the three targets interleaved
  # (mock direct, chain OFF, chain ON), 3 warm-up rounds; curl's time_total is the time to the end
  # of the stream. Every run is checked: ends with [DONE], no error event, and the text received is
  # the whole text the mock sent.
  stream_text=$(<"$tmp/stream.txt")
  stream_once() { # name port
    local out
    curl -sfN -o "$tmp/stream.sse" -w '%{time_total}\n' -H 'content-type: application/json' \
      -H "X-Mock: $xmock_stream" -d "$stream_req" "http://127.0.0.1:$2/v1/chat/completions" \
      >>"$tmp/stream-$1.times" || die "stream $1: request failed (curl exit status $?)"
    out=$(jq -Rjnf "$tmp/sse.jq" "$tmp/stream.sse") || die "stream $1: broken stream, see jq's message above"
    [[ ${out#*$'\n'} == "$stream_text" ]] ||
      die "stream $1: the text received (${#out} bytes) is not the $stream_bytes bytes the mock sent"
    echo "${out%%$'\n'*}" >>"$tmp/stream-$1.events"
  }
  for i in $(seq $((chain_streams + 3))); do
    w=
    ((i <= 3)) && w=warm-
    stream_once "${w}direct" "$mock_port"
    stream_once "${w}off" "$choff_port"
    stream_once "${w}on" "$chon_port"
  done
  stream_stats() { # name -> "median p90" in ms, "events min-max"
    sort -n "$tmp/stream-$1.times" |
      awk '{a[NR] = $1 * 1000} END {i = int(NR * 0.9); printf "%.2f %.2f ", a[int((NR + 1) / 2)], a[i ? i : 1]}'
    sort -n "$tmp/stream-$1.events" | awk 'NR == 1 {lo = $1} {hi = $1} END {print (lo == hi ? lo : lo "–" hi)}'
  }
  read -r sd_med sd_p90 sd_ev < <(stream_stats direct)
  read -r sf_med sf_p90 sf_ev < <(stream_stats off)
  read -r sn_med sn_p90 sn_ev < <(stream_stats on)
  diff_us() { awk -v a="$1" -v b="$2" -v n="${3:-1}" 'BEGIN { printf "%.1f", (a - b) * 1000 / n }'; } # ms ms [n]

  chain_md=$(cat <<MD


## Filter chain overhead

Two more Portcullis processes (1 worker, access log off, admin off) in front of the same mock, with
the same config: the \`patterns\` filter with the 100 rules of bench/patterns100.yaml — 50 caseless
prompt-injection / jailbreak / policy phrase rules (alternations anchored on words, action
\`event\`) and 50 credential formats with literal prefixes (\`AKIA…\`, \`ghp_…\`, \`xoxb-…\`,
\`sk_live_…\`, private key headers, connection strings; action \`redact\`), all in both directions.
**Chain ON**: the route runs the filter; **chain OFF**: the route has \`filters: []\`. None of the texts
below matches any rule (checked with \`portcullis scan\` before measuring), so this is the cost of the
chain and of scanning, with nothing redacted; a made-up AWS key was checked to be redacted by ON
(request and stream) and passed by OFF. ON started (config load, compiling the 100 rules into block
and stream databases) in $chon_ms ms.

### 4 KB prompt

bench/chat4k.lua: a $chat4k_bytes-byte chat completions body (system message and English meeting notes
from bench/prompt4k.txt as the user message), non-streamed answer: a ${#answer4k}-byte summary (mock
\`text\` in X-Mock), scanned on the way back. wrk as above ($conns connections, ${dur}s after a 2 s
warm-up; ON and OFF in $rounds alternating rounds of ${round_secs}s, medians and the median of the
rounds' ratios), then 1 connection for 3 s (latency without queueing). No request may fail.

| chain | requests/s | p50 | p99 | 1 connection: p50 | p99 |
|---|---|---|---|---|---|
| OFF (\`filters: []\`) | $cf_rps | $(to_ms "$cf_p50") ms | $(to_ms "$cf_p99") ms | $(to_us "$cf1_p50") µs | $(to_us "$cf1_p99") µs |
| **ON (100 rules)** | $cn_rps | $(to_ms "$cn_p50") ms | $(to_ms "$cn_p99") ms | $(to_us "$cn1_p50") µs | $(to_us "$cn1_p99") µs |

Requests/s ON/OFF: **$(printf %.2f "$con_ratio")**. Added median latency: **$(($(to_us "$cn1_p50") - $(to_us "$cf1_p50"))) µs** with one
connection; $(($(to_us "$cn_p50") - $(to_us "$cf_p50"))) µs at $conns connections (mostly queueing: the lower throughput);
1/throughput ON − OFF: $(awk -v a="$cn_rps" -v b="$cf_rps" 'BEGIN { printf "%.1f", 1e6 / a - 1e6 / b }') µs per request.

### 2,000-event stream

The mock streams a $stream_bytes-byte answer of $stream_events words (bench/prompt4k.txt cycled), one
OpenAI \`chat.completion.chunk\` per word, without delays (the request is small; the mock's script
is in X-Mock). $chain_streams sequential \`curl -N\` runs per target after 3 warm-up rounds, the targets
interleaved; the time is curl's \`time_total\` (request to the end of the stream). Each run was
checked: it ends with \`data: [DONE]\`, has no error event, and its content deltas add up to exactly
the text the mock sent. ON holds back the tail of the text that could still start a match (the
longest match of the redact rules + 1 byte: 257 bytes with these rules) and releases it with later
events, so it sends fewer, re-cut content events; with ON the gateway also asks the mock for the
usage chunk (\`stream_options.include_usage\`) and drops it.

| target | median | p90 | content events received |
|---|---|---|---|
| mock direct | $sd_med ms | $sd_p90 ms | $sd_ev |
| chain OFF | $sf_med ms | $sf_p90 ms | $sf_ev |
| **chain ON** | $sn_med ms | $sn_p90 ms | $sn_ev |

ON − OFF (median): $(awk -v a="$sn_med" -v b="$sf_med" 'BEGIN { printf "%.2f", a - b }') ms for the stream, **$(diff_us "$sn_med" "$sf_med" "$stream_events") µs per event**
(OFF − direct: $(diff_us "$sf_med" "$sd_med" "$stream_events") µs per event for proxying alone).
MD
)

  if [[ $inj_on != 0 ]]; then
    # The 4 KB prompt must pass the pack (it is benign): the figures are the cost of scanning.
    inj_scan=$(PORTCULLIS_CACHE_DIR=$inj_cache "$build/portcullis" scan -c "$tmp/gw-inj.yaml" --route /v1/ <"$tmp/chat4k.json") ||
      die "portcullis scan failed with the injection pack"
    [[ $(jq -r .action <<<"$inj_scan") == pass ]] ||
      die "bench/prompt4k.txt is flagged by the injection filter: $(jq -c 'del(.body)' <<<"$inj_scan")"
    WRK_MAX_FAIL=0 wrk_pair inj "http://127.0.0.1:$inj_port" "$inj_pid" \
      inj-off "http://127.0.0.1:$choff_port" "$choff_pid" bench/chat4k.lua "${chat4k_env[@]}"
    WRK_MAX_FAIL=0 WRK_CONNS=1 WRK_SECS=3 WRK_WARM=0 \
      wrk_run "inj1" "http://127.0.0.1:$inj_port" bench/chat4k.lua "${chat4k_env[@]}"
    WRK_MAX_FAIL=0 WRK_CONNS=1 WRK_SECS=3 WRK_WARM=0 \
      wrk_run "inj1-off" "http://127.0.0.1:$choff_port" bench/chat4k.lua "${chat4k_env[@]}"
    WRK_MAX_FAIL=0 WRK_CONNS=1 WRK_SECS=3 WRK_WARM=0 \
      wrk_run "inj1-rules" "http://127.0.0.1:$injr_port" bench/chat4k.lua "${chat4k_env[@]}"
    read -r in_rps in_p50 in_p99 < <(wrk_stats inj)
    read -r io_rps io_p50 io_p99 < <(wrk_stats inj-off)
    read -r inoff_ratio _ < <(pair_stats inj inj-off)
    read -r in1_rps in1_p50 in1_p99 < <(wrk_stats inj1)
    read -r io1_rps io1_p50 io1_p99 < <(wrk_stats inj1-off)
    read -r ir1_rps ir1_p50 ir1_p99 < <(wrk_stats inj1-rules)
    # Scan throughput on one core: English meeting notes (bench/prompt4k.txt) and the
    # multilingual hand-written texts of tests/fixtures/injection (benign and attacks).
    jq -r .text tests/fixtures/injection/benign.jsonl tests/fixtures/injection/attacks.jsonl >"$tmp/inj-mixed.txt"
    model=(--model config/models/injection.pcm)
    PORTCULLIS_CACHE_DIR=$inj_cache "$build/pc-bench-injection" "${model[@]}" config/rules/injection.yaml bench/prompt4k.txt >"$tmp/inj-en.txt" ||
      die "pc-bench-injection failed"
    PORTCULLIS_CACHE_DIR=$inj_cache "$build/pc-bench-injection" "${model[@]}" config/rules/injection.yaml "$tmp/inj-mixed.txt" >"$tmp/inj-mixed.out" ||
      die "pc-bench-injection failed"
    # Varied prompts: 400 KB of the training set's benign prompts (English and 23 other
    # languages, every kind of request), so a 2 KB segment comes round again only after 195
    # others: the two texts above are short enough for the branch predictor to learn them.
    jq -r .text training/injection/benign-*.jsonl >"$tmp/inj-benign.txt"
    head -c 400000 "$tmp/inj-benign.txt" >"$tmp/inj-varied.txt"
    PORTCULLIS_CACHE_DIR=$inj_cache "$build/pc-bench-injection" "${model[@]}" config/rules/injection.yaml "$tmp/inj-varied.txt" >"$tmp/inj-varied.out" ||
      die "pc-bench-injection failed"
    # System prompts: the guard reads the application's system prompt on every request (its
    # `where: system` rules, no classifier); the distinct system prompts of the development
    # probes (18 languages, guarding a secret, restricting the assistant, or neither). A fixed
    # list of probe files (those of 2026-12-06), so that probes added later do not change the
    # row's input from one run to the next.
    sys_files=()
    for f in blind-36 blind-38 blind-40 blind-41 blind-42 blind-43 blind-45 blind-46 blind-47 \
      blind-48 blind-49 fiction hindi-mt indirect-reference key-forms-mt key-forms logic \
      personal-data persuasion-c secret-format subject-honest techniques-a techniques-b \
      techniques-mt world-languages; do
      sys_files+=("tests/eval/probes/in-context-$f.jsonl")
    done
    jq -c 'select(.system) | .system' "${sys_files[@]}" | LC_ALL=C sort -u >"$tmp/inj-system.json"
    jq -r . "$tmp/inj-system.json" >"$tmp/inj-system.txt"
    PORTCULLIS_CACHE_DIR=$inj_cache "$build/pc-bench-injection" --system config/rules/injection.yaml "$tmp/inj-system.txt" >"$tmp/inj-system.out" ||
      die "pc-bench-injection failed"
    sys_prompts=$(wc -l <"$tmp/inj-system.json")
    sys_avg=$(($(wc -c <"$tmp/inj-system.txt") / sys_prompts))
    grep -q '^segments .* hits 0$' "$tmp/inj-en.txt" || die "bench/prompt4k.txt matches rules of the injection pack"
    inj_rules=$(awk '$1 == "segments" {print $6}' "$tmp/inj-en.txt")
    col() { awk -v w="$2" -v c="$3" '$1 == w {print $c}' "$1"; }
    inj_md=$(cat <<MD


## Injection filter

The \`injection\` filter with the shipped pack (config/rules/injection.yaml, $inj_rules rules; a first
start, compiling it with an empty cache, took **$inj_ms ms**, a later one loading it from the cache
$injr_ms ms), the shipped classifier (config/models/injection.pcm) and default thresholds,
against the chain-OFF process above (\`filters: []\`), same mock, same 4 KB prompt (checked to pass
the filter: no rule matches, the classifier does not flag it).

| | requests/s ($conns connections) | p50 | p99 | 1 connection: p50 | p99 |
|---|---|---|---|---|---|
| OFF (\`filters: []\`) | $io_rps | $(to_ms "$io_p50") ms | $(to_ms "$io_p99") ms | $(to_us "$io1_p50") µs | $(to_us "$io1_p99") µs |
| **injection** (rules + classifier) | $in_rps | $(to_ms "$in_p50") ms | $(to_ms "$in_p99") ms | $(to_us "$in1_p50") µs | $(to_us "$in1_p99") µs |
| injection, \`classifier: off\` | | | | $(to_us "$ir1_p50") µs | $(to_us "$ir1_p99") µs |

Requests/s injection/OFF (alternating rounds, as above): **$(printf %.2f "$inoff_ratio")**. Added median latency with one connection
(runs back to back): **$(($(to_us "$in1_p50") - $(to_us "$io1_p50"))) µs** per request, of which the
classifier $(($(to_us "$in1_p50") - $(to_us "$ir1_p50"))) µs (rules alone: $(($(to_us "$ir1_p50") - $(to_us "$io1_p50"))) µs);
1/throughput difference: $(awk -v a="$in_rps" -v b="$io_rps" 'BEGIN { printf "%.1f", 1e6 / a - 1e6 / b }') µs per request.

Scan cost on one core (bench/injection_scan.c: 2 KB segments, best of 5 one-second rounds):

| text | normalise | match (Hyperscan, normalised text; main databases) | whole scan (normalise + match + later pieces of chains near their first + score) | per 2 KB |
|---|---|---|---|---|
| English meeting notes (bench/prompt4k.txt) | $(col "$tmp/inj-en.txt" normalise 2) MB/s | $(col "$tmp/inj-en.txt" match 2) MB/s | **$(col "$tmp/inj-en.txt" scan 2) MB/s** | $(col "$tmp/inj-en.txt" scan 3) µs |
| mixed languages (tests/fixtures/injection, attacks and benign) | $(col "$tmp/inj-mixed.out" normalise 2) MB/s | $(col "$tmp/inj-mixed.out" match 2) MB/s | **$(col "$tmp/inj-mixed.out" scan 2) MB/s** | $(col "$tmp/inj-mixed.out" scan 3) µs |
| varied prompts (400 KB of training/injection/benign-*.jsonl) | $(col "$tmp/inj-varied.out" normalise 2) MB/s | $(col "$tmp/inj-varied.out" match 2) MB/s | **$(col "$tmp/inj-varied.out" scan 2) MB/s** | $(col "$tmp/inj-varied.out" scan 3) µs |
| system prompts, as the guard reads them (the \`where: system\` rules; $sys_prompts distinct prompts of tests/eval/probes, $sys_avg bytes on average) | $(col "$tmp/inj-system.out" normalise 2) MB/s | $(col "$tmp/inj-system.out" match 2) MB/s | **$(col "$tmp/inj-system.out" scan 2) MB/s** | $(col "$tmp/inj-system.out" scan 3) µs |

The classifier on one core (same segments; "classify" is the model alone over the normalised text,
"scan + classify" is what the filter does: one normalisation feeding the rules and the model):

| text | classify | per KB | per 2 KB | scan + classify | per 2 KB |
|---|---|---|---|---|---|
| English meeting notes | $(col "$tmp/inj-en.txt" classify 2) MB/s | $(awk -v u="$(col "$tmp/inj-en.txt" classify 3)" 'BEGIN { printf "%.1f", u / 2 }') µs | **$(col "$tmp/inj-en.txt" classify 3) µs** | $(col "$tmp/inj-en.txt" scan+classify 2) MB/s | $(col "$tmp/inj-en.txt" scan+classify 3) µs |
| mixed languages | $(col "$tmp/inj-mixed.out" classify 2) MB/s | $(awk -v u="$(col "$tmp/inj-mixed.out" classify 3)" 'BEGIN { printf "%.1f", u / 2 }') µs | **$(col "$tmp/inj-mixed.out" classify 3) µs** | $(col "$tmp/inj-mixed.out" scan+classify 2) MB/s | $(col "$tmp/inj-mixed.out" scan+classify 3) µs |
| varied prompts | $(col "$tmp/inj-varied.out" classify 2) MB/s | $(awk -v u="$(col "$tmp/inj-varied.out" classify 3)" 'BEGIN { printf "%.1f", u / 2 }') µs | **$(col "$tmp/inj-varied.out" classify 3) µs** | $(col "$tmp/inj-varied.out" scan+classify 2) MB/s | $(col "$tmp/inj-varied.out" scan+classify 3) µs |

Outside the pack's databases, on one core: the answer watch (\`guard\` / \`canary\`: a canary and four
declared secrets as written, reversed, in ROT13, hex and base64, $(col "$tmp/inj-en.txt" needles 4) needles, one pass,
and the lines' and words' initials read for the secrets' acrostics;
filters/needles.c) over the English notes, which hold none of them; the \`tabular-request\` detector
(filters/tabular.c, documents only) over the same notes and over 2 KB of table rows; the
\`stray-task\` detector (filters/stray.c, documents only) over the notes and over 2 KB of an e-mail
with a task after its sign-off (every line read, then the whole text searched for the task's
words); the \`scripted-open\` / \`scripted-repeat\` detector (filters/scripted.c, documents only)
over the notes and over 2 KB of a support chat whose every answer carries a link (every turn's
runs hashed); the check for
pasted material (filters/pasted.c, every user message) over the notes and over 2 KB of short
quotes and apostrophes (its slow case); the search for quotations a document mentions in passing
(filters/pasted.c, every document and tool result: the pack's \`quoted\` factors) over the same notes
and quotes; the guard's secret-name rewrite (filters/subject.c, every
user message under a prompt that guards a secret: here a vault PIN and its holder's name) over the
notes and over 2 KB of the declared words that never make a name (its slow case). Outside these
figures, a message that does name the secret is scanned a second time.

| | English meeting notes | per 2 KB | slow case, per 2 KB |
|---|---|---|---|
| answer watch, $(col "$tmp/inj-en.txt" needles 4) needles | $(col "$tmp/inj-en.txt" needles 2) MB/s | **$(col "$tmp/inj-en.txt" needles 3) µs** | |
| tabular-request detector | $(col "$tmp/inj-en.txt" tabular 2) MB/s | $(col "$tmp/inj-en.txt" tabular 3) µs | **$(col "$tmp/inj-en.txt" tabular-table 3) µs** (table rows) |
| stray-task detector | $(col "$tmp/inj-en.txt" stray 2) MB/s | $(col "$tmp/inj-en.txt" stray 3) µs | **$(col "$tmp/inj-en.txt" stray-mail 3) µs** (e-mail) |
| scripted-answers detector | $(col "$tmp/inj-en.txt" scripted 2) MB/s | $(col "$tmp/inj-en.txt" scripted 3) µs | **$(col "$tmp/inj-en.txt" scripted-chat 3) µs** (chat) |
| pasted-material check | $(col "$tmp/inj-en.txt" pasted 2) MB/s | **$(col "$tmp/inj-en.txt" pasted 3) µs** | $(col "$tmp/inj-en.txt" pasted-quotes 3) µs (quotes) |
| quotation search (documents) | $(col "$tmp/inj-en.txt" mentions 2) MB/s | **$(col "$tmp/inj-en.txt" mentions 3) µs** | $(col "$tmp/inj-en.txt" mentions-quotes 3) µs (quotes) |
| secret-name rewrite | $(col "$tmp/inj-en.txt" names 2) MB/s | **$(col "$tmp/inj-en.txt" names 3) µs** | $(col "$tmp/inj-en.txt" names-dense 3) µs (declared words) |
MD
)
  fi

  if [[ $sens_on != 0 ]]; then
    # Scan cost on one core: pc-bench-patterns with the two filters as the default config has
    # them, over the English meeting notes and a technical text with many near-candidates (digit
    # runs, hex constants, dotted numbers, identifiers, e-mail-like strings): the license texts
    # of /usr/share/common-licenses and the first 256 KB of the C headers in /usr/include.
    [[ -x $build/pc-bench-patterns ]] || die "$build/pc-bench-patterns is missing ('make build')"
    find /usr/share/common-licenses -type f -print0 | LC_ALL=C sort -z | xargs -0 cat >"$tmp/tech.txt"
    (cd /usr/include && LC_ALL=C ls ./*.h | xargs cat) >"$tmp/headers.txt"
    head -c 262144 "$tmp/headers.txt" >>"$tmp/tech.txt"
    tech_bytes=$(wc -c <"$tmp/tech.txt")
    ((tech_bytes > 200000)) || die "the technical text ($tmp/tech.txt) holds only $tech_bytes bytes"
    sens_args=()
    for n in secrets pii; do
      a=$(sens_key "$n" request) b=$(sens_key "$n" response) f=$(sens_key "$n" rules_file)
      sens_args+=(--request "${a:-own}" --response "${b:-own}" "$f")
    done
    for t in en tech; do
      f=bench/prompt4k.txt
      [[ $t == tech ]] && f=$tmp/tech.txt
      PORTCULLIS_CACHE_DIR=$sens_cache "$build/pc-bench-patterns" "${sens_args[@]}" -- "$f" >"$tmp/sens-$t.txt" ||
        die "pc-bench-patterns failed: $(cat "$tmp/sens-$t.txt")"
    done
    # the harness agrees with portcullis scan: nothing in the meeting notes
    grep -q '^found request all redact 0 event 0 block 0$' "$tmp/sens-en.txt" &&
      grep -q '^found response all redact 0 event 0 block 0$' "$tmp/sens-en.txt" ||
      die "pc-bench-patterns finds secrets or personal data in bench/prompt4k.txt: $(grep '^fired' "$tmp/sens-en.txt")"
    pv() { awk -v a="$2" -v b="$3" -v c="$4" '$1 == a && $2 == b {print $c}' "$1"; } # file word which column
    desc() { # file filter-number -> "rules hold anchors"
      sed -n "s/^filter $2 .*: \([0-9]*\) rules from .*streams hold back \([0-9]*\) bytes, more after any of \([0-9]*\) anchors.*/\1 \2 \3/p" "$1"
    }
    read -r sec_rules sec_hold sec_anchors < <(desc "$tmp/sens-en.txt" 1)
    read -r pii_rules pii_hold pii_anchors < <(desc "$tmp/sens-en.txt" 2)
    req_cells() { # file -> the request row's cells after the text
      echo "**$(pv "$1" request all 3) MB/s** | $(pv "$1" request all 4) µs | $(pv "$1" request 1 3) MB/s ($(pv "$1" request 1 4) µs) | $(pv "$1" request 2 3) MB/s ($(pv "$1" request 2 4) µs)"
    }
    stream_cells() { # file -> the stream row's cells after the text
      echo "**$(pv "$1" stream all 3) MB/s** | $(pv "$1" stream all 4) µs | $(pv "$1" stream all 5) | $(pv "$1" stream 1 3) MB/s ($(pv "$1" stream 1 4) µs, $(pv "$1" stream 1 5) B) | $(pv "$1" stream 2 3) MB/s ($(pv "$1" stream 2 4) µs, $(pv "$1" stream 2 5) B)"
    }
    found() { # file side filter -> "R redacted, E events" (what that filter emitted in one pass)
      awk -v s="$2" -v f="$3" '$1 == "found" && $2 == s && $3 == f {
          o = ""; if ($5) o = $5 " redacted"; if ($7) o = o (o ? ", " : "") $7 " events"; if ($9) o = o (o ? ", " : "") $9 " blocks"
          print (o == "" ? "0" : o) }' "$1"
    }
    found_row() { # file -> the cells of the "found" table after the text
      local c
      c=$(awk '$1 == "check" && $2 == "stream" {print ($3 == "ok" ? "yes" : "**NO** (" $4 " answers differ)")}' "$1")
      echo "$(found "$1" request 1) | $(found "$1" request 2) | $(found "$1" response 1) | $(found "$1" response 2) | $c"
    }
    fired() { # file side -> "rule ×n, ..." (the 8 that fired most)
      awk -v s="$2" '$1 == "fired" && $2 == s && n < 8 {printf "%s`%s` ×%s", (n++ ? ", " : ""), $4, $6} END {if (!n) printf "none"}' "$1"
    }
    en_bytes=$(pv "$tmp/sens-en.txt" text bytes 3)
    en_events=$(awk '$1 == "text" {print $NF}' "$tmp/sens-en.txt")
    tech_events=$(awk '$1 == "text" {print $NF}' "$tmp/sens-tech.txt")
    tech_answers=$(awk '$1 == "text" {print $7}' "$tmp/sens-tech.txt")

    # The 4 KB prompt: requests/s at $conns connections against the chain-OFF figure above, then
    # one connection, OFF and ON back to back.
    WRK_MAX_FAIL=0 wrk_pair sens "http://127.0.0.1:$sens_port" "$sens_pid" \
      sens-off "http://127.0.0.1:$choff_port" "$choff_pid" bench/chat4k.lua "${chat4k_env[@]}"
    WRK_MAX_FAIL=0 WRK_CONNS=1 WRK_SECS=3 WRK_WARM=0 \
      wrk_run sens1-off "http://127.0.0.1:$choff_port" bench/chat4k.lua "${chat4k_env[@]}"
    WRK_MAX_FAIL=0 WRK_CONNS=1 WRK_SECS=3 WRK_WARM=0 \
      wrk_run sens1 "http://127.0.0.1:$sens_port" bench/chat4k.lua "${chat4k_env[@]}"
    read -r sp_rps sp_p50 sp_p99 < <(wrk_stats sens)
    read -r sf_rps sf_p50 sf_p99 < <(wrk_stats sens-off)
    read -r soff_ratio _ < <(pair_stats sens sens-off)
    read -r so1_rps so1_p50 so1_p99 < <(wrk_stats sens1-off)
    read -r sp1_rps sp1_p50 sp1_p99 < <(wrk_stats sens1)
    # The 2,000-event stream, OFF and ON interleaved, every run checked as above: the text
    # arrives exactly as the mock sent it (nothing in it to redact).
    for i in $(seq $((chain_streams + 3))); do
      w=
      ((i <= 3)) && w=warm-
      stream_once "${w}sens-off" "$choff_port"
      stream_once "${w}sens" "$sens_port"
    done
    read -r ssf_med ssf_p90 ssf_ev < <(stream_stats sens-off)
    read -r ssn_med ssn_p90 ssn_ev < <(stream_stats sens)

    sens_md=$(cat <<MD


## Secrets and personal data

The default config's two \`patterns\` filters, as config/portcullis.yaml declares them, in that
order: **secrets** (config/rules/secrets.yaml, $sec_rules rules; requests: $(sens_key secrets request),
responses: $(sens_key secrets response)) and **pii** (config/rules/pii.yaml, $pii_rules rules; requests: $(sens_key pii request),
responses: $(sens_key pii response)). In a stream (\`portcullis check\`), secrets holds back the last $sec_hold bytes of
every chunk (the largest \`max_len\` + 1 of its rules that begin with no literal) and more after
any of its $sec_anchors leading literals; pii holds back $pii_hold bytes ($pii_anchors leading literals).

### Scan cost on one core

bench/patterns_scan.c (\`pc-bench-patterns\`): the two filters built through the filter's
\`conf_new\` with those actions and driven as the chain drives them, with the chain's edit
functions; best of 5 one-second rounds. **Request**: the text cut into 2 KB segments (on UTF-8
boundaries), each a user message through \`on_req_body\` of both filters. **Stream**: the text cut
into answers of up to 16 KB, each streamed in 6-byte pieces (about one token per SSE event)
through \`on_resp_chunk\` as gateway/filtering.c presents them (each filter gets what it held
back followed by what the filter before it released), then the final chunk. Texts: the English
meeting notes (bench/prompt4k.txt, $en_bytes bytes, $en_events events) and a technical text with
many near-candidates (digit runs, hex constants, dotted numbers, identifiers, \`user@host\`): the
files of /usr/share/common-licenses and the first 256 KB of /usr/include/*.h ($tech_bytes bytes,
$tech_answers answers, $tech_events events). "alone": the same with one filter.

| text | request, secrets + pii | per 2 KB | secrets alone | pii alone |
|---|---|---|---|---|
| English meeting notes | $(req_cells "$tmp/sens-en.txt") |
| technical | $(req_cells "$tmp/sens-tech.txt") |

| text | stream, secrets + pii | per event | bytes held back (average, after an event) | secrets alone | pii alone |
|---|---|---|---|---|---|
| English meeting notes | $(stream_cells "$tmp/sens-en.txt") |
| technical | $(stream_cells "$tmp/sens-tech.txt") |

What the filters found in one pass (events emitted; a pii request finding is an event, not a
redaction), and whether every streamed answer came out exactly as the whole answer filtered at
once (\`on_resp_body\`):

| text | requests: secrets | requests: pii | answers: secrets | answers: pii | streamed = whole |
|---|---|---|---|---|---|
| English meeting notes | $(found_row "$tmp/sens-en.txt") |
| technical | $(found_row "$tmp/sens-tech.txt") |

Rules that fired on the technical text, requests: $(fired "$tmp/sens-tech.txt" request); answers:
$(fired "$tmp/sens-tech.txt" response).
\`pc-bench-patterns --per-rule\` lists the most expensive rules of each pack.

### Through the proxy

A Portcullis process (1 worker, access log off) with the two filters on the chain-OFF config
above, against the chain-OFF process; same mock and texts (checked with \`portcullis scan\`: no
rule of either pack matches them; a made-up AWS key was checked to be redacted in a request and
in a stream, an e-mail address in a stream). Started with an empty cache (\`PORTCULLIS_CACHE_DIR\`:
config load and compiling both packs, block and stream databases) in **$sens_ms ms**; a second
start on the same cache: $sens_warm_ms ms.

4 KB prompt (bench/chat4k.lua, as in the chain section):

| | requests/s ($conns connections) | p50 | p99 | 1 connection: p50 | p99 |
|---|---|---|---|---|---|
| OFF (\`filters: []\`) | $sf_rps | $(to_ms "$sf_p50") ms | $(to_ms "$sf_p99") ms | $(to_us "$so1_p50") µs | $(to_us "$so1_p99") µs |
| **secrets + pii** | $sp_rps | $(to_ms "$sp_p50") ms | $(to_ms "$sp_p99") ms | $(to_us "$sp1_p50") µs | $(to_us "$sp1_p99") µs |

Requests/s secrets + pii / OFF (alternating rounds): **$(printf %.2f "$soff_ratio")**. Added median latency with one connection (runs
back to back): **$(($(to_us "$sp1_p50") - $(to_us "$so1_p50"))) µs** per request; 1/throughput difference: $(awk -v a="$sp_rps" -v b="$sf_rps" 'BEGIN { printf "%.1f", 1e6 / a - 1e6 / b }') µs per request.

2,000-event stream (as in the chain section: $stream_bytes bytes, one content event per word,
$chain_streams sequential \`curl -N\` runs per target after 3 warm-up rounds, the two targets
interleaved; every run checked: it ends with \`data: [DONE]\`, has no error event, and its
content deltas add up to exactly the text the mock sent, unredacted):

| target | median | p90 | content events received |
|---|---|---|---|
| chain OFF | $ssf_med ms | $ssf_p90 ms | $ssf_ev |
| **secrets + pii** | $ssn_med ms | $ssn_p90 ms | $ssn_ev |

secrets + pii − OFF (median): $(awk -v a="$ssn_med" -v b="$ssf_med" 'BEGIN { printf "%.2f", a - b }') ms for the stream, **$(diff_us "$ssn_med" "$ssf_med" "$stream_events") µs per event**.
MD
)
  fi
fi

tls_md=
if [[ $tls_on != 0 ]]; then
  # Keep-alive throughput over TLS: same wrk run as above, over https.
  wrk_pair tls-portcullis "https://127.0.0.1:$gwtls_port" "$gwtls_pid" tls-nginx "https://127.0.0.1:$ngx_tls_port" "$ngx_worker" bench/chat.lua
  read -r tg_rps tg_p50 tg_p99 < <(wrk_stats tls-portcullis)
  read -r tn_rps tn_p50 tn_p99 < <(wrk_stats tls-nginx)
  read -r tgn_ratio tg_cpu tn_cpu < <(pair_stats tls-portcullis tls-nginx)

  # New full handshakes: the same request with "Connection: close", so each request is a new
  # connection. wrk keeps one SSL object per connection slot and SSL_clear() keeps its session, so
  # wrk would resume the previous session; this LD_PRELOAD shim drops it (full handshake every
  # time) and counts full and resumed handshakes into $PC_HS_STATS when wrk exits.
  cc -O2 -shared -fPIC -o "$tmp/noresume.so" -x c - -ldl <<'C' || die "cannot build the wrk shim (cc)"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;
static unsigned long full_hs, resumed_hs;
int SSL_clear(SSL *s)
{
    static int (*real)(SSL *);
    static int (*set_session)(SSL *, SSL_SESSION *);
    if (!real) {
        set_session = (int (*)(SSL *, SSL_SESSION *))dlsym(RTLD_NEXT, "SSL_set_session");
        real = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_clear");
    }
    int r = real(s);
    set_session(s, NULL);
    return r;
}
int SSL_connect(SSL *s)
{
    static int (*real)(SSL *);
    static int (*reused)(const SSL *);
    if (!real) {
        reused = (int (*)(const SSL *))dlsym(RTLD_NEXT, "SSL_session_reused");
        real = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_connect");
    }
    int r = real(s);
    if (r == 1) __atomic_fetch_add(reused(s) ? &resumed_hs : &full_hs, 1, __ATOMIC_RELAXED);
    return r;
}
__attribute__((destructor)) static void report(void)
{
    const char *p = getenv("PC_HS_STATS");
    FILE *f = p ? fopen(p, "w") : NULL;
    if (f) {
        fprintf(f, "%lu %lu\n", full_hs, resumed_hs);
        fclose(f);
    }
}
C
  cat >"$tmp/close.lua" <<LUA
-- bench/chat.lua with "Connection: close": one request per connection (wrk reconnects).
dofile("$root/bench/chat.lua")
wrk.headers["Connection"] = "close"
LUA
  hs_run() { # name port -> "handshakes/s full resumed"; fails when any handshake was resumed
    wrk_run "$1" "https://127.0.0.1:$2" "$tmp/close.lua" LD_PRELOAD="$tmp/noresume.so" PC_HS_STATS="$tmp/$1.hs"
    local full resumed n
    read -r full resumed <"$tmp/$1.hs" || die "$1: the wrk shim wrote no handshake counts"
    n=$(awk '/ requests in / {print $1}' "$tmp/wrk-$1.txt")
    ((resumed == 0 && full >= n)) || die "$1: $full full and $resumed resumed handshakes for $n requests"
  }
  hs_run hs-portcullis "$gwtls_port"
  hs_run hs-nginx "$ngx_tls_port"
  read -r hg_rps _ < <(wrk_stats hs-portcullis)
  read -r hn_rps _ < <(wrk_stats hs-nginx)
  read -r hg_full hg_res <"$tmp/hs-portcullis.hs"
  read -r hn_full hn_res <"$tmp/hs-nginx.hs"

  tls_md=$(cat <<MD


## TLS termination

Both proxies terminate TLS with the same certificate (EC P-256 server certificate and dev CA made
by certs/mkcerts.sh in the run's temporary directory) and proxy plain HTTP to the same mock.
Portcullis: a second process, 1 worker, access log off, with one \`listen\` entry with \`tls\`
(cert, key; other TLS settings at their defaults). nginx: the \`listen ... ssl\` server of
bench/nginx.conf.in in the same 1-worker nginx (TLS 1.2 and 1.3, other TLS settings at nginx's
defaults). Negotiated with OpenSSL's client defaults (\`openssl s_client\`, certificate chain and host
name verified): Portcullis $gwtls_info; nginx $ngx_info.

### Throughput over TLS (keep-alive)

Same wrk runs as the plain-HTTP table ($conns connections, bench/chat.lua, $rounds alternating rounds
of ${round_secs}s after a 2 s warm-up, medians) over https: connections are set up during the
warm-up, so this is proxying plus record encryption.

| target | requests/s | p50 | p99 | requests/s vs nginx | vs the same proxy over plain HTTP | proxy CPU per request |
|---|---|---|---|---|---|---|
| **Portcullis** | $tg_rps | $(to_ms "$tg_p50") ms | $(to_ms "$tg_p99") ms | **$(printf %.2f "$tgn_ratio")** | $(ratio "$tg_rps" "$g_rps") | $tg_cpu µs |
| nginx | $tn_rps | $(to_ms "$tn_p50") ms | $(to_ms "$tn_p99") ms | 1.00 | $(ratio "$tn_rps" "$n_rps") | $tn_cpu µs |

### New TLS handshakes

wrk, $conns connections, ${dur}s after a 2 s warm-up, the same request with \`Connection: close\`:
the proxy closes after each answer and wrk reconnects, so every request is a new TCP connection
with a full TLS handshake and one request (handshakes/s = requests/s). No session resumption: wrk
would resume the previous session of each connection slot, so the run preloads a small shim
(built by bench/run.sh) that drops it and counts the handshakes; the run fails if any was resumed.
wrk does not verify the server certificate, so the client side is cheaper than a real client's;
on 2 cores wrk's own handshake work competes with the proxy for the CPUs.

| target | handshakes/s | full / resumed handshakes counted | handshakes/s vs nginx |
|---|---|---|---|
| **Portcullis** | $hg_rps | $hg_full / $hg_res | **$(ratio "$hg_rps" "$hn_rps")** |
| nginx | $hn_rps | $hn_full / $hn_res | 1.00 |
MD
)
fi
audit_md=
if [[ $audit_on != 0 ]]; then
  # Audit: request overhead with the audit trail on (a file sink, and a Splunk HEC sink posting to
  # nginx's stand-in endpoint) against the same Portcullis config without it, measured back to
  # back; then how many records per second the audit thread delivers to each sink type
  # (pc-bench-audit: two threads submitting typical request records, ~1.5 KB sealed).
  [[ -x $build/pc-bench-audit ]] || die "$build/pc-bench-audit is missing ('make build')"
  curl -sf -o /dev/null -X POST -d '{}' "http://127.0.0.1:$ngx_port/services/collector/event" ||
    die "nginx does not answer the HEC stand-in endpoint (bench/nginx.conf.in)"
  for kind in file hec; do
    {
      cat "$tmp/gw.yaml"
      echo "audit:"
      echo "  spool_dir: $tmp/audit-spool-$kind"
      echo "  sinks:"
      if [[ $kind == file ]]; then
        echo "    - {name: bench, type: file, path: $tmp/audit-$kind.jsonl}"
      else
        echo "    - {name: bench, type: splunk_hec, url: 'http://127.0.0.1:$ngx_port/services/collector/event'}"
      fi
    } >"$tmp/gw-audit-$kind.yaml"
    "$build/portcullis" -c "$tmp/gw-audit-$kind.yaml" 2>"$tmp/gw-audit-$kind.err" &
    pids+=($!)
    l=$(wait_line "$tmp/gw-audit-$kind.err" 'listening on') || die "Portcullis with the audit $kind sink did not start: $(cat "$tmp/gw-audit-$kind.err")"
    printf -v "audit_port_$kind" '%s' "$(sed 's/.*:\([0-9]*\) .*/\1/' <<<"$l")"
  done
  run_wrk audit-off "$gw_port"
  run_wrk audit-file "$audit_port_file"
  run_wrk audit-hec "$audit_port_hec"
  read -r ao_rps ao_p50 ao_p99 < <(wrk_stats audit-off)
  read -r af_rps af_p50 af_p99 < <(wrk_stats audit-file)
  read -r ah_rps ah_p50 ah_p99 < <(wrk_stats audit-hec)
  # the file sink really received a record per request (captured prompt included)
  af_lines=$(grep -c '"action":"request"' "$tmp/audit-file.jsonl" || true)
  ((af_lines > 1000)) || die "the audit file sink holds $af_lines request records"
  grep -q '"prompt":"' "$tmp/audit-file.jsonl" || die "the audit records carry no captured prompt"
  ae_file=$("$build/pc-bench-audit" file "$tmp/ae.jsonl" "$audit_records") || die "pc-bench-audit file failed"
  ae_http=$("$build/pc-bench-audit" http "http://127.0.0.1:$ngx_port/services/collector/event" "$audit_records") ||
    die "pc-bench-audit http failed"
  rate() { awk '{for (i = 1; i < NF; i++) if ($i == "records_per_s") print $(i + 1)}' <<<"$1"; }
  audit_md=$(cat <<MD


## Audit trail

Request overhead: the Portcullis config above (1 worker, no filters) without an \`audit\` section,
and with one sink: a JSON-lines file, or a Splunk HEC sink (gzip, batches of up to 500 records)
posting to a fixed-answer endpoint of the same nginx. Default capture policy (redacted: the prompt
and the answer text in every request record). Same wrk run as above, measured back to back.

| Portcullis | requests/s | p50 | p99 | requests/s vs audit off |
|---|---|---|---|---|
| audit off | $ao_rps | $(to_ms "$ao_p50") ms | $(to_ms "$ao_p99") ms | 1.00 |
| audit → file | $af_rps | $(to_ms "$af_p50") ms | $(to_ms "$af_p99") ms | **$(ratio "$af_rps" "$ao_rps")** |
| audit → Splunk HEC | $ah_rps | $(to_ms "$ah_p50") ms | $(to_ms "$ah_p99") ms | **$(ratio "$ah_rps" "$ao_rps")** |

Audit thread throughput (\`pc-bench-audit\`, bench/audit_events.c): $audit_records request records
(identity, usage, ~400 bytes of captured text; ~1.5 KB sealed) submitted by two threads as fast as
they go; the clock stops when the sink has delivered the last one.

| sink | records/s | records that overflowed to disk on the way |
|---|---|---|
| file | $(rate "$ae_file") | $(awk '{print $NF}' <<<"$ae_file") |
| Splunk HEC (nginx) | $(rate "$ae_http") | $(awk '{print $NF}' <<<"$ae_http") |
MD
)
fi

bud_md=
if [[ $bud_on != 0 ]]; then
  # Budgets: the same route (no other filter) with the key wrk sends (bench/chat.lua: sk-bench),
  # its team without limits ("none"), and with four limits per request (team: tokens per day,
  # requests per month, a rolling requests-per-minute rate limit; key: tokens per day) that never
  # run out, on the memory store (journal, fsync every second) and on redis-server.
  command -v redis-server >/dev/null ||
    die "redis-server is missing (scripts/deps.sh installs it; BENCH_BUDGET=0 leaves the budget section out)"
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$tmp/redis.log" 2>&1 &
  pids+=($!)
  wait_line "$tmp/redis.log" 'Ready to accept connections' >/dev/null || die "redis-server did not start"
  sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
  for kind in none memory redis; do
    {
      cat <<YAML
workers: 1
listen: [127.0.0.1:0]
access_log: off
log_level: warn
admin:
  listen: off
providers:
  - name: mock
    base_url: http://127.0.0.1:$mock_port
    auth: none
routes:
  - prefix: /v1/
    provider: mock
    filters: []
budgets:
  store: $([[ $kind == redis ]] && echo redis || echo memory)
  journal: $tmp/budgets-$kind.journal
  redis: {address: "127.0.0.1:$redis_port", prefix: "bench-$kind:"}
YAML
      if [[ $kind == none ]]; then
        echo "teams: [{name: bench}, {name: tiny}]"
      else
        cat <<YAML
teams:
  - name: bench
    budgets: [{window: day, tokens: 1000000000000}, {window: month, requests: 1000000000000}]
    rate_limits: {requests_per_minute: 1000000000000}
  - name: tiny
    budgets: [{window: month, requests: 1}]
YAML
      fi
      echo "keys:"
      echo "  - {id: bench, team: bench, sha256: $(sha sk-bench)$([[ $kind != none ]] && echo ", budgets: [{window: day, tokens: 1000000000000}]")}"
      echo "  - {id: tiny, team: tiny, sha256: $(sha sk-tiny)}"
    } >"$tmp/gw-bud-$kind.yaml"
    "$build/portcullis" -c "$tmp/gw-bud-$kind.yaml" 2>"$tmp/gw-bud-$kind.err" &
    pids+=($!)
    l=$(wait_line "$tmp/gw-bud-$kind.err" 'listening on') ||
      die "Portcullis with budgets ($kind) did not start: $(tail -3 "$tmp/gw-bud-$kind.err")"
    printf -v "bud_port_$kind" '%s' "$(sed 's/.*:\([0-9]*\) .*/\1/' <<<"$l")"
  done
  # The limits are enforced (a key whose team may send one request a month gets 429 the second
  # time) on both stores, and not without them.
  for kind in none memory redis; do
    p=bud_port_$kind
    codes=
    for _ in 1 2; do
      codes+=$(curl -s -o /dev/null -w '%{http_code} ' -H 'content-type: application/json' \
        -H 'authorization: Bearer sk-tiny' -d '{"model":"m","messages":[{"role":"user","content":"x"}]}' \
        "http://127.0.0.1:${!p}/v1/chat/completions")
    done
    want='200 429 '
    [[ $kind == none ]] && want='200 200 '
    [[ $codes == "$want" ]] || die "budgets ($kind): answers '$codes', expected '$want'"
  done
  for kind in none memory redis; do
    p=bud_port_$kind
    WRK_MAX_FAIL=0 wrk_run "bud-$kind" "http://127.0.0.1:${!p}" bench/chat.lua
  done
  for kind in none memory redis; do
    p=bud_port_$kind
    WRK_MAX_FAIL=0 WRK_CONNS=1 WRK_SECS=3 WRK_WARM=0 wrk_run "bud1-$kind" "http://127.0.0.1:${!p}" bench/chat.lua
  done
  read -r bn_rps bn_p50 bn_p99 < <(wrk_stats bud-none)
  read -r bm_rps bm_p50 bm_p99 < <(wrk_stats bud-memory)
  read -r br_rps br_p50 br_p99 < <(wrk_stats bud-redis)
  read -r bn1_rps bn1_p50 bn1_p99 < <(wrk_stats bud1-none)
  read -r bm1_rps bm1_p50 bm1_p99 < <(wrk_stats bud1-memory)
  read -r br1_rps br1_p50 br1_p99 < <(wrk_stats bud1-redis)
  bud_md=$(cat <<MD


## Budgets

The ~1 KB chat request of the first section with the virtual key \`sk-bench\`, 1 worker, no other
filter. "no limits": the key's team has none (the budget filter is not in the chain); "memory" and
"redis": four limits checked per request (team tokens per day, requests per month, a rolling
requests-per-minute limit; key tokens per day), reserved before the call and settled with the
mock's usage after it, on the embedded store (journal, \`fsync: interval\`) or on a local
redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') (one Lua script per reservation and per settlement, asynchronous).
Checked first: a key allowed one request a month gets 429 the second time on both stores.

| | requests/s ($conns connections) | p50 | p99 | vs no limits | 1 connection: p50 | p99 |
|---|---|---|---|---|---|---|
| no limits | $bn_rps | $(to_ms "$bn_p50") ms | $(to_ms "$bn_p99") ms | 1.00 | $(to_us "$bn1_p50") µs | $(to_us "$bn1_p99") µs |
| **memory store** | $bm_rps | $(to_ms "$bm_p50") ms | $(to_ms "$bm_p99") ms | **$(ratio "$bm_rps" "$bn_rps")** | $(to_us "$bm1_p50") µs | $(to_us "$bm1_p99") µs |
| **redis store** | $br_rps | $(to_ms "$br_p50") ms | $(to_ms "$br_p99") ms | **$(ratio "$br_rps" "$bn_rps")** | $(to_us "$br1_p50") µs | $(to_us "$br1_p99") µs |

Added median latency with one connection: memory **$(($(to_us "$bm1_p50") - $(to_us "$bn1_p50"))) µs**, redis
**$(($(to_us "$br1_p50") - $(to_us "$bn1_p50"))) µs** per request (the budget filter makes the chain parse the request
as a JSON tree for its estimate; the answer's usage is read in one pass, without a tree). Portcullis without limits vs nginx in this run: $(ratio "$bn_rps" "$n_rps").
MD
)
fi

eg_md=
if [[ $eg_on != 0 ]]; then
  # The egress filter's check per tool call (bench/egress_check.c): find every URL in the
  # arguments and judge each, for three policies and four argument shapes, on one core.
  [[ -x $build/pc-bench-egress ]] || die "$build/pc-bench-egress is missing ('make build')"
  "$build/pc-bench-egress" >"$tmp/egress.txt" || die "pc-bench-egress failed: $(cat "$tmp/egress.txt")"
  eg_cell() { awk -v p="$1" -v s="$2" '$1 == p && $2 == s {printf "%.2f µs", $7 / 1000}' "$tmp/egress.txt"; }
  eg_size() { awk -v s="$1" '$1 == "default" && $2 == s {printf "%s B, %s URL%s", $3, $5, ($5 == 1 ? "" : "s")}' "$tmp/egress.txt"; }
  eg_md=$(
    cat <<MD


## Egress allowlist

What the \`egress\` filter does once per tool call (a JSON answer's call, or a streamed call once
its arguments are complete), on one core (bench/egress_check.c, best of 5 rounds): every URL in
the arguments found (every JSON string, nested JSON strings too) and each canonicalised (WHATWG,
IDNA) and judged. Policies: the default config's (no entries: internal addresses and other
schemes denied), 20 entries (hosts, wildcards, CIDR ranges, a port, path prefixes), 1,000 hosts.

| arguments | default policy | 20 entries | 1,000 entries |
|---|---|---|---|
| none: a search query ($(eg_size none)) | $(eg_cell default none) | $(eg_cell allow-20 none) | $(eg_cell allow-1000 none) |
| one: a fetch call ($(eg_size one)) | $(eg_cell default one) | $(eg_cell allow-20 one) | $(eg_cell allow-1000 one) |
| four: fields, prose, nested JSON ($(eg_size four)) | $(eg_cell default four) | $(eg_cell allow-20 four) | $(eg_cell allow-1000 four) |
| doc: a document in a write call ($(eg_size doc)) | $(eg_cell default doc) | $(eg_cell allow-20 doc) | $(eg_cell allow-1000 doc) |
MD
  )
fi

cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
tls_intro=
if [[ $tls_on != 0 ]]; then
  tls_intro="
TLS section: the same two proxies terminating TLS (same certificate, same mock behind them):
keep-alive throughput over TLS and new full TLS handshakes per second, as ratios to nginx."
fi
if [[ $chain_on != 0 ]]; then
  tls_intro+="
Filter chain section: two more Portcullis processes with the \`patterns\` filter (100 rules) switched
on and off, a 4 KB prompt and a 2,000-event stream, as ratios and added time, ON to OFF."
fi
if [[ $bud_on != 0 ]]; then
  tls_intro+="
Budgets section: throughput and added latency of four limits per request on the memory store and
on redis-server, against the same key without limits."
fi
if [[ $chain_on != 0 && $sens_on != 0 ]]; then
  tls_intro+="
Secrets and personal data section: the default config's \`secrets\` and \`pii\` filters, scan cost on one
core (MB/s, µs per streamed event) and through the proxy against the chain-OFF process."
fi
cat >"$results" <<MD
# Benchmark results

Produced by \`make bench\` (bench/run.sh) on $(date -u +%Y-%m-%d), $(nproc) cores ($cpu), all
processes on one machine over loopback. wrk: 1 thread, $conns connections, ${dur}s after a 2 s
warm-up (Portcullis against nginx: alternating rounds, below), ~1 KB OpenAI chat request (bench/chat.lua), non-streaming JSON answer from the mock
provider (tests/mock, 1 thread). Portcullis: 1 worker, access log off. nginx $(nginx -v 2>&1 | sed 's/.*\///'):
1 worker, \`proxy_pass\` with an upstream \`keepalive 64\` pool (bench/nginx.conf.in). Same run,
same mock. Note: on 2 cores, wrk, the proxy and the mock share the CPUs, so absolute numbers are
low; the ratio is the figure of merit.$tls_intro

## Throughput and latency

Portcullis and nginx: $rounds alternating rounds of ${round_secs}s each (Portcullis, nginx, Portcullis,
...) after a 2 s warm-up of each; medians over the rounds, and the median of the rounds'
requests/s ratios. Proxy CPU: user + system time of the serving process (Portcullis' process,
nginx's worker) during a round, per request answered.

| target | requests/s | p50 | p99 | requests/s vs nginx | proxy CPU per request |
|---|---|---|---|---|---|
| mock direct (no proxy) | $d_rps | $(to_ms "$d_p50") ms | $(to_ms "$d_p99") ms | $(ratio "$d_rps" "$n_rps") | — |
| **Portcullis** | $g_rps | $(to_ms "$g_p50") ms | $(to_ms "$g_p99") ms | **$(printf %.2f "$gn_ratio")** | $g_cpu µs |
| nginx | $n_rps | $(to_ms "$n_p50") ms | $(to_ms "$n_p99") ms | 1.00 | $n_cpu µs |$instr_md

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

Goals: throughput ≥ 1.0 × nginx; ≤ 8 KiB per idle connection.$tls_md$chain_md$inj_md$sens_md$bud_md$eg_md$audit_md
MD
cat "$results"
