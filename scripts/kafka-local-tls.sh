# shellcheck shell=bash
# scripts/kafka-local-tls.sh: the KAFKA_SECURITY=1 part of scripts/kafka-local
# (sourced by it, not run on its own): a throw-away certificate authority and
# certificates made with openssl at every start, SCRAM/PLAIN users with random
# passwords, and the broker properties for a SASL_SSL and an SSL (mutual TLS)
# listener. See the header of scripts/kafka-local for the interface.

TLS_DAYS=30 # validity of the certificates made at every start

# tls_rand_hex N: N random hex characters (N even).
tls_rand_hex() {
  od -An -N "$(($1 / 2))" -tx1 /dev/urandom | tr -d ' \n'
}

# tls_openssl ARGS...: openssl with its chatter kept out of the way; on failure
# the output is shown and the script stops, naming the step.
tls_openssl() {
  local what="$1" out
  shift
  if ! out="$(openssl "$@" 2>&1 </dev/null)"; then
    printf '%s\n' "$out" >&2
    die "openssl failed while making $what in $TLS_DIR (openssl $*)"
  fi
}

# tls_key FILE: a new unencrypted EC P-256 private key, PKCS#8 PEM
# ("BEGIN PRIVATE KEY"), which Go's tls.LoadX509KeyPair, Python's ssl and
# Kafka's PEM key stores all read.
tls_key() {
  tls_openssl "the key $1" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
  chmod 600 "$1"
}

# tls_sign NAME CN EXTENSIONS: a certificate NAME.pem for the key NAME.key,
# signed by ca.pem with the given section of openssl.cnf.
tls_sign() {
  local name="$1" cn="$2" ext="$3"
  tls_key "$TLS_DIR/$name.key"
  tls_openssl "the request $name.csr" req -new -config "$TLS_DIR/openssl.cnf" \
    -key "$TLS_DIR/$name.key" -subj "/O=kafka-local/CN=$cn" -out "$TLS_DIR/$name.csr"
  tls_openssl "the certificate $name.pem" x509 -req -in "$TLS_DIR/$name.csr" \
    -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" -set_serial "0x1$(tls_rand_hex 30)" \
    -days "$TLS_DAYS" -sha256 -extfile "$TLS_DIR/openssl.cnf" -extensions "$ext" \
    -out "$TLS_DIR/$name.pem"
  rm -f "$TLS_DIR/$name.csr"
}

# tls_ca NAME CN: a self-signed CA, NAME.pem and NAME.key.
tls_ca() {
  local name="$1" cn="$2"
  tls_key "$TLS_DIR/$name.key"
  tls_openssl "the CA certificate $name.pem" req -new -x509 -config "$TLS_DIR/openssl.cnf" \
    -key "$TLS_DIR/$name.key" -subj "/O=kafka-local/CN=$cn" -days "$TLS_DAYS" -sha256 \
    -set_serial "0x1$(tls_rand_hex 30)" -extensions ca_ext -out "$TLS_DIR/$name.pem"
}

# tls_generate: the CA, the broker's key store, the client certificate and an
# unrelated CA, all PEM, in $TLS_DIR. The broker certificate names only
# IP:127.0.0.1 (no DNS:localhost): clients must dial 127.0.0.1, and dialing
# localhost fails hostname verification, on purpose.
tls_generate() {
  command -v openssl >/dev/null 2>&1 ||
    die "openssl not found on PATH; KAFKA_SECURITY=1 makes its certificates with it (Debian: apt-get install -y openssl)"
  rm -rf "$TLS_DIR"
  mkdir -p "$TLS_DIR"
  chmod 700 "$TLS_DIR"
  # Our own minimal config: independent of the system's openssl.cnf.
  cat >"$TLS_DIR/openssl.cnf" <<'EOF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ broker_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  tls_ca ca "kafka-local test CA"
  tls_sign broker "kafka-local broker" broker_ext
  tls_sign client "kafka-local client" client_ext
  tls_ca other-ca "kafka-local untrusted CA"

  # The broker's PEM key store: its private key (unencrypted PKCS#8: Kafka
  # reads that without ssl.key.password since 3.3, KAFKA-12703; Java could
  # not decrypt OpenSSL 3's default PBES2 encryption anyway), then its
  # certificate chain.
  cat "$TLS_DIR/broker.key" "$TLS_DIR/broker.pem" "$TLS_DIR/ca.pem" >"$TLS_DIR/broker-keystore.pem"
  chmod 600 "$TLS_DIR/broker-keystore.pem"
}

