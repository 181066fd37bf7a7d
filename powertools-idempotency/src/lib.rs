//! Exactly-once AWS Lambda handlers over DynamoDB, interoperable with Powertools for Python.
//!
//! Lambda delivers events more than once. [`Idempotency::run`] (or the [`IdempotencyLayer`]
//! around a handler) claims a key made from the payload with one conditional write, runs the
//! handler once, records its response, and replays that response to every duplicate; a
//! concurrent duplicate is told the first is still in progress; a failed attempt is deleted so
//! that a retry runs again. Records are those of Powertools for Python (same attributes, same
//! hash), so a Rust function can take over a Python function's table.

#[cfg(feature = "dynamodb")]
mod dynamodb;
mod engine;
mod hash;
mod jmes;
mod layer;
mod memory;
mod record;

#[cfg(feature = "dynamodb")]
pub use dynamodb::{DynamoDbStore, DynamoDbStoreBuilder};
pub use engine::{ConfigError, Idempotency, IdempotencyBuilder, IdempotencyError};
pub use hash::{HashMode, js_dumps, python_dumps};
pub use layer::{IdempotencyLayer, IdempotencyService};
pub use memory::InMemoryStore;
pub use record::{BoxFuture, PutOutcome, Record, Status, Store, StoreError};
