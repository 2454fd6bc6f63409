#!/usr/bin/env bash
# The whole test suite: format, lints, and every test against real services.
# Starts what the tests need: a local PostgreSQL (if stopped) and the Kafka-compatible
# broker tansu (installed once, pinned), and a TLS-only PostgreSQL cluster on port 5433. Point DATABASE_URL / KAFKA_BROKERS / MONGODB_URL
# elsewhere to use other servers.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cqrs-rs/target}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:19092}"

scripts/start-postgres.sh
# A second local cluster that accepts TLS only (cqrs-postgres/tests/tls.rs). Where it cannot
# be created (no postgresql-common tools, not root), the TLS tests say SKIPPED, or fail
# under CI=true.
if tls_ca="$(scripts/start-postgres-tls.sh | tail -n 1)" && [ -n "$tls_ca" ]; then
  export PG_TLS_CA="$tls_ca"
  export PG_TLS_WRONG_CA="$(dirname "$tls_ca")/wrong-ca.crt"
  export PG_TLS_URL="${PG_TLS_URL:-postgres://postgres@localhost:${PG_TLS_PORT:-5433}/postgres}"
else
  echo "warning: the TLS test cluster is not available; PostgreSQL TLS tests will skip" >&2
fi
broker_pid="$(scripts/start-kafka.sh | tail -n 1)"
if [ -n "$broker_pid" ]; then trap 'kill "$broker_pid" 2>/dev/null || true' EXIT; fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Rustdoc of the libraries: no broken links to renamed or moved items.
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet -p cqrs-core -p cqrs-postgres -p cqrs-mongo -p cqrs-kafka
cargo test --workspace
