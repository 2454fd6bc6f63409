SELECT sku, name, on_hand, reserved FROM {schema}.stock_levels ORDER BY sku
