-- The stored events among a set of ids, in no particular order (the unique index on
-- event_id): tells a retried batch (deduplicated) from a reused id (DuplicateEventId) when
-- an append did not go through, and serves read_events_by_id (what a repeated command
-- appended, see store/commands.rs).
SELECT position, stream_id, stream_version, event_id, event_type, event_version,
       payload, metadata::text, recorded_at
FROM {schema}.events
WHERE event_id = ANY($1::uuid[])
