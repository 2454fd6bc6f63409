-- Moves checkpoint $1 forward to $2, only while lease $3 is held by $4 under token $5.
-- FOR SHARE locks the lease row: a takeover committed before reads as a changed token (no
-- row, nothing written); one that comes later waits for this statement. GREATEST keeps
-- the checkpoint from moving backwards. A row comes back when the lease was current.
WITH current_lease AS (
    SELECT 1 FROM {schema}.leases
    WHERE name = $3 AND holder = $4 AND token = $5
    FOR SHARE
)
INSERT INTO {schema}.checkpoints AS c (name, position, updated_at)
SELECT $1, $2, now() FROM current_lease
ON CONFLICT (name) DO UPDATE
    SET position = GREATEST(c.position, excluded.position),
        updated_at = excluded.updated_at
RETURNING 1
