-- A page of sensors by id (keyset: $1 = last id of the previous page, or 0). $2 limit.
SELECT id, type, location
FROM sensors
WHERE id > $1
ORDER BY id
LIMIT $2
