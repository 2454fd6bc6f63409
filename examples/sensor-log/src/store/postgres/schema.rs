//! Creating the tables at start-up and detecting TimescaleDB.

use sqlx::{PgPool, Row};

use super::bucket::BucketFunction;
use crate::store::StoreError;

/// A PostgreSQL schema name that needs no quoting: `[a-z][a-z0-9_]{0,62}`.
pub(super) fn valid_schema(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

/// Creates the schema and tables if missing (under an advisory lock, so concurrent
/// start-ups do not race), makes `readings` a hypertable when TimescaleDB is available,
/// and returns the bucket function to use.
pub(super) async fn migrate(pool: &PgPool, schema: &str) -> Result<BucketFunction, StoreError> {
    let failed = |operation: &str| {
        let operation = format!("{operation} (schema `{schema}`)");
        move |source| StoreError::from_driver(operation, source)
    };
    let detected = sqlx::query(include_str!("sql/detect.sql"))
        .fetch_one(pool)
        .await
        .map_err(failed("detecting the server's features"))?;
    let mut timescale: bool = detected.get("timescale_installed");
    let version: i32 = detected.get("version_num");
    if !timescale && detected.get::<bool, _>("timescale_available") {
        match sqlx::query("CREATE EXTENSION IF NOT EXISTS timescaledb")
            .execute(pool)
            .await
        {
            Ok(_) => timescale = true,
            Err(error) => {
                tracing::warn!(%error, "TimescaleDB is available but cannot be created; using plain tables")
            }
        }
    }

    let mut tx = pool
        .begin()
        .await
        .map_err(failed("starting the migration"))?;
    // The lock every migration of this schema takes (the event store's too).
    let name = cqrs_postgres::SchemaName::new(schema)
        .map_err(|e| sqlx::Error::Configuration(Box::new(e)))
        .map_err(failed("naming the schema"))?;
    cqrs_postgres::lock_schema_migrations(&mut tx, &name)
        .await
        .map_err(failed("locking the migration"))?;
    // `schema` is a validated identifier: no quoting or injection possible.
    sqlx::raw_sql(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}; SET LOCAL search_path TO {schema}, public;"
    ))
    .execute(&mut *tx)
    .await
    .map_err(failed("creating the schema"))?;
    sqlx::raw_sql(include_str!("sql/schema.sql"))
        .execute(&mut *tx)
        .await
        .map_err(failed("creating the tables"))?;
    if timescale {
        sqlx::query("SELECT create_hypertable('readings', 'ts', if_not_exists => TRUE, migrate_data => TRUE)")
            .execute(&mut *tx)
            .await
            .map_err(failed("making readings a hypertable"))?;
    }
    tx.commit()
        .await
        .map_err(failed("committing the migration"))?;
    let function = BucketFunction::choose(timescale, version);
    tracing::info!(schema, timescale, bucket_function = %function, "sensor-log tables ready");
    Ok(function)
}

#[cfg(test)]
mod tests {
    use super::valid_schema;

    #[test]
    fn schema_names_must_be_plain_identifiers() {
        assert!(valid_schema("sensor_log"));
        assert!(valid_schema("t_1a2b"));
        for bad in [
            "",
            "1abc",
            "Sensor",
            "a-b",
            "a;drop table x",
            "\"x\"",
            &"a".repeat(64),
        ] {
            assert!(!valid_schema(bad), "{bad}");
        }
    }
}
