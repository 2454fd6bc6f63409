//! The in-memory store passes the whole store contract.

use cqrs_core::InMemoryEventStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_memory_store_passes_the_store_contract() {
    cqrs_core::testing::run_store_contract(|| async { InMemoryEventStore::new() }).await;
}

#[tokio::test]
async fn in_memory_leases_meet_the_lease_contract() {
    cqrs_core::testing::run_lease_contract(|| async { InMemoryEventStore::new() }).await;
}
