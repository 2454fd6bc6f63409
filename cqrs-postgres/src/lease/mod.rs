//! Leases in PostgreSQL ([`LeaseStore`] for [`PgEventStore`]): a `leases` table with a
//! holder, a fencing token and an expiry by the database's clock, so that replicas in
//! different processes (and on machines whose clocks differ) share them.
//!
//! Each call is one statement; see the `.sql` files beside this one for how each keeps
//! its guarantee under concurrency. A holder whose process dies simply stops renewing:
//! its lease expires after its `ttl` and a standby takes it with a greater token.

use std::time::Duration;

use async_trait::async_trait;
use cqrs_core::lease::{FencedWrite, Lease, LeaseStore, LiveLease};
use cqrs_core::StoreError;

use crate::error::map_sqlx;
use crate::store::PgEventStore;

fn millis(ttl: Duration) -> f64 {
    ttl.as_secs_f64() * 1000.0
}

fn token(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative lease token {value}")))
}

fn signed(token: u64) -> i64 {
    i64::try_from(token).unwrap_or(i64::MAX)
}

#[async_trait]
impl LeaseStore for PgEventStore {
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        // Idempotent on retry: the holder's own lease is renewed under its token.
        let granted: Option<i64> = self
            .reconnecting("acquire_lease", || async {
                sqlx::query_scalar(&self.statements().acquire_lease)
                    .bind(name)
                    .bind(holder)
                    .bind(millis(ttl))
                    .fetch_optional(self.pool())
                    .await
                    .map_err(|e| map_sqlx("acquire_lease", e))
            })
            .await?;
        granted
            .map(|t| {
                Ok(Lease {
                    name: name.into(),
                    holder: holder.into(),
                    token: token(t)?,
                    ttl,
                })
            })
            .transpose()
    }

    async fn renew(&self, lease: &Lease) -> Result<bool, StoreError> {
        let renewed: Option<i64> = self
            .reconnecting("renew_lease", || async {
                sqlx::query_scalar(&self.statements().renew_lease)
                    .bind(&*lease.name)
                    .bind(&*lease.holder)
                    .bind(signed(lease.token))
                    .bind(millis(lease.ttl))
                    .fetch_optional(self.pool())
                    .await
                    .map_err(|e| map_sqlx("renew_lease", e))
            })
            .await?;
        Ok(renewed.is_some())
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        self.reconnecting("release_lease", || async {
            sqlx::query(&self.statements().release_lease)
                .bind(&*lease.name)
                .bind(&*lease.holder)
                .bind(signed(lease.token))
                .execute(self.pool())
                .await
                .map_err(|e| map_sqlx("release_lease", e))
        })
        .await?;
        Ok(())
    }

    async fn live_leases(&self, prefix: &str) -> Result<Vec<LiveLease>, StoreError> {
        let rows: Vec<(String, String, i64)> = self
            .reconnecting("live_leases", || async {
                sqlx::query_as(&self.statements().live_leases)
                    .bind(prefix)
                    .fetch_all(self.pool())
                    .await
                    .map_err(|e| map_sqlx("live_leases", e))
            })
            .await?;
        rows.into_iter()
            .map(|(name, holder, t)| {
                Ok(LiveLease {
                    name: name.into(),
                    holder: holder.into(),
                    token: token(t)?,
                })
            })
            .collect()
    }

    async fn save_checkpoint_fenced(
        &self,
        checkpoint: &str,
        position: u64,
        lease: &Lease,
    ) -> Result<FencedWrite, StoreError> {
        // Idempotent on retry: GREATEST never moves the checkpoint back.
        let written: Option<i32> = self
            .reconnecting("save_checkpoint", || async {
                sqlx::query_scalar(&self.statements().fenced_checkpoint)
                    .bind(checkpoint)
                    .bind(signed(position))
                    .bind(&*lease.name)
                    .bind(&*lease.holder)
                    .bind(signed(lease.token))
                    .fetch_optional(self.pool())
                    .await
                    .map_err(|e| map_sqlx("save_checkpoint", e))
            })
            .await?;
        Ok(if written.is_some() {
            FencedWrite::Written
        } else {
            FencedWrite::Deposed
        })
    }
}
