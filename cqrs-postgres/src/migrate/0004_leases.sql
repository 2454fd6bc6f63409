-- Leases of workers (cqrs_core::lease): who may run the worker called `name`, until when,
-- under which fencing token. Times are the database's clock, shared by every replica.
CREATE TABLE {schema}.leases (
    name       text        NOT NULL PRIMARY KEY,
    holder     text        NOT NULL,
    token      bigint      NOT NULL,
    expires_at timestamptz NOT NULL
);
