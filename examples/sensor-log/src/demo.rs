//! The scripted scenario of `sensor-log demo`: feeds sample device messages through the
//! ingest path, then prints what each query endpoint answers.

use std::fmt::Write;

use serde::Serialize;

use crate::cursor::ReadingsCursor;
use crate::ingest::{IngestError, Ingestor};
use crate::queries::SensorQueries;
use crate::span::Span;
use crate::store::{StoreError, TimeRange};

/// 2022-03-04T16:00:00Z, on a 30-minute boundary.
pub const START: i64 = 1_646_409_600;

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A sample message was not ingested as the script expects.
    #[error("ingest: {0}")]
    Ingest(#[from] IngestError),
    /// A query failed.
    #[error("query: {0}")]
    Store(#[from] StoreError),
    /// A result could not be printed.
    #[error("printing: {0}")]
    Print(#[from] serde_json::Error),
}

/// Sample messages: sensors 1 and 2 register, then report every minute for two hours,
/// sensor 3 reports without ever registering. Each message carries one minute of all
/// three sensors' readings, like a gateway batching its devices.
pub fn sample_messages() -> (Vec<String>, Vec<String>) {
    let sensors = vec![
        r#"{"id": 1, "type": "raspberry-pi-4", "location": "greenhouse"}"#.to_owned(),
        r#"{"id": 2, "type": "jetson-nano", "location": "server-room"}"#.to_owned(),
    ];
    let readings = (0..120)
        .map(|minute| {
            let ts = START + minute * 60;
            let items: Vec<String> = (1..=3)
                .map(|sensor| {
                    let temperature = 20.0 + f64::from(sensor as u8) * 5.0 + (minute % 10) as f64 / 2.0;
                    let cpu = ((minute * 7 + sensor * 13) % 100) as f64;
                    format!(r#"{{"ts": {ts}, "sensor_id": {sensor}, "temperature": {temperature}, "cpu": {cpu}}}"#)
                })
                .collect();
            format!("[{}]", items.join(","))
        })
        .collect();
    (sensors, readings)
}

/// Malformed messages the demo shows being refused, with what is wrong with each.
pub const MALFORMED: [&str; 4] = [
    r#"[{"ts": 1646409600, "sensor_id": 1, "temperature": 30}]"#,
    r#"[{"ts": 1646409600000, "sensor_id": 1, "temperature": 30, "cpu": 5}]"#,
    r#"[{"ts": 1646409600, "sensor_id": 1, "temperature": 30, "cpu": 140}]"#,
    r#"[{"ts": 1646409600, "sensor_id": "one", "temperature": 30, "cpu": 5}"#,
];

/// Runs the scenario and returns the printed report.
pub async fn run(ingestor: &Ingestor, queries: &SensorQueries) -> Result<String, DemoError> {
    let mut out = String::new();
    let (sensors, readings) = sample_messages();
    for message in &sensors {
        ingestor.sensor(message.as_bytes()).await?;
    }
    let mut stored = 0;
    for message in &readings {
        stored += ingestor.readings(message.as_bytes()).await?.stored;
    }
    let _ = writeln!(
        out,
        "ingested {} messages: {stored} readings stored",
        readings.len() + sensors.len()
    );

    let again = ingestor.readings(readings[0].as_bytes()).await?;
    let _ = writeln!(
        out,
        "redelivered the first message: {} readings received, {} stored (idempotent on sensor_id, ts)",
        again.received, again.stored
    );
    let _ = writeln!(
        out,
        "\nmalformed messages are refused (a dead-letter topic in services mode):"
    );
    for message in MALFORMED {
        match ingestor.readings(message.as_bytes()).await {
            Err(IngestError::Rejected(rejection)) => {
                let _ = writeln!(out, "  {message}\n    -> {rejection}");
            }
            other => {
                let _ = writeln!(out, "  {message}\n    -> unexpected: {other:?}");
            }
        }
    }

    section(
        &mut out,
        "GET /sensors?limit=10",
        &queries.sensors(None, 10).await?,
    )?;
    let range = TimeRange::default();
    let first = queries.readings(1, range, None, 3).await?;
    section(&mut out, "GET /sensors/1/readings?limit=3", &first)?;
    if let Some(cursor) = &first.next_cursor {
        let next = ReadingsCursor::decode(cursor, 1).ok();
        let second = queries.readings(1, range, next, 3).await?;
        section(
            &mut out,
            &format!("GET /sensors/1/readings?limit=3&cursor={cursor}"),
            &second,
        )?;
    }
    let stats = queries.stats(1, range, Span::THIRTY_MINUTES).await?;
    section(&mut out, "GET /sensors/1/stats?bucket=30m", &stats)?;
    let latest = queries.latest(Span::TEN_MINUTES).await?;
    section(&mut out, "GET /sensors/latest?window=10m", &latest)?;
    Ok(out)
}

fn section(out: &mut String, title: &str, value: &impl Serialize) -> Result<(), serde_json::Error> {
    let _ = writeln!(out, "\n{title}\n{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
