-- The price-tier read model in PostgreSQL. {schema} is a validated, quoted identifier.
CREATE SCHEMA IF NOT EXISTS {schema};

-- Orders seen by the view, so a cancellation knows which items to take out.
CREATE TABLE IF NOT EXISTS {schema}.tier_orders (
    order_id    text PRIMARY KEY,
    customer_id text NOT NULL,
    lines       jsonb NOT NULL,
    cancelled   boolean NOT NULL DEFAULT false
);

-- Per customer, per tier, the items with their total quantity (same sku and price aggregate).
CREATE TABLE IF NOT EXISTS {schema}.tier_items (
    customer_id text   NOT NULL,
    tier        text   NOT NULL,
    sku         text   NOT NULL,
    unit_price  bigint NOT NULL,
    label       text   NOT NULL,
    quantity    bigint NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (customer_id, tier, sku, unit_price)
);

-- Event ids already applied: redelivered events are skipped inside the same transaction
-- that applies them, so every event has exactly one effect.
CREATE TABLE IF NOT EXISTS {schema}.tier_applied_events (
    event_id   uuid PRIMARY KEY,
    position   bigint NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
