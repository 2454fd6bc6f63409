//! A failed connect says why: the cause, not only that the pool timed out.

use std::error::Error;
use std::time::Duration;

use cqrs_postgres::{PgEventStore, PgEventStoreConfig, SetupError};

fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(" <- ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn a_refused_connection_is_reported_as_refused_not_as_a_bare_timeout() {
    // A port nothing listens on: the server refuses every connection at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/test");
    let config = PgEventStoreConfig::default().acquire_timeout(Duration::from_millis(300));
    let error = match PgEventStore::connect(&url, config).await {
        Err(error) => error,
        Ok(_) => panic!("nothing listens on port {port}"),
    };
    assert!(matches!(error, SetupError::Connect(_)), "{error:?}");
    let text = chain(&error);
    assert!(
        text.to_lowercase().contains("refused"),
        "the cause is named: {text}"
    );
}
