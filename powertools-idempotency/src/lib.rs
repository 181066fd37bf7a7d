#![doc = include_str!("../README.md")]
// docs.rs (nightly, `--cfg docsrs`) marks each item with the features it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
#[cfg(feature = "dynamodb")]
mod dynamodb;
mod engine;
mod error;
mod hash;
#[cfg(feature = "http")]
mod http;
mod key;
mod layer;
mod memory;
mod record;
mod response;

pub use builder::IdempotencyBuilder;
#[cfg(feature = "dynamodb")]
pub use dynamodb::{DynamoDbStore, DynamoDbStoreBuilder};
pub use engine::{Execution, Idempotency};
pub use error::{IdempotencyConfigError, IdempotencyError, KeySelectionError};
pub use hash::{HashMode, js_dumps, python_dumps};
#[cfg(feature = "http")]
pub use http::HttpState;
pub use layer::{IdempotencyHook, IdempotencyLayer, IdempotencyService};
pub use memory::InMemoryStore;
pub use powertools_core::BoxFuture;
pub use record::{PutOutcome, Record, RecordFormat, Status, Store, StoreError};
