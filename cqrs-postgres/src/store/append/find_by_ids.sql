-- The stored events among a batch's ids: tells a retried batch (deduplicated) from a reused
-- id (DuplicateEventId). Only run when an append did not go through.
SELECT position, stream_id, stream_version, event_id, event_type, event_version,
       payload, metadata::text, recorded_at
FROM {schema}.events
WHERE event_id = ANY($1::uuid[])
