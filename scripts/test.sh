#!/usr/bin/env bash
# The whole test suite: format, lints, and every test against real services.
# Starts what the tests need: a local PostgreSQL (if stopped) and the Kafka-compatible
# broker tansu (installed once, pinned). Point DATABASE_URL / KAFKA_BROKERS / MONGODB_URL
# elsewhere to use other servers.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cqrs-rs/target}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:19092}"

scripts/start-postgres.sh
broker_pid="$(scripts/start-kafka.sh | tail -n 1)"
if [ -n "$broker_pid" ]; then trap 'kill "$broker_pid" 2>/dev/null || true' EXIT; fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
