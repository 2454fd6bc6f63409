//! The cqrs-core store contract suite against PostgreSQL, each case in a fresh schema.

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_passes_the_store_contract() {
    let Some(db) = support::database().await else {
        return;
    };
    cqrs_core::testing::run_store_contract(|| db.store()).await;
    db.cleanup().await;
}
