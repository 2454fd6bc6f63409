-- Tables of the sensor-log example, created in the configured schema (search_path).
-- Idempotent: run at every start-up.

-- Every sensor seen, from its metadata or from its first reading (type and location
-- then stay NULL until the metadata arrives).
CREATE TABLE IF NOT EXISTS sensors (
    id         bigint PRIMARY KEY CHECK (id > 0),
    type       text,
    location   text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The time series. The primary key makes inserts idempotent on (sensor_id, ts) and
-- serves every query (one sensor, a time range). No foreign key: readings of sensors
-- without metadata are stored.
CREATE TABLE IF NOT EXISTS readings (
    sensor_id   bigint           NOT NULL,
    ts          timestamptz      NOT NULL,
    temperature double precision NOT NULL,
    cpu         double precision NOT NULL,
    PRIMARY KEY (sensor_id, ts)
);
