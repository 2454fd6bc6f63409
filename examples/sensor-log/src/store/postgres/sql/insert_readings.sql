-- Stores a batch of readings in one statement, idempotently.
-- $1 sensor ids, $2 timestamps, $3 temperatures, $4 cpu loads: parallel arrays, sorted by
-- (sensor_id, ts) so concurrent batches take row locks in the same order.
-- Unknown sensors are registered without metadata in the same statement (and so the
-- same transaction). The row count is the number of readings newly stored.
WITH batch AS (
    SELECT * FROM UNNEST($1::bigint[], $2::timestamptz[], $3::float8[], $4::float8[])
        AS b (sensor_id, ts, temperature, cpu)
), registered AS (
    INSERT INTO sensors (id)
    SELECT DISTINCT sensor_id FROM batch ORDER BY sensor_id
    ON CONFLICT (id) DO NOTHING
)
INSERT INTO readings (sensor_id, ts, temperature, cpu)
SELECT sensor_id, ts, temperature, cpu FROM batch
ON CONFLICT (sensor_id, ts) DO NOTHING
