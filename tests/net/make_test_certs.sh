#!/usr/bin/env bash
# Makes a throwaway PKI for the TLS tests in DIR (valid for 2 days):
#   ca.pem                 the cluster CA
#   node.pem, node.key     a certificate for localhost and 127.0.0.1 signed by it,
#                          for both server and client authentication
#   other-ca.pem, other.pem, other.key
#                          the same from another CA (a stranger's PKI)
#   unnamed.pem, unnamed.key
#                          signed by the cluster CA but naming only "flowps-cluster"
#   make_test_certs.sh DIR     exits 77 (skipped) when openssl is missing
set -euo pipefail
command -v openssl >/dev/null || { echo "SKIPPED: openssl is not installed"; exit 77; }
dir=$1
mkdir -p "$dir"
cd "$dir"

ca() {  # ca NAME CN
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.pem" \
    -days 2 -subj "/CN=$2" -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
leaf() {  # leaf NAME CA SUBJECT_ALT_NAME
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.csr" \
    -subj "/CN=$1" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 2 -out "$1.pem" \
    -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
ca ca flowps-test-ca
ca other-ca flowps-other-ca
leaf node ca "DNS:localhost,IP:127.0.0.1"
leaf other other-ca "DNS:localhost,IP:127.0.0.1"
leaf unnamed ca "DNS:flowps-cluster"
