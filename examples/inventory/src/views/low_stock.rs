//! The low-stock list: products ordered by available units, so "everything under a
//! threshold" is a range scan whatever the threshold.

use std::collections::BTreeSet;

/// `(available, sku)` pairs, kept in step with the stock levels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LowStockIndex {
    entries: BTreeSet<(u64, String)>,
}

impl LowStockIndex {
    /// Records that `sku` went from `before` (None: new product) to `after` available units.
    pub fn update(&mut self, sku: &str, before: Option<u64>, after: u64) {
        if let Some(before) = before {
            self.entries.remove(&(before, sku.to_owned()));
        }
        self.entries.insert((after, sku.to_owned()));
    }

    /// The skus with fewer than `threshold` available units, fewest first (then by sku).
    ///
    /// ```
    /// use inventory::views::LowStockIndex;
    /// let mut index = LowStockIndex::default();
    /// index.update("a", None, 3);
    /// index.update("b", None, 10);
    /// index.update("c", None, 0);
    /// assert_eq!(index.below(5), vec!["c", "a"]);
    /// assert!(index.below(0).is_empty());
    /// ```
    pub fn below(&self, threshold: u64) -> Vec<&str> {
        self.entries
            .range(..(threshold, String::new()))
            .map(|(_, sku)| sku.as_str())
            .collect()
    }
}
