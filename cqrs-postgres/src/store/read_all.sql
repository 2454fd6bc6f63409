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
--
-- Shape: the inner query is the plain keyset page (`position >= $1 ORDER BY position
-- LIMIT $2`), which PostgreSQL always runs as a primary-key index scan that stops after $2
-- rows; the bound is applied to that page. Putting the bound into the inner WHERE makes
-- the planner estimate a tiny range and, with fresh or missing statistics, pick a bitmap
-- scan plus a sort of everything after $1 for every page (measured 20x slower). Cutting
-- the ordered page at the bound keeps exactly its prefix below the bound, so the result
-- is the same.
SELECT position, stream_id, stream_version, event_id, event_type, event_version,
       payload, metadata::text, recorded_at
FROM (
    SELECT *
    FROM {schema}.events
    WHERE position >= $1
    ORDER BY position
    LIMIT $2
) AS page
WHERE position < (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20)
ORDER BY position
