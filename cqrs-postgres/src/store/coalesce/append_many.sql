-- Appends the requests of several concurrent callers, each to its own stream (append
-- coalescing, see store/coalesce/): one statement, one round trip, one transaction and
-- one commit for all of them.
--
-- Guarantees:
-- * Each request's expected version is checked against its own stream in the statement
--   that inserts. A request whose check fails inserts nothing (its positions, recorded_at
--   and payloads are NULL, version_before is the actual version); the other requests are
--   not affected.
-- * The caller never puts two requests for one stream into a statement, so each accepted
--   request continues its stream densely from version_before + 1, and the result rows can
--   be matched to requests by stream id.
-- * A writer outside this statement that takes one of these stream versions first (or an
--   event id stored before) makes the whole statement fail with unique_violation, after
--   waiting for that writer's commit or rollback: nothing of any request is inserted, and
--   the caller resolves each request alone on the single-stream path
--   (store/append/append.sql), which tells conflicts from retried batches.
-- * All accepted requests commit together or none do (one statement, run in autocommit).
-- * position = (transaction id << 20) | (index of the event in this statement): unique in
--   the transaction and increasing with the stream version within each request, so the
--   gap-free argument of append.sql holds unchanged. Indexes of rejected requests are
--   skipped (positions are sparse anyway).
-- * The payloads come back as stored (jsonb normalizes key order and spacing).
-- * No NOTIFY here, for the reason given in append.sql.
--
-- Requests, parallel arrays in request order: $1 stream ids, $2 and $3 the lowest and
-- highest current version each request's expected version accepts (as in append.sql),
-- $4 metadata JSON text.
-- Events, parallel arrays grouped by request and in order within each: $5 request index
-- (1-based, into the request arrays), $6 ids, $7 types, $8 schema versions, $9 payload JSON
-- text, $10 offset within the request (1-based).
WITH requests AS MATERIALIZED (
    SELECT r.request,
           r.stream_id,
           r.metadata::jsonb AS metadata,
           current.version BETWEEN r.lowest AND r.highest AS accepted,
           current.version
    FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[])
             WITH ORDINALITY AS r (stream_id, lowest, highest, metadata, request)
    CROSS JOIN LATERAL (
        SELECT coalesce(max(e.stream_version), 0) AS version
        FROM {schema}.events e
        WHERE e.stream_id = r.stream_id
    ) AS current
), inserted AS (
    INSERT INTO {schema}.events
        (position, stream_id, stream_version, event_id, event_type, event_version, payload, metadata)
    SELECT (pg_current_xact_id()::text::bigint << 20) | (e.ordinality - 1),
           q.stream_id,
           q.version + e.seq,
           e.event_id,
           e.event_type,
           e.event_version,
           e.payload::jsonb,
           q.metadata
    FROM unnest($5::integer[], $6::uuid[], $7::text[], $8::integer[], $9::text[], $10::integer[])
             WITH ORDINALITY AS e (request, event_id, event_type, event_version, payload, seq, ordinality)
    JOIN requests q ON q.request = e.request AND q.accepted
    RETURNING stream_id, position, recorded_at, payload
), appended AS (
    SELECT stream_id,
           array_agg(position ORDER BY position) AS positions,
           min(recorded_at) AS recorded_at,
           array_agg(payload::text ORDER BY position) AS payloads
    FROM inserted
    GROUP BY stream_id
)
SELECT q.version AS version_before, a.positions, a.recorded_at, a.payloads
FROM requests q
LEFT JOIN appended a ON a.stream_id = q.stream_id
ORDER BY q.request
