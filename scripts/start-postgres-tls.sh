#!/usr/bin/env bash
# Makes sure a local PostgreSQL cluster that accepts TLS connections only answers on
# 127.0.0.1:${PG_TLS_PORT:-5433}, for cqrs-postgres/tests/tls.rs.
#
# Once: generates with openssl a self-signed test CA, a server certificate for `localhost`,
# 127.0.0.1 and ::1 (subjectAltName) signed by it, and a second, unrelated CA (for the
# "wrong CA is refused" test); creates the cluster with pg_createcluster (same major version
# as the local one), with `ssl = on` and a pg_hba.conf that has `hostssl` lines only, so a
# connection without TLS is refused. Every run: starts the cluster if it is stopped and
# waits until it answers. Safe to run twice.
#
# Prints the CA certificate's path as its last line. Needs root (or the postgres user) and
# the Debian/Ubuntu postgresql-common tools (pg_createcluster, pg_ctlcluster).
set -euo pipefail

PORT="${PG_TLS_PORT:-5433}"
CLUSTER="${PG_TLS_CLUSTER:-cqrs_tls}"
CERTS="${PG_TLS_CERTS:-/var/lib/postgresql/cqrs-tls}"

for tool in pg_createcluster pg_ctlcluster pg_lsclusters openssl pg_isready; do
  command -v "$tool" >/dev/null 2>&1 || { echo "start-postgres-tls: $tool not found" >&2; exit 1; }
done
VERSION="$(ls /etc/postgresql | sort -V | tail -n 1)"
[ -n "$VERSION" ] || { echo "start-postgres-tls: no local PostgreSQL in /etc/postgresql" >&2; exit 1; }

# Runs a command as the postgres user (directly when we are that user).
as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

# A self-signed CA: $1 the file prefix, $2 its common name.
make_ca() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
    -subj "/CN=$2" -keyout "$1.key" -out "$1.crt" 2>/dev/null
}

if [ ! -s "$CERTS/server.crt" ] || [ ! -s "$CERTS/wrong-ca.crt" ]; then
  echo "start-postgres-tls: generating test certificates in $CERTS" >&2
  mkdir -p "$CERTS"
  make_ca "$CERTS/ca" "cqrs-rs test CA"
  make_ca "$CERTS/wrong-ca" "cqrs-rs unrelated CA"
  openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
    -keyout "$CERTS/server.key" -out "$CERTS/server.csr" 2>/dev/null
  printf '%s\n' \
    "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
    "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" >"$CERTS/server.ext"
  openssl x509 -req -in "$CERTS/server.csr" -CA "$CERTS/ca.crt" -CAkey "$CERTS/ca.key" \
    -CAcreateserial -days 3650 -sha256 -extfile "$CERTS/server.ext" \
    -out "$CERTS/server.crt" 2>/dev/null
  rm -f "$CERTS/server.csr" "$CERTS/server.ext" "$CERTS/ca.srl"
  # PostgreSQL refuses a key readable by others.
  chown -R postgres:postgres "$CERTS" 2>/dev/null || true
  chmod 0755 "$CERTS"
  chmod 0600 "$CERTS/server.key" "$CERTS/ca.key" "$CERTS/wrong-ca.key"
  chmod 0644 "$CERTS/ca.crt" "$CERTS/wrong-ca.crt" "$CERTS/server.crt"
fi

CONF="/etc/postgresql/$VERSION/$CLUSTER"
if ! pg_lsclusters --no-header | awk '{print $1 "/" $2}' | grep -qx "$VERSION/$CLUSTER"; then
  echo "start-postgres-tls: creating cluster $VERSION/$CLUSTER on port $PORT" >&2
  pg_createcluster "$VERSION" "$CLUSTER" --port "$PORT" >/dev/null
fi

# Written on every run, so an edit here reaches an existing cluster (at its next start).
mkdir -p "$CONF/conf.d"
cat >"$CONF/conf.d/zz-cqrs-tls.conf" <<EOF
# Written by cqrs-rs scripts/start-postgres-tls.sh: TLS only, test certificates.
listen_addresses = '127.0.0.1,::1'
port = $PORT
ssl = on
ssl_cert_file = '$CERTS/server.crt'
ssl_key_file = '$CERTS/server.key'
ssl_ca_file = ''
EOF
cat >"$CONF/pg_hba.conf" <<EOF
# Written by cqrs-rs scripts/start-postgres-tls.sh. TCP connections must use TLS: there is
# no plain "host" line, so a connection without TLS finds no entry and is refused.
local   all  postgres                peer
hostssl all  all       127.0.0.1/32  trust
hostssl all  all       ::1/128       trust
EOF
chown -R postgres:postgres "$CONF" 2>/dev/null || true

status="$(pg_lsclusters --no-header | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {print $4}')"
if [ "$status" != online ]; then
  echo "start-postgres-tls: starting cluster $VERSION/$CLUSTER" >&2
  pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$CLUSTER" start >&2
else
  # Picks up a pg_hba.conf or certificate written above.
  as_postgres psql -q -p "$PORT" -c "SELECT pg_reload_conf()" >/dev/null
fi

for _ in $(seq 1 30); do
  if pg_isready -q -h 127.0.0.1 -p "$PORT"; then
    echo "$CERTS/ca.crt"
    exit 0
  fi
  sleep 1
done
echo "start-postgres-tls: cluster $VERSION/$CLUSTER does not answer on 127.0.0.1:$PORT" >&2
exit 1
