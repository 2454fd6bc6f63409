SELECT sku, name, on_hand, reserved FROM {schema}.stock_levels
WHERE on_hand - reserved < $1
ORDER BY on_hand - reserved, sku
