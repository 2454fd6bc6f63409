//! The stock queries the API asks, whichever store holds the read model.

use async_trait::async_trait;
use cqrs_core::BoxError;

use super::{StockLevel, StockLevels};

/// The read model could not answer (its database is unreachable).
#[derive(Debug, thiserror::Error)]
#[error("stock view unavailable during {operation}: {source}")]
pub struct ViewUnavailable {
    /// The query or update that failed.
    pub operation: &'static str,
    /// The driver's error.
    #[source]
    pub source: BoxError,
}

/// Queries of the stock read model: in memory ([`StockLevels`]) or in PostgreSQL
/// ([`PgStockLevels`](super::PgStockLevels)).
#[async_trait]
pub trait StockQueries: Send + Sync + 'static {
    /// The stock of `sku`, if the product is known.
    async fn stock_level(&self, sku: &str) -> Result<Option<StockLevel>, ViewUnavailable>;
    /// Every product, by sku.
    async fn stock_levels(&self) -> Result<Vec<StockLevel>, ViewUnavailable>;
    /// Products with fewer than `threshold` available units, fewest first, then by sku.
    async fn low_stock(&self, threshold: u64) -> Result<Vec<StockLevel>, ViewUnavailable>;
}

#[async_trait]
impl StockQueries for StockLevels {
    async fn stock_level(&self, sku: &str) -> Result<Option<StockLevel>, ViewUnavailable> {
        Ok(self.get(sku))
    }
    async fn stock_levels(&self) -> Result<Vec<StockLevel>, ViewUnavailable> {
        Ok(self.all())
    }
    async fn low_stock(&self, threshold: u64) -> Result<Vec<StockLevel>, ViewUnavailable> {
        Ok(StockLevels::low_stock(self, threshold))
    }
}
