//! The cqrs-core store contract suite against PostgreSQL, each case in a fresh schema, with
//! append coalescing (the default) and without, then the lease contract.

mod support;

use cqrs_postgres::{CoalescingConfig, PgEventStoreConfig};

/// Both configurations in one test, one after the other: contract cases read the whole log
/// through the gap-safe reader right after appending, which a suite appending in parallel
/// on the same cluster would hold back (its open transactions keep the bound below).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_passes_the_store_and_lease_contracts() {
    let Some(db) = support::database().await else {
        return;
    };
    cqrs_core::testing::run_store_contract(|| db.store()).await;
    cqrs_core::testing::run_store_contract(|| {
        db.store_with(
            PgEventStoreConfig::new(db.fresh_schema()).coalescing(CoalescingConfig::disabled()),
        )
    })
    .await;
    // Leases by the database's clock: exclusive, expiring, fenced (cqrs_core::lease).
    cqrs_core::testing::run_lease_contract(|| db.store()).await;
    db.cleanup().await;
}
