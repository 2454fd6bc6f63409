-- The stored snapshot of one stream, if any.
SELECT version, schema_version, state::text, taken_at
FROM {schema}.snapshots
WHERE stream_id = $1
