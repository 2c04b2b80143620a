#!/usr/bin/env bash
# deploy/make-certs.sh: certificates for the replication stream's mutual TLS
# (docs/replication.md). Only openssl is needed.
#
#   deploy/make-certs.sh DIR HOST...
#
# Makes in DIR:
#   ca.key, ca.crt         the pair's CA (made once; kept when present)
#   HOST.key, HOST.crt     one key and certificate per HOST, signed by the CA, with the
#                          subject alternative names DNS:HOST (or IP:HOST for an address)
#                          and IP:127.0.0.1; usable as TLS server and client certificate
#
# Give each host its own HOST.key/HOST.crt and ca.crt (never ca.key). Both ftd roles present
# their certificate and accept only a peer whose certificate chains to ca.crt.
#
# Idempotent: a run with the same arguments changes nothing; a host whose key or certificate
# is missing, or whose certificate is not signed by this CA, gets a new pair. A CA is never
# replaced silently: when ca.key or ca.crt exists without the other, or they do not belong
# together, the script stops; remove both (and every host pair made with them) to start over.
# Environment: FTD_CERT_DAYS (default 825) sets the validity of new certificates.
set -euo pipefail

usage() {
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
[ $# -ge 2 ] || usage
dir=$1
shift
days=${FTD_CERT_DAYS:-825}
command -v openssl >/dev/null || { echo "make-certs: openssl not found (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$dir"
umask 077

ca_key=$dir/ca.key
ca_crt=$dir/ca.crt
if [ -e "$ca_key" ] || [ -e "$ca_crt" ]; then
  if [ ! -e "$ca_key" ] || [ ! -e "$ca_crt" ]; then
    echo "make-certs: $dir has only one of ca.key and ca.crt; refusing to replace the CA." >&2
    echo "  Restore the missing file, or remove both and every host pair to start over." >&2
    exit 1
  fi
  if [ "$(openssl pkey -in "$ca_key" -pubout 2>/dev/null)" != \
       "$(openssl x509 -in "$ca_crt" -noout -pubkey 2>/dev/null)" ]; then
    echo "make-certs: $ca_key does not belong to $ca_crt; refusing to replace the CA." >&2
    exit 1
  fi
else
  openssl req -x509 -new -newkey rsa:3072 -nodes -sha256 -days "$((days * 2))" \
    -subj "/CN=ftd replication CA $(date -u +%Y%m%dT%H%M%SZ)" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$ca_key" -out "$ca_crt" 2>/dev/null
  chmod 644 "$ca_crt"
  echo "made CA $ca_crt"
fi

for host in "$@"; do
  case $host in
    ''|*/*|.*) echo "make-certs: bad host name '$host'" >&2; exit 2 ;;
  esac
  key=$dir/$host.key
  crt=$dir/$host.crt
  if [ -e "$key" ] && [ -e "$crt" ] &&
     openssl verify -CAfile "$ca_crt" "$crt" >/dev/null 2>&1 &&
     [ "$(openssl pkey -in "$key" -pubout 2>/dev/null)" = \
       "$(openssl x509 -in "$crt" -noout -pubkey 2>/dev/null)" ]; then
    echo "kept $crt"
    continue
  fi
  if [[ $host =~ ^[0-9.]+$ || $host == *:* ]]; then san="IP:$host"; else san="DNS:$host"; fi
  [ "$host" = 127.0.0.1 ] || san="$san,IP:127.0.0.1"
  ext=$(mktemp)
  csr=$(mktemp)
  trap 'rm -f "$ext" "$csr"' EXIT
  printf '%s\n' "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=$san" >"$ext"
  openssl req -new -newkey rsa:2048 -nodes -sha256 -subj "/CN=$host" \
    -keyout "$key.tmp" -out "$csr" 2>/dev/null
  openssl x509 -req -in "$csr" -CA "$ca_crt" -CAkey "$ca_key" -CAcreateserial \
    -CAserial "$dir/ca.srl" -days "$days" -sha256 -extfile "$ext" -out "$crt.tmp" 2>/dev/null
  mv "$key.tmp" "$key"
  mv "$crt.tmp" "$crt"
  chmod 644 "$crt"
  rm -f "$ext" "$csr"
  echo "made $crt ($san)"
done
