-- Every sensor's latest reading, and its averages over the window (of $1 seconds) ending
-- at that reading. One index probe per sensor, then a range scan of the window.
SELECT s.id AS sensor_id, l.ts, l.temperature, l.cpu,
       w.count, w.temperature_avg, w.cpu_avg
FROM sensors s
CROSS JOIN LATERAL (
    SELECT ts, temperature, cpu FROM readings r
    WHERE r.sensor_id = s.id
    ORDER BY ts DESC
    LIMIT 1
) l
CROSS JOIN LATERAL (
    SELECT count(*) AS count, avg(temperature) AS temperature_avg, avg(cpu) AS cpu_avg
    FROM readings r
    WHERE r.sensor_id = s.id
      AND r.ts > l.ts - make_interval(secs => $1::float8)
      AND r.ts <= l.ts
) w
ORDER BY s.id
