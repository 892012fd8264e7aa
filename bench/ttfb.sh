#!/usr/bin/env bash
# Median and p90 time to the first SSE byte over N streaming requests to URL (curl's
# time_starttransfer), in milliseconds.
url=$1; n=${2:-200}
body='{"model":"m","stream":true,"messages":[{"role":"user","content":"one two three four"}]}'
for _ in $(seq "$n"); do
  curl -s -o /dev/null -w '%{time_starttransfer}\n' -H 'content-type: application/json' -d "$body" "$url"
done | sort -n | awk '{a[NR]=$1} END {printf "%.3f %.3f\n", a[int(NR*0.5)]*1000, a[int(NR*0.9)]*1000}'
