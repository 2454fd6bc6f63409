//! The query side the HTTP API reads: in memory (embedded) or in a database (services).

use async_trait::async_trait;

use super::{PriceTiers, TierGroup};
use crate::domain::Tier;

/// Reading the view failed (the database is unreachable, ...).
#[derive(Debug, thiserror::Error)]
#[error("read model unavailable: {0}")]
pub struct QueryError(pub String);

/// Reads the "ordered items by tier" view.
#[async_trait]
pub trait TierQueries: Send + Sync + 'static {
    /// A customer's items grouped by tier, optionally one tier only.
    async fn items(
        &self,
        customer_id: &str,
        tier: Option<Tier>,
    ) -> Result<Vec<TierGroup>, QueryError>;
}

#[async_trait]
impl TierQueries for PriceTiers {
    async fn items(
        &self,
        customer_id: &str,
        tier: Option<Tier>,
    ) -> Result<Vec<TierGroup>, QueryError> {
        Ok(PriceTiers::items(self, customer_id, tier))
    }
}
