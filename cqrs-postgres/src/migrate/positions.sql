-- The position safety check of migrate(): the highest position the schema holds (events,
-- and checkpoints of readers that already passed it) against this cluster's transaction id.
--
-- Positions are (transaction id << 20) | index, so they only increase while transaction ids
-- do. A logical dump (pg_dump) restored into another cluster keeps the stored positions
-- but not the transaction counter: the new cluster's ids can be far below them, and new
-- events would get positions below events already stored, which every catch-up reader,
-- relay and projection (resuming after its checkpoint) would skip. migrate() refuses to
-- run when the stored high bits reach the current id.
--
-- `current` is this (migrating) transaction's own id: every later transaction gets a
-- higher one. Also checked: that id still fits the shift, (id << 20) < 2^63.
SELECT greatest(
           (SELECT coalesce(max(position), 0) FROM {schema}.events),
           (SELECT coalesce(max(position), 0) FROM {schema}.checkpoints)
       ) AS stored,
       pg_current_xact_id()::text::bigint AS current
