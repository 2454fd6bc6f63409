//! Money in integer minor units, and the price tiers of the read model.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount in minor units (pence/cents). Never floating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cents(pub u64);

impl fmt::Display for Cents {
    /// Formats as major.minor, e.g. `Cents(500)` is `5.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// The price tier of an item, by unit price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Under 5.00.
    Cheap,
    /// From 5.00 to 50.00, both included.
    Affordable,
    /// Over 50.00.
    Expensive,
}

impl Tier {
    /// Every tier, cheapest first.
    pub const ALL: [Tier; 3] = [Tier::Cheap, Tier::Affordable, Tier::Expensive];

    /// The tier of a unit price. Exactly 5.00 and exactly 50.00 are affordable.
    ///
    /// ```
    /// use order::domain::{Cents, Tier};
    /// assert_eq!(Tier::of(Cents(499)), Tier::Cheap);
    /// assert_eq!(Tier::of(Cents(500)), Tier::Affordable);
    /// assert_eq!(Tier::of(Cents(5000)), Tier::Affordable);
    /// assert_eq!(Tier::of(Cents(5001)), Tier::Expensive);
    /// ```
    pub fn of(unit_price: Cents) -> Tier {
        match unit_price.0 {
            0..=499 => Tier::Cheap,
            500..=5000 => Tier::Affordable,
            _ => Tier::Expensive,
        }
    }

    /// The tier's name as used in queries.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Cheap => "cheap",
            Tier::Affordable => "affordable",
            Tier::Expensive => "expensive",
        }
    }
}

impl std::str::FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cheap" => Ok(Tier::Cheap),
            "affordable" => Ok(Tier::Affordable),
            "expensive" => Ok(Tier::Expensive),
            other => Err(format!(
                "unknown tier `{other}` (expected cheap, affordable or expensive)"
            )),
        }
    }
}
