-- The event log.
--
-- position: the global position, (transaction id << 20) | index within the transaction,
--   so every event of one transaction shares a prefix that is lower than the prefix of any
--   transaction started later. Readers only read below the oldest running transaction's
--   prefix (see store/read_all.sql), which makes the log gap-free for catch-up readers.
--   The primary key index serves the global log read in position order.
-- (stream_id, stream_version): unique, so two writers that both read version N cannot
--   both append N + 1: the loser gets unique_violation on events_stream_version_key and the
--   append reports a typed Conflict. The index also serves stream reads in version order.
-- event_id: unique, the idempotency key of appends.
CREATE TABLE {schema}.events (
    position       bigint      NOT NULL,
    stream_id      text        NOT NULL,
    stream_version bigint      NOT NULL,
    event_id       uuid        NOT NULL,
    event_type     text        NOT NULL,
    event_version  integer     NOT NULL,
    payload        jsonb       NOT NULL,
    metadata       jsonb       NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_pkey PRIMARY KEY (position),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_positive CHECK (stream_version > 0)
);
