-- One stream's events from a version on, in version order, with only what rebuilding an
-- aggregate needs: no metadata (its jsonb-to-text conversion is the costliest column), no
-- event id, no commit time. The stream id is known to the caller and not sent back.
--
-- Guarantees: the rows are the stream's committed events with stream_version >= $2, in
-- version order, read by an index scan of the unique (stream_id, stream_version) index
-- (events_stream_version_key) that serves both the filter and the order: no sort step.
SELECT stream_version, position, event_type, event_version, payload
FROM {schema}.events
WHERE stream_id = $1 AND stream_version >= $2
ORDER BY stream_version
