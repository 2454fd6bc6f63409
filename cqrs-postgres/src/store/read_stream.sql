-- One stream's events from a version on, in version order (the unique index on
-- (stream_id, stream_version) serves both the filter and the order). The stream id is
-- known to the caller and not sent back.
SELECT position, stream_version, event_id, event_type, event_version,
       payload, metadata::text, recorded_at
FROM {schema}.events
WHERE stream_id = $1 AND stream_version >= $2
ORDER BY stream_version
