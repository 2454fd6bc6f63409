//! Read models of the order example.

mod price_tiers;

pub use price_tiers::{PriceTierProjection, PriceTiers, TierGroup, TierItem};
