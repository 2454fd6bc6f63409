//! TLS for real, against the TLS-only cluster `scripts/start-postgres-tls.sh` creates
//! (`scripts/test.sh` exports `PG_TLS_URL`, `PG_TLS_CA` and `PG_TLS_WRONG_CA`): `verify-full`
//! with the right CA connects over TLS and the store works; an unrelated CA and a
//! connection without TLS are refused. Without `PG_TLS_URL` the tests print one SKIPPED
//! line, and fail under `CI=true`.

use cqrs_core::{EventStore, ExpectedVersion, JsonPayload, Metadata, NewEvent, StoreError};
use cqrs_postgres::sqlx;
use cqrs_postgres::{PgEventStore, PgEventStoreConfig, SchemaName, SetupError};

struct TlsCluster {
    url: String,
    ca: String,
    wrong_ca: String,
}

fn cluster() -> Option<TlsCluster> {
    let (Ok(url), Ok(ca)) = (std::env::var("PG_TLS_URL"), std::env::var("PG_TLS_CA")) else {
        cqrs_core::testing::skip_or_fail(
            "cqrs-postgres TLS",
            "PG_TLS_URL/PG_TLS_CA not set (run scripts/start-postgres-tls.sh, or scripts/test.sh)",
        );
        return None;
    };
    let wrong_ca = std::env::var("PG_TLS_WRONG_CA").unwrap_or_else(|_| {
        std::path::Path::new(&ca)
            .with_file_name("wrong-ca.crt")
            .display()
            .to_string()
    });
    Some(TlsCluster { url, ca, wrong_ca })
}

fn with_params(url: &str, params: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{params}")
}

fn config() -> PgEventStoreConfig {
    let id = uuid::Uuid::new_v4().simple().to_string();
    PgEventStoreConfig::new(SchemaName::new(format!("tls_{}", &id[..20])).expect("schema"))
}

/// The driver error under a connect failure.
fn driver_error(error: &SetupError) -> &sqlx::Error {
    let SetupError::Connect(store_error) = error else {
        panic!("not a connect error: {error:?}");
    };
    let source = match store_error {
        StoreError::Unavailable { source, .. }
        | StoreError::Backend { source, .. }
        | StoreError::Refused { source, .. } => source,
        other => panic!("unexpected store error: {other:?}"),
    };
    source
        .downcast_ref::<sqlx::Error>()
        .unwrap_or_else(|| panic!("not a sqlx error: {source:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_with_the_servers_ca_connects_over_tls_and_the_store_works() {
    let Some(cluster) = cluster() else {
        return;
    };
    let url = with_params(
        &cluster.url,
        &format!("sslmode=verify-full&sslrootcert={}", cluster.ca),
    );
    let store = PgEventStore::connect(&url, config())
        .await
        .expect("connect with verify-full");
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(store.pool())
        .await
        .expect("pg_stat_ssl");
    assert!(ssl, "the connection is encrypted");

    store.migrate().await.expect("migrate over TLS");
    let event = NewEvent::raw(
        "Opened",
        1,
        JsonPayload::parse(r#"{"owner":"ada"}"#).expect("json"),
    );
    let appended = store
        .append(
            "Tls-1",
            ExpectedVersion::NoStream,
            vec![event],
            &Metadata::default(),
        )
        .await
        .expect("append over TLS");
    let read = store.read_stream("Tls-1", 1).await.expect("read over TLS");
    assert_eq!(read, appended.events);

    let drop_schema = format!("DROP SCHEMA {} CASCADE", store.config().schema.quoted());
    sqlx::query(&drop_schema)
        .execute(store.pool())
        .await
        .expect("drop the test schema");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_with_an_unrelated_ca_is_refused_with_a_tls_error() {
    let Some(cluster) = cluster() else {
        return;
    };
    let url = with_params(
        &cluster.url,
        &format!("sslmode=verify-full&sslrootcert={}", cluster.wrong_ca),
    );
    let error = PgEventStore::connect(&url, config())
        .await
        .expect_err("the server's certificate is not signed by that CA");
    assert!(
        matches!(&error, SetupError::Connect(StoreError::Unavailable { .. })),
        "{error:?}"
    );
    // sqlx reports rustls' verdict either as a TLS error or as the I/O error of the
    // handshake that carries it (`invalid peer certificate: UnknownIssuer`).
    let refused_certificate = match driver_error(&error) {
        sqlx::Error::Tls(tls) => tls.to_string().contains("certificate"),
        sqlx::Error::Io(io) => io
            .get_ref()
            .is_some_and(|inner| inner.to_string().contains("invalid peer certificate")),
        _ => false,
    };
    assert!(refused_certificate, "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_without_tls_is_refused_by_the_tls_only_cluster() {
    let Some(cluster) = cluster() else {
        return;
    };
    let url = with_params(&cluster.url, "sslmode=disable");
    let error = PgEventStore::connect(&url, config())
        .await
        .expect_err("no pg_hba.conf entry without encryption");
    match driver_error(&error) {
        // invalid_authorization_specification: "no pg_hba.conf entry ... no encryption".
        sqlx::Error::Database(db) => assert_eq!(db.code().as_deref(), Some("28000")),
        other => panic!("unexpected driver error: {other:?}"),
    }
}
