//! The layout of a position in the global log: `(transaction id << 20) | index`, where
//! `index` is the event's index within its transaction (see `store/append/append.sql` for
//! why this makes the log gap-free, and `migrate/positions.sql` for the check that keeps
//! it so after a restore).

/// Positions keep the index of an event within its transaction in their low 20 bits.
pub(crate) const INDEX_BITS: u32 = 20;

/// Most events one transaction can append (2^20).
pub(crate) const MAX_EVENTS_PER_TRANSACTION: usize = 1 << INDEX_BITS;
