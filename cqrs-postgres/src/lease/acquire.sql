-- Takes lease $1 for holder $2 for $3 milliseconds, if it is free, expired or already the
-- holder's. The row lock of ON CONFLICT DO UPDATE serializes concurrent acquirers, and the
-- WHERE is checked again on the latest row version, so at most one of them gets a row.
-- The token grows when the lease changes hands or is taken again after it expired.
INSERT INTO {schema}.leases AS l (name, holder, token, expires_at)
VALUES ($1, $2, 1, clock_timestamp() + $3::float8 * interval '1 millisecond')
ON CONFLICT (name) DO UPDATE
    SET holder = excluded.holder,
        token = CASE
            WHEN l.holder = excluded.holder AND l.expires_at > clock_timestamp() THEN l.token
            ELSE l.token + 1
        END,
        expires_at = excluded.expires_at
    WHERE l.holder = excluded.holder OR l.expires_at <= clock_timestamp()
RETURNING token
