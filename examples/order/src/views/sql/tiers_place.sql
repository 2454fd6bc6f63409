-- Records a placed order and adds its lines to the customer's tiers, in one statement.
-- $1 order id, $2 customer id, $3 lines (jsonb), then parallel arrays per line:
-- $4 tiers, $5 skus, $6 unit prices, $7 labels, $8 quantities.
WITH placed AS (
    INSERT INTO {schema}.tier_orders (order_id, customer_id, lines) VALUES ($1, $2, $3)
    ON CONFLICT (order_id) DO NOTHING
    RETURNING customer_id
)
INSERT INTO {schema}.tier_items AS i (customer_id, tier, sku, unit_price, label, quantity)
SELECT placed.customer_id, l.tier, l.sku, l.unit_price, min(l.label), sum(l.quantity)
FROM placed, unnest($4::text[], $5::text[], $6::bigint[], $7::text[], $8::bigint[])
     AS l(tier, sku, unit_price, label, quantity)
GROUP BY placed.customer_id, l.tier, l.sku, l.unit_price
ON CONFLICT (customer_id, tier, sku, unit_price)
DO UPDATE SET quantity = i.quantity + excluded.quantity