# security_prepare: certificates, users and passwords for a KAFKA_SECURITY=1
# start; sets EXTRA_LISTENERS and EXTRA_PROTOCOLS (for write_server_props) and
# SECURITY_FORMAT_ARGS (the StorageTool format arguments creating the SCRAM users).
security_prepare() {
  tls_generate
  SEC_SASL_PORT=$((KAFKA_PORT + 2))
  SEC_MTLS_PORT=$((KAFKA_PORT + 3))
  SEC_SCRAM256_USER=scram256user
  SEC_SCRAM512_USER=scram512user
  SEC_PLAIN_USER=plainuser
  SEC_SCRAM256_PASSWORD="$(tls_rand_hex 24)"
  SEC_SCRAM512_PASSWORD="$(tls_rand_hex 24)"
  SEC_PLAIN_PASSWORD="$(tls_rand_hex 24)"
  # shellcheck disable=SC2034 # read by write_server_props in scripts/kafka-local
  EXTRA_LISTENERS="SASL_SSL://127.0.0.1:$SEC_SASL_PORT,SSL://127.0.0.1:$SEC_MTLS_PORT"
  # shellcheck disable=SC2034 # read by write_server_props in scripts/kafka-local
  EXTRA_PROTOCOLS="SASL_SSL:SASL_SSL,SSL:SSL"
  # KRaft keeps SCRAM credentials in the metadata log: they are created at
  # format time (KIP-900, Kafka 3.5+), as no broker is there yet to take them.
  # shellcheck disable=SC2034 # read by single_start in scripts/kafka-local
  SECURITY_FORMAT_ARGS=(
    --add-scram "SCRAM-SHA-256=[name=$SEC_SCRAM256_USER,password=$SEC_SCRAM256_PASSWORD]"
    --add-scram "SCRAM-SHA-512=[name=$SEC_SCRAM512_USER,password=$SEC_SCRAM512_PASSWORD]"
  )
}

# security_props: the server.properties lines for the SASL_SSL and SSL
# listeners (appended to the ones write_server_props wrote).
security_props() {
  cat <<EOF2

# KAFKA_SECURITY=1: SASL_SSL on :$SEC_SASL_PORT, SSL with mutual TLS on :$SEC_MTLS_PORT.
# PEM key store (key + chain) and trust store; the key is unencrypted, so no
# ssl.key.password (allowed since Kafka 3.3), and PEM stores take no store password.
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.pem
listener.name.ssl.ssl.client.auth=required
listener.name.sasl_ssl.ssl.client.auth=none
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN
# Every enabled mechanism needs a JAAS login module for the listener; SCRAM's
# users live in the metadata log (StorageTool format --add-scram), PLAIN's here.
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SEC_PLAIN_USER="$SEC_PLAIN_PASSWORD";
EOF2
}

# security_write_env: $SECURITY_ENV, everything a client needs.
security_write_env() {
  cat >"$SECURITY_ENV.tmp" <<EOF2
KAFKA_SASL_SSL_BROKERS=127.0.0.1:$SEC_SASL_PORT
KAFKA_MTLS_BROKERS=127.0.0.1:$SEC_MTLS_PORT
KAFKA_CA_FILE=$TLS_DIR/ca.pem
KAFKA_OTHER_CA_FILE=$TLS_DIR/other-ca.pem
KAFKA_CLIENT_CERT=$TLS_DIR/client.pem
KAFKA_CLIENT_KEY=$TLS_DIR/client.key
KAFKA_SCRAM256_USER=$SEC_SCRAM256_USER
KAFKA_SCRAM256_PASSWORD=$SEC_SCRAM256_PASSWORD
KAFKA_SCRAM512_USER=$SEC_SCRAM512_USER
KAFKA_SCRAM512_PASSWORD=$SEC_SCRAM512_PASSWORD
KAFKA_PLAIN_USER=$SEC_PLAIN_USER
KAFKA_PLAIN_PASSWORD=$SEC_PLAIN_PASSWORD
EOF2
  chmod 600 "$SECURITY_ENV.tmp"
  mv "$SECURITY_ENV.tmp" "$SECURITY_ENV"
}
