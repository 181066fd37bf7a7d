//! An in-memory store with the same semantics as the DynamoDB one (tests, local runs).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use powertools_core::BoxFuture;

use crate::record::{PutOutcome, Record, Store, StoreError};

/// Records in a process-local map. The claim is atomic (one lock), like DynamoDB's conditional
/// write; nothing survives the process.
///
/// ```
/// use std::sync::Arc;
///
/// use powertools_idempotency::{Idempotency, InMemoryStore};
/// use serde_json::json;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let store = Arc::new(InMemoryStore::new()); // a test keeps a handle to count requests
/// let idempotency = Idempotency::builder(Arc::clone(&store)).build()?;
/// idempotency.run(&json!({"n": 1}), || async { Ok::<_, String>(1) }).await?;
/// assert_eq!(store.requests(), 2); // claim, then complete
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct InMemoryStore {
    records: Mutex<HashMap<String, Record>>,
    requests: AtomicUsize,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many store calls were made (to compare with a DynamoDB request count).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Store for InMemoryStore {
    fn put_if_absent_or_expired<'a>(
        &'a self,
        record: &'a Record,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<PutOutcome, StoreError>> {
        Box::pin(async move {
            let mut records = self.records();
            match records.get(&record.key) {
                Some(existing) if !existing.claimable(now_ms) => {
                    Ok(PutOutcome::Exists(existing.clone()))
                }
                _ => {
                    records.insert(record.key.clone(), record.clone());
                    Ok(PutOutcome::Claimed)
                }
            }
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        Box::pin(async move { Ok(self.records().get(key).cloned()) })
    }

    fn update<'a>(&'a self, record: &'a Record) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.records().insert(record.key.clone(), record.clone());
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.records().remove(key);
            Ok(())
        })
    }
}
