-- Per-bucket statistics of one sensor. {bucket} is replaced at start-up by the bucket
-- expression of the server (TimescaleDB time_bucket, date_bin, or epoch arithmetic), all
-- aligned on the Unix epoch; $4 is the bucket width in seconds.
-- $1 sensor, $2 from (inclusive) or NULL, $3 to (exclusive) or NULL, $5 most buckets.
SELECT {bucket} AS bucket_start,
       count(*)         AS count,
       avg(temperature) AS temperature_avg,
       min(temperature) AS temperature_min,
       max(temperature) AS temperature_max,
       avg(cpu)         AS cpu_avg,
       min(cpu)         AS cpu_min,
       max(cpu)         AS cpu_max
FROM readings
WHERE sensor_id = $1
  AND ts >= COALESCE($2::timestamptz, '-infinity')
  AND ts <  COALESCE($3::timestamptz, 'infinity')
GROUP BY 1
ORDER BY 1
LIMIT $5
