-- The latest snapshot of each stream (save_snapshot keeps the higher version).
CREATE TABLE {schema}.snapshots (
    stream_id      text        NOT NULL PRIMARY KEY,
    version        bigint      NOT NULL,
    schema_version integer     NOT NULL,
    state          jsonb       NOT NULL,
    taken_at       timestamptz NOT NULL
);
