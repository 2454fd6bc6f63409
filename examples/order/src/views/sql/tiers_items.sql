-- A customer's items, optionally one tier ($2 NULL = all), by sku then price.
SELECT tier, sku, label, unit_price, quantity
FROM {schema}.tier_items
WHERE customer_id = $1 AND ($2::text IS NULL OR tier = $2)
ORDER BY sku, unit_price
