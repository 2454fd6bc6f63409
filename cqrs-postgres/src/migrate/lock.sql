-- Serializes concurrent migrate() calls for one schema (two services starting at once):
-- a transaction-scoped advisory lock keyed by the schema name, released at commit or
-- rollback. Without it two `CREATE SCHEMA IF NOT EXISTS` can race into a unique violation.
SELECT pg_advisory_xact_lock(hashtextextended('cqrs-postgres migrate ' || $1, 0))
