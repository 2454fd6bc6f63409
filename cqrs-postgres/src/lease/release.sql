-- Lets lease $1 of holder $2 under token $3 expire now; the token stays, so the next
-- holder's is greater.
UPDATE {schema}.leases
SET expires_at = clock_timestamp()
WHERE name = $1 AND holder = $2 AND token = $3
