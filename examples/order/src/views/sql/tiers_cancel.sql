-- Marks an order cancelled (once) and returns its customer and lines.
UPDATE {schema}.tier_orders SET cancelled = true
WHERE order_id = $1 AND NOT cancelled
RETURNING customer_id, lines
