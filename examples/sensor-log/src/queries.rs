//! The query side: pages, statistics and latest values, over any [`SensorStore`].

use std::sync::Arc;

use serde::Serialize;

use crate::cursor::{ReadingsCursor, SensorsCursor};
use crate::device::SensorInfo;
use crate::reading::{Reading, SensorId};
use crate::span::Span;
use crate::store::{BucketStats, LatestReading, SensorStore, StoreError, TimeRange};

/// Most buckets one stats query returns.
pub const MAX_BUCKETS: usize = 10_000;

/// One page of results and the cursor of the next, `None` on the last page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// The items, in key order.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page.
    pub next_cursor: Option<String>,
}

/// Statistics of one sensor per time bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SensorStats {
    /// The sensor.
    pub sensor_id: SensorId,
    /// Bucket width, e.g. `30m`.
    pub bucket: String,
    /// Non-empty buckets, oldest first.
    pub buckets: Vec<BucketStats>,
    /// True when more than [`MAX_BUCKETS`] buckets matched and the later ones were left out.
    pub truncated: bool,
}

/// Answers the API's questions from a store.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::sync::Arc;
/// use sensor_log::{queries::SensorQueries, store::MemoryStore};
/// let queries = SensorQueries::new(Arc::new(MemoryStore::default()));
/// let page = queries.sensors(None, 10).await.unwrap();
/// assert!(page.items.is_empty() && page.next_cursor.is_none());
/// # }
/// ```
#[derive(Clone)]
pub struct SensorQueries {
    store: Arc<dyn SensorStore>,
}

impl SensorQueries {
    /// Queries over `store`.
    pub fn new(store: Arc<dyn SensorStore>) -> Self {
        Self { store }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn SensorStore> {
        &self.store
    }

    /// A page of at most `limit` sensors (by id), after `cursor`.
    pub async fn sensors(
        &self,
        cursor: Option<SensorsCursor>,
        limit: usize,
    ) -> Result<Page<SensorInfo>, StoreError> {
        let rows = self
            .store
            .sensors(cursor.map(|c| c.after), limit + 1)
            .await?;
        Ok(page(rows, limit, |last| {
            SensorsCursor { after: last.id }.encode()
        }))
    }

    /// A page of at most `limit` readings of `sensor` in `range` (oldest first), after
    /// `cursor`.
    pub async fn readings(
        &self,
        sensor: SensorId,
        range: TimeRange,
        cursor: Option<ReadingsCursor>,
        limit: usize,
    ) -> Result<Page<Reading>, StoreError> {
        let rows = self
            .store
            .readings(sensor, range, cursor.map(|c| c.after), limit + 1)
            .await?;
        Ok(page(rows, limit, |last| {
            ReadingsCursor {
                sensor_id: sensor,
                after: last.ts,
            }
            .encode()
        }))
    }

    /// Average, min and max of temperature and cpu of `sensor` per `bucket` in `range`.
    pub async fn stats(
        &self,
        sensor: SensorId,
        range: TimeRange,
        bucket: Span,
    ) -> Result<SensorStats, StoreError> {
        let mut buckets = self
            .store
            .stats(sensor, range, bucket, MAX_BUCKETS + 1)
            .await?;
        let truncated = buckets.len() > MAX_BUCKETS;
        buckets.truncate(MAX_BUCKETS);
        Ok(SensorStats {
            sensor_id: sensor,
            bucket: bucket.to_string(),
            buckets,
            truncated,
        })
    }

    /// Every sensor's latest reading with its averages over `window`.
    pub async fn latest(&self, window: Span) -> Result<Vec<LatestReading>, StoreError> {
        self.store.latest(window).await
    }
}

/// The first `limit` of `rows` (fetched with one extra to learn whether more follow).
fn page<T>(mut rows: Vec<T>, limit: usize, cursor_of: impl Fn(&T) -> String) -> Page<T> {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more {
        rows.last().map(cursor_of)
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}
