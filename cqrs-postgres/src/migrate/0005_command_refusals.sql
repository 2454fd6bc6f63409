-- The refusals of commands by command id (cqrs_core::store::commands): a repeat of a
-- refused command reports the recorded refusal instead of deciding again. The primary key
-- makes the first refusal recorded for a command id the only one (record_refusal.sql
-- inserts if absent).
CREATE TABLE {schema}.command_refusals (
    command_id     uuid        NOT NULL PRIMARY KEY,
    stream_id      text        NOT NULL,
    stream_version bigint      NOT NULL,
    code           text        NOT NULL,
    message        text        NOT NULL,
    recorded_at    timestamptz NOT NULL
);
