-- One product event as deltas, applied only if its stream version is new: redelivery
-- (at least once from Kafka) changes nothing. $1 sku, $2 name ('' = keep), $3 on-hand
-- delta, $4 reserved delta, $5 stream version.
INSERT INTO {schema}.stock_levels AS l (sku, name, on_hand, reserved, last_version)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (sku) DO UPDATE SET
    name = CASE WHEN EXCLUDED.name <> '' THEN EXCLUDED.name ELSE l.name END,
    on_hand = l.on_hand + EXCLUDED.on_hand,
    reserved = l.reserved + EXCLUDED.reserved,
    last_version = EXCLUDED.last_version
WHERE l.last_version < EXCLUDED.last_version
