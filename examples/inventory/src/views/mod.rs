//! Read models: stock level per sku and the low-stock list, in memory (embedded mode) or
//! in PostgreSQL (services mode), behind [`StockQueries`].

mod low_stock;
mod pg_stock_levels;
mod queries;
mod stock_levels;

pub use low_stock::LowStockIndex;
pub use pg_stock_levels::{PgStockLevels, PgViewError};
pub use queries::{StockQueries, ViewUnavailable};
pub use stock_levels::{StockLevel, StockLevelProjection, StockLevels};
