-- Extends lease $1 of holder $2 under token $3 by $4 milliseconds; no row when it changed
-- hands since.
UPDATE {schema}.leases
SET expires_at = clock_timestamp() + $4::float8 * interval '1 millisecond'
WHERE name = $1 AND holder = $2 AND token = $3
RETURNING token
