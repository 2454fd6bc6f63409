#!/usr/bin/env bash
# Makes sure the PostgreSQL named by DATABASE_URL answers. When it is the local default and
# a locally installed cluster is stopped, starts it (pg_ctlcluster).
set -euo pipefail
DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

answers() { pg_isready -q -d "$DATABASE_URL" 2>/dev/null; }

if answers; then exit 0; fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  for version in $(ls /etc/postgresql); do
    echo "starting local PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
  for _ in $(seq 1 30); do answers && exit 0; sleep 1; done
fi
echo "PostgreSQL at $DATABASE_URL does not answer" >&2
exit 1
