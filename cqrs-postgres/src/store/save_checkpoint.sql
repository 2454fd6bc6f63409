-- Sets the checkpoint of one named consumer (also backwards, for rebuilds).
INSERT INTO {schema}.checkpoints (name, position, updated_at)
VALUES ($1, $2, now())
ON CONFLICT (name) DO UPDATE
    SET position = excluded.position,
        updated_at = excluded.updated_at
