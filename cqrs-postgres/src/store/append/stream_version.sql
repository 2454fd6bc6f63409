-- The current version of one stream (0 when it does not exist), read through the
-- (stream_id, stream_version) unique index.
SELECT coalesce(max(stream_version), 0) FROM {schema}.events WHERE stream_id = $1
