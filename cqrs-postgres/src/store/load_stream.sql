-- One stream's events from a version on, in version order, with only what rebuilding an
-- aggregate needs: the type, the schema version and the payload. Every column sent costs
-- the server an output-function call per row, so nothing else is:
--   * no stream_version: versions are dense by construction (an append writes
--     current + 1, current + 2, ... under the unique (stream_id, stream_version) key, and
--     nothing deletes events), so the reader counts them from $2 (clamped to 1). Should
--     versions ever have a gap (rows deleted by hand), the counted version is lower than
--     the real one, and the next append of the stream is a Conflict, never an overwrite;
--   * no position, metadata, event id or commit time;
--   * event_version is NULL when it is 1 (the common case): a NULL is a length of -1 on
--     the wire, without an output-function call. The reader reads NULL as 1.
--
-- Guarantees: the rows are the stream's committed events with stream_version >= $2, in
-- version order, read by an index scan of the unique (stream_id, stream_version) index
-- (events_stream_version_key) that serves both the filter and the order: no sort step.
SELECT event_type, NULLIF(event_version, 1), payload
FROM {schema}.events
WHERE stream_id = $1 AND stream_version >= $2
ORDER BY stream_version
