#!/usr/bin/env bash
# Installs (once, pinned) and starts the Kafka-compatible broker tansu on loopback with
# memory storage, unless KAFKA_BROKERS already points at a broker that answers.
# Prints the PID of a broker it started on stdout's last line (empty if none).
set -euo pipefail
TANSU_VERSION=0.6.0
KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:19092}"
host="${KAFKA_BROKERS%%,*}"; port="${host##*:}"; host="${host%:*}"

answers() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

if answers; then echo "Kafka broker already answers at $host:$port" >&2; echo; exit 0; fi
if ! tansu --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
  echo "installing tansu $TANSU_VERSION (about 10 minutes the first time)" >&2
  cargo install tansu --locked --version "$TANSU_VERSION" --features dynostore >&2
fi
log="${TMPDIR:-/tmp}/cqrs-rs-tansu-$port.log"
tansu broker --listener-url "tcp://$host:$port" --advertised-listener-url "tcp://$host:$port" \
  --storage-engine memory://tansu/ >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 50); do
  if answers; then echo "tansu started at $host:$port (pid $pid, log $log)" >&2; echo "$pid"; exit 0; fi
  sleep 0.2
done
echo "tansu did not start; see $log" >&2
kill "$pid" 2>/dev/null || true
exit 1
