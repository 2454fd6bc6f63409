-- The last processed position of each named consumer (projection, relay).
CREATE TABLE {schema}.checkpoints (
    name       text        NOT NULL PRIMARY KEY,
    position   bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
