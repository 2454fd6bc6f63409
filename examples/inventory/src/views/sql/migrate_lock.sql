-- Serializes concurrent migrations of the stock view in schema $1 (replicas starting at
-- once): a transaction-scoped advisory lock, released at commit or rollback. Without it two
-- `CREATE SCHEMA IF NOT EXISTS` can race into a unique violation on pg_namespace.
SELECT pg_advisory_xact_lock(hashtextextended('inventory stock view migrate ' || $1, 0))
