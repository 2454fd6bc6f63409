-- The highest position a gap-safe reader can see now (0 when none): the same bound as
-- read_all.sql, answered by one backward scan of the primary key.
SELECT coalesce(max(position), 0)
FROM {schema}.events
WHERE position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20)
