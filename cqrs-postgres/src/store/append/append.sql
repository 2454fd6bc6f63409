-- Appends a batch of events to one stream: one statement, one round trip.
--
-- Guarantees:
-- * The expected version is checked in the same statement that inserts: `accepted` is empty
--   when the stream's current version does not satisfy it, and then nothing is inserted
--   (the caller reports a Conflict, with version_before as the actual version).
-- * A concurrent writer that read the same current version and commits first makes this
--   insert fail with unique_violation on events_stream_version_key (it waits for that
--   writer's commit or rollback first): a lost race is decided inside the transaction,
--   never after commit.
-- * All events of the batch are inserted or none (one statement).
-- * position = (transaction id << 20) | (index within the transaction): unique, increasing
--   within the transaction, and below the positions of every later transaction's events.
-- * The payloads come back as stored: jsonb normalizes key order and spacing, and the
--   result of an append must equal what readers will see.
-- * No NOTIFY here: a transaction that notifies holds PostgreSQL's global notification
--   lock through its commit (WAL flush included), which serializes every appending
--   transaction (measured: 3x fewer commands/s, 3x fewer batch events/s). Wake-ups are
--   announced after commit instead, coalesced (see store/wakeup.rs).
--
-- $1 stream id, $2 and $3 the lowest and highest current version the expected version
-- accepts (Batch::accepted_versions: any 0..max, no stream 0..0, stream exists 1..max,
-- exact v..v), $4..$7 the events as parallel arrays (id, type, schema version, payload JSON text),
-- $8 metadata JSON text, $9 index of the first event within the transaction.
WITH current AS (
    SELECT coalesce(max(stream_version), 0) AS version
    FROM {schema}.events
    WHERE stream_id = $1
), accepted AS (
    SELECT version
    FROM current
    WHERE version BETWEEN $2::bigint AND $3::bigint
), inserted AS (
    INSERT INTO {schema}.events
        (position, stream_id, stream_version, event_id, event_type, event_version, payload, metadata)
    SELECT (pg_current_xact_id()::text::bigint << 20) | ($9::bigint + e.ordinality - 1),
           $1,
           accepted.version + e.ordinality,
           e.event_id,
           e.event_type,
           e.event_version,
           e.payload::jsonb,
           $8::jsonb
    FROM accepted,
         unnest($4::uuid[], $5::text[], $6::integer[], $7::text[])
             WITH ORDINALITY AS e (event_id, event_type, event_version, payload, ordinality)
    RETURNING position, recorded_at, payload
)
SELECT current.version AS version_before,
       (SELECT array_agg(position ORDER BY position) FROM inserted) AS positions,
       (SELECT min(recorded_at) FROM inserted) AS recorded_at,
       (SELECT array_agg(payload::text ORDER BY position) FROM inserted) AS payloads
FROM current
