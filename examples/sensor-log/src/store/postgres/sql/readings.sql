-- A page of one sensor's readings, oldest first (keyset on ts: the primary key index).
-- $1 sensor, $2 from (inclusive) or NULL, $3 to (exclusive) or NULL,
-- $4 ts of the last reading of the previous page or NULL, $5 limit.
SELECT sensor_id, ts, temperature, cpu
FROM readings
WHERE sensor_id = $1
  AND ts >= COALESCE($2::timestamptz, '-infinity')
  AND ts <  COALESCE($3::timestamptz, 'infinity')
  AND ts >  COALESCE($4::timestamptz, '-infinity')
ORDER BY ts
LIMIT $5
