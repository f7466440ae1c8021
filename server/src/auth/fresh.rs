//! Reads that concurrent requests share without ever reading older data. A request joins a read
//! of the same key that has not started yet, or queues one that starts when the read under way
//! ends; a read is closed to new requests at the moment it starts. So every request is answered
//! by a read that began after the request arrived (what it would have read alone, or newer),
//! and a burst of requests carrying one credential costs one statement per round instead of one
//! each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::{BoxFuture, FutureExt, Shared};
use ironworx_entity::queries::QueryError;

/// A read's failure, shared by every request that waited for it.
#[derive(Clone, Debug)]
pub struct SharedError(Arc<QueryError>);

impl std::fmt::Display for SharedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}

type Flight<V> = Shared<BoxFuture<'static, Result<V, SharedError>>>;

/// The reads of one key: the one under way, and the one waiting to start.
struct Slot<V: Clone> {
    running: Option<(u64, Flight<V>)>,
    waiting: Option<(u64, Flight<V>)>,
}

/// Shared reads by key (a credential's hash, a session id).
pub struct FreshReads<V: Clone> {
    slots: Mutex<HashMap<String, Slot<V>>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl<V: Clone> Default for FreshReads<V> {
    fn default() -> Self {
        FreshReads {
            slots: Mutex::new(HashMap::new()),
            next_id: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl<V: Clone + Send + Sync + 'static> FreshReads<V> {
    /// The value of `key` as read by a read that starts after this call: `load` runs, or a read
    /// of `key` that had not started when this call came is joined.
    pub async fn read<F>(self: &Arc<Self>, key: &str, load: F) -> Result<V, SharedError>
    where
        F: FnOnce() -> BoxFuture<'static, Result<V, QueryError>> + Send + 'static,
    {
        let flight = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            let slot = slots.entry(key.to_owned()).or_insert(Slot {
                running: None,
                waiting: None,
            });
            match &slot.waiting {
                Some((_, flight)) => flight.clone(),
                None => {
                    let id = self
                        .next_id
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let previous = slot.running.as_ref().map(|(_, f)| f.clone());
                    let this = Arc::clone(self);
                    let owned_key = key.to_owned();
                    let flight = async move {
                        if let Some(previous) = previous {
                            let _ = previous.await;
                        }
                        this.start(&owned_key, id);
                        let result = load().await.map_err(|e| SharedError(Arc::new(e)));
                        this.finish(&owned_key, id);
                        result
                    }
                    .boxed()
                    .shared();
                    slot.waiting = Some((id, flight.clone()));
                    flight
                }
            }
        };
        flight.await
    }

    /// The waiting read `id` of `key` starts: no request joins it any more.
    fn start(&self, key: &str, id: u64) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get_mut(key)
            && slot.waiting.as_ref().is_some_and(|(w, _)| *w == id)
        {
            slot.running = slot.waiting.take();
        }
    }

    /// The read `id` of `key` ended: forget the key when nothing else waits on it.
    fn finish(&self, key: &str, id: u64) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get_mut(key) {
            if slot.running.as_ref().is_some_and(|(r, _)| *r == id) {
                slot.running = None;
            }
            if slot.running.is_none() && slot.waiting.is_none() {
                slots.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::*;

    /// A request never gets a value read before it arrived, and a burst shares reads.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn reads_start_after_the_request_and_are_shared() {
        let reads: Arc<FreshReads<u64>> = Arc::default();
        let version = Arc::new(AtomicU64::new(0));
        let statements = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let reads = Arc::clone(&reads);
            let version = Arc::clone(&version);
            let statements = Arc::clone(&statements);
            tasks.push(tokio::spawn(async move {
                let mut seen = 0;
                for _ in 0..20 {
                    // A write that commits before the request arrives must be seen.
                    let committed = version.fetch_add(1, Ordering::SeqCst) + 1;
                    let v = Arc::clone(&version);
                    let s = Arc::clone(&statements);
                    let value = reads
                        .read("key", move || {
                            async move {
                                s.fetch_add(1, Ordering::SeqCst);
                                let value = v.load(Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(1)).await;
                                Ok(value)
                            }
                            .boxed()
                        })
                        .await
                        .expect("read");
                    assert!(
                        value >= committed,
                        "read {value}, {committed} was committed"
                    );
                    assert!(value >= seen);
                    seen = value;
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        let statements = statements.load(Ordering::SeqCst);
        assert!(
            statements < 64 * 20,
            "{statements} statements for 1280 reads"
        );
        assert!(reads.slots.lock().expect("lock").is_empty());
    }
}
