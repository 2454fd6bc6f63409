//! Read models: stock level per sku and the low-stock list.

mod low_stock;
mod stock_levels;

pub use low_stock::LowStockIndex;
pub use stock_levels::{StockLevel, StockLevelProjection, StockLevels};
