CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.stock_levels (
    sku          text   PRIMARY KEY,
    name         text   NOT NULL DEFAULT '',
    on_hand      bigint NOT NULL DEFAULT 0,
    reserved     bigint NOT NULL DEFAULT 0,
    -- Last `Product-{sku}` stream version applied: redeliveries at or below it are skipped.
    last_version bigint NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS stock_levels_by_available
    ON {schema}.stock_levels ((on_hand - reserved), sku);
