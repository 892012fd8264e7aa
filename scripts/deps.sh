#!/usr/bin/env bash
# Installs the Debian packages Portcullis needs to build, run and test, when any is missing.
# Runs apt-get through sudo when not root. Idempotent and quiet when everything is there.
set -euo pipefail

pkgs=(cmake make gcc clang pkg-config libclang-rt-14-dev clang-format
      libevent-dev libssl-dev libjansson-dev libhyperscan-dev libyaml-dev libcmocka-dev node-llhttp zlib1g-dev libidn2-dev libhiredis-dev
      openssl ca-certificates curl rsyslog redis-server)
# Node.js and npm for the integration tests (the official SDKs); any Node >= 18 will do.
if ! command -v node >/dev/null 2>&1; then pkgs+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then pkgs+=(npm); fi
pkgs+=("$@")

missing=()
for p in "${pkgs[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
