-- Stores a snapshot unless a newer one (higher version) is already stored; an equal
-- version replaces the stored one. One statement, so concurrent savers cannot lower it.
INSERT INTO {schema}.snapshots AS s (stream_id, version, schema_version, state, taken_at)
VALUES ($1, $2, $3, $4::jsonb, $5)
ON CONFLICT (stream_id) DO UPDATE
    SET version = excluded.version,
        schema_version = excluded.schema_version,
        state = excluded.state,
        taken_at = excluded.taken_at
    WHERE s.version <= excluded.version
