-- Records a command's refusal unless one is recorded for its command id, and returns the
-- recorded one (ours, or the first one stored): one round trip, first refusal wins.
--
-- A concurrent recorder of the same command id: ON CONFLICT waits for its transaction and
-- then does nothing, but the second SELECT reads this statement's snapshot, taken before
-- that commit, so it finds nothing and the statement returns no row. The caller then runs
-- it again: a new statement's snapshot sees the committed winner.
WITH inserted AS (
    INSERT INTO {schema}.command_refusals
        (command_id, stream_id, stream_version, code, message, recorded_at)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (command_id) DO NOTHING
    RETURNING command_id, stream_id, stream_version, code, message, recorded_at
)
SELECT command_id, stream_id, stream_version, code, message, recorded_at
FROM inserted
UNION ALL
SELECT command_id, stream_id, stream_version, code, message, recorded_at
FROM {schema}.command_refusals
WHERE command_id = $1 AND NOT EXISTS (SELECT 1 FROM inserted)
