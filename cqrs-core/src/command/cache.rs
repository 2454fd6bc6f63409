//! An optional in-process cache of aggregate states.
//!
//! A cached state lets a command skip the load round trip. It is safe because the append
//! still checks the cached version: if another writer moved the stream, the append
//! conflicts, the entry is dropped and the command retries from a fresh load.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// States and versions by stream id, bounded in size.
pub(crate) trait StateCache<A>: Send + Sync {
    fn get(&self, stream_id: &str) -> Option<(A, u64)>;
    fn put(&self, stream_id: &str, state: &A, version: u64);
    fn remove(&self, stream_id: &str);
}

/// A bounded map; when full, an arbitrary quarter of the entries is evicted.
pub(crate) struct BoundedCache<A> {
    capacity: usize,
    entries: Mutex<HashMap<String, (A, u64)>>,
}

impl<A> BoundedCache<A> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<A: Clone + Send + Sync> StateCache<A> for BoundedCache<A> {
    fn get(&self, stream_id: &str) -> Option<(A, u64)> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(stream_id).cloned()
    }

    fn put(&self, stream_id: &str, state: &A, version: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(stream_id) {
            let evict: Vec<String> = entries
                .keys()
                .take(self.capacity.div_ceil(4))
                .cloned()
                .collect();
            for key in evict {
                entries.remove(&key);
            }
        }
        match entries.get_mut(stream_id) {
            // Never replace a newer state with an older one (racing commands).
            Some(existing) if existing.1 > version => {}
            Some(existing) => *existing = (state.clone(), version),
            None => {
                entries.insert(stream_id.to_owned(), (state.clone(), version));
            }
        }
    }

    fn remove(&self, stream_id: &str) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(stream_id);
    }
}
