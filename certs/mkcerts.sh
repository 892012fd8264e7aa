#!/usr/bin/env bash
# certs/mkcerts.sh [OUTDIR] - development certificates for Portcullis (TLS listeners, upstream TLS
# tests, mTLS tests). DEVELOPMENT ONLY: see certs/README.md. Default OUTDIR: certs/out.
#
# Idempotent: when every file already exists in OUTDIR, does nothing (prints nothing) and exits 0;
# otherwise regenerates the whole set. Work happens in a private temporary directory inside OUTDIR
# and files are moved into place at the end (ca.crt last), under a lock on OUTDIR, so parallel
# runs (same or different OUTDIRs) do not mix their files.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/out}
days=825
files=(ca.key server.crt server.key upstream.crt upstream.key wronghost.crt wronghost.key
       client.crt client.key rogue-ca.crt rogue-client.crt rogue-client.key ca.crt)

all_present() {
    local f
    for f in "${files[@]}"; do [[ -s $out/$f ]] || return 1; done
}
all_present && exit 0

command -v openssl >/dev/null || { echo "mkcerts: the openssl command is required" >&2; exit 1; }
mkdir -p "$out"
if command -v flock >/dev/null; then
    exec 9>"$out/.mkcerts.lock"
    flock 9
    all_present && exit 0 # another run made them while we waited
fi

umask 077
tmp=$(mktemp -d "$out/.mkcerts.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export OPENSSL_CONF="$tmp/openssl.cnf" # do not depend on the system openssl.cnf
cat >"$OPENSSL_CONF" <<'CNF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints       = critical, CA:true
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
[server]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
[upstream]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
[wronghost]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:other.example
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
[client]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
CNF

serial() { printf '0x1%s' "$(od -An -tx1 -N15 /dev/urandom | tr -d ' \n')"; }
newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)

ca() { # name CN
    openssl req -x509 "${newkey[@]}" -keyout "$tmp/$1.key" -out "$tmp/$1.crt" -subj "/CN=$2" \
        -extensions ca -days "$days" -sha256 -set_serial "$(serial)" 2>/dev/null
}
leaf() { # name CN section CA
    openssl req -new "${newkey[@]}" -keyout "$tmp/$1.key" -subj "/CN=$2" 2>/dev/null |
        openssl x509 -req -CA "$tmp/$4.crt" -CAkey "$tmp/$4.key" -extfile "$OPENSSL_CONF" \
            -extensions "$3" -days "$days" -sha256 -set_serial "$(serial)" -out "$tmp/$1.crt" 2>/dev/null
}

ca ca "Portcullis Dev CA"
ca rogue-ca "Portcullis Rogue Dev CA (untrusted)"
leaf server localhost server ca &
leaf upstream localhost upstream ca &
leaf wronghost other.example wronghost ca &
leaf client dev-client client ca &
leaf rogue-client dev-client client rogue-ca &
for job in $(jobs -p); do wait "$job" || { echo "mkcerts: openssl failed" >&2; exit 1; }; done

chmod 0600 "$tmp"/*.key
chmod 0644 "$tmp"/*.crt
for f in "${files[@]}"; do mv -f "$tmp/$f" "$out/$f"; done
echo "mkcerts: wrote $out"
