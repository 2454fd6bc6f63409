-- The refusal recorded for a command id, if any (the primary key lookup).
SELECT command_id, stream_id, stream_version, code, message, recorded_at
FROM {schema}.command_refusals
WHERE command_id = $1
