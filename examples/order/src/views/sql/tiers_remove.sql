-- Takes a cancelled order's lines out of the customer's tiers; rows reaching 0 disappear.
-- $1 customer id, then parallel arrays: $2 tiers, $3 skus, $4 unit prices, $5 quantities.
WITH removed AS (
    SELECT l.tier, l.sku, l.unit_price, sum(l.quantity) AS quantity
    FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS l(tier, sku, unit_price, quantity)
    GROUP BY l.tier, l.sku, l.unit_price
), updated AS (
    UPDATE {schema}.tier_items AS i SET quantity = i.quantity - r.quantity
    FROM removed r
    WHERE i.customer_id = $1 AND i.tier = r.tier AND i.sku = r.sku AND i.unit_price = r.unit_price
      AND i.quantity > r.quantity
    RETURNING i.sku
)
DELETE FROM {schema}.tier_items AS i
USING removed r
WHERE i.customer_id = $1 AND i.tier = r.tier AND i.sku = r.sku AND i.unit_price = r.unit_price
  AND i.quantity <= r.quantity
