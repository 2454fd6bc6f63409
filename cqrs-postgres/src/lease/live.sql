-- The leases whose names start with $1 (plain text, not a pattern) that are valid now.
SELECT name, holder, token FROM {schema}.leases
WHERE starts_with(name, $1) AND expires_at > clock_timestamp()
ORDER BY name COLLATE "C"
