-- Checks, in a projection batch's transaction just before its commit, that lease $1 is
-- still held by $2 under token $3: a row comes back when it is. FOR SHARE locks the lease
-- row until the transaction ends, so a takeover (acquire.sql updates the row) committed
-- before reads as a changed token (no row: the batch rolls back), and one that comes later
-- waits for this commit. Expiry alone does not depose: only a greater token does.
SELECT 1 FROM {schema}.leases
WHERE name = $1 AND holder = $2 AND token = $3
FOR SHARE
