-- Reads a projection's checkpoint and locks its row until the transaction ends, creating
-- it at 0 when missing: one statement, in the transaction that will apply the next batch
-- and advance the checkpoint. ON CONFLICT DO UPDATE takes the row lock and always returns
-- the latest committed position (even when it had to wait for another transaction), so
-- two runners of the same projection take turns batch by batch and each skips the events
-- the other already applied: the read model sees every event exactly once.
INSERT INTO {schema}.checkpoints AS c (name, position) VALUES ($1, 0)
ON CONFLICT (name) DO UPDATE SET position = c.position
RETURNING position
