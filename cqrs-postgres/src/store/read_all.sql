-- The gap-safe read of the global log: events from a position on, in position order, but
-- only below (xmin << 20), where xmin is the oldest transaction still running when this
-- statement's snapshot was taken.
--
-- Why nothing can be skipped: every transaction with an id below xmin has ended, so the
-- events it committed are visible to this snapshot and the ones it did not commit never
-- will be. Every event of a transaction carries that transaction's id in its position's
-- high bits, and transactions that start later get higher ids. So no event can appear
-- below the bound after this read: a reader that resumes after the last position it saw
-- never misses one, whatever order concurrent transactions commit in.
--
-- Cost: any transaction that holds an id (anywhere in the cluster) holds the bound back
-- until it ends. Readers then wait (latency), they never skip (correctness).
SELECT position, stream_id, stream_version, event_id, event_type, event_version,
       payload::text, metadata::text, recorded_at
FROM {schema}.events
WHERE position >= $1
  AND position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20)
ORDER BY position
LIMIT $2
