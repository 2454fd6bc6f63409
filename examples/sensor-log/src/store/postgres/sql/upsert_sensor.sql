-- Creates or replaces a sensor's metadata. $1 id, $2 type, $3 location.
INSERT INTO sensors (id, type, location, updated_at)
VALUES ($1, $2, $3, now())
ON CONFLICT (id) DO UPDATE
SET type = EXCLUDED.type, location = EXCLUDED.location, updated_at = EXCLUDED.updated_at
