//! Typed outcomes of commands that may legitimately change nothing.
//!
//! The command pipeline reports a command that decided no events as a success with no
//! events; these enums name what that success means, so callers never guess.

use serde::Serialize;

use super::ProductEvent;

/// What `ReserveStock` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReserveOutcome {
    /// `qty` units are now reserved for the order.
    Reserved {
        /// Units reserved.
        qty: u64,
    },
    /// The order already held exactly this reservation; nothing changed.
    AlreadyReserved {
        /// Units held.
        qty: u64,
    },
}

/// What `ReleaseReservation` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReleaseOutcome {
    /// The order's `qty` reserved units are available again.
    Released {
        /// Units released.
        qty: u64,
    },
    /// The product holds no reservation for the order (never reserved, already released or
    /// shipped, or an unknown product): nothing changed.
    NotReserved,
}

impl ReleaseOutcome {
    /// What a `ReleaseReservation` that decided `events` did.
    pub fn of(events: &[ProductEvent]) -> Self {
        match events.first() {
            Some(ProductEvent::ReservationReleased { qty, .. }) => {
                ReleaseOutcome::Released { qty: *qty }
            }
            _ => ReleaseOutcome::NotReserved,
        }
    }
}
