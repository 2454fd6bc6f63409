//! Read models of the order example.

mod pg_price_tiers;
mod price_tiers;
mod queries;

pub use pg_price_tiers::{PgPriceTiers, PgViewError};
pub use price_tiers::{PriceTierProjection, PriceTiers, TierGroup, TierItem};
pub use queries::{QueryError, TierQueries};
