# Sourced by the TLS tests (tls_https.sh, tls_sessions.sh): throwaway certificates made with
# openssl in the current folder. The caller defines fail MESSAGE. Defines no traps.
#   tls_mkca NAME             -> NAME.pem, a self-signed CA, and its key NAME.key
#   tls_mkcert NAME CA SAN    -> NAME.pem signed by CA.pem for SAN (e.g. "IP:127.0.0.1"), and
#                                its key NAME.key (mode 0600)
#   tls_test_pki              -> ca, other (a second, untrusted CA) and srv for 127.0.0.1 and
#                                localhost, signed by ca
tls_mkca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=tfuse test $1" -keyout "$1.key" -out "$1.pem" 2>/dev/null || fail "CA $1"
    chmod 600 "$1.key"
}
tls_mkcert() {
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=tfuse $1" \
        -keyout "$1.key" -out "$1.csr" 2>/dev/null || fail "key of $1"
    printf '%s\n' "subjectAltName=$3" "basicConstraints=CA:FALSE" \
        "extendedKeyUsage=serverAuth" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 2 \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null || fail "certificate $1"
    chmod 600 "$1.key"
}
tls_test_pki() {
    tls_mkca ca
    tls_mkca other
    tls_mkcert srv ca "IP:127.0.0.1,DNS:localhost"
}
