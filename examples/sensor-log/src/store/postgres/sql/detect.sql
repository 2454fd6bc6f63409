-- What the server offers: the TimescaleDB extension (installed in this database, or
-- available to install) and the server version (date_bin needs 14+).
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')           AS timescale_installed,
       EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')   AS timescale_available,
       current_setting('server_version_num')::int                                   AS version_num
