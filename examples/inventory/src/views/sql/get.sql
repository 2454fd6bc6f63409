SELECT sku, name, on_hand, reserved FROM {schema}.stock_levels WHERE sku = $1
