//! The idempotency record and the store trait every backend implements.

use std::sync::Arc;

use powertools_core::BoxFuture;

/// Where a record stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The handler is running (or died while running).
    InProgress,
    /// The handler finished; `data` holds its response.
    Completed,
}

impl Status {
    /// The stored spelling: `INPROGRESS` or `COMPLETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "INPROGRESS",
            Self::Completed => "COMPLETED",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "INPROGRESS" => Some(Self::InProgress),
            "COMPLETED" => Some(Self::Completed),
            _ => None,
        }
    }
}

/// How a completed record holds its response (`data`) in the store.
///
/// Reading accepts both: a string attribute is read in the engine's own format (JSON text for
/// Python, the response string itself for TypeScript, as each family reads it), any other
/// attribute type as a native value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RecordFormat {
    /// The response's JSON text in a string attribute, compressed (`gzip+base64:`) when it is
    /// large: Powertools for Python's form, and the default.
    #[default]
    Python,
    /// The response as native values (DynamoDB `M`, `L`, `N`, `S`, `BOOL`, `NULL`), as
    /// Powertools for TypeScript writes it with `marshall`; never compressed.
    TypeScript,
}

/// One idempotency record, as stored (§4 of the wire formats).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `<prefix>#<hash>`.
    pub key: String,
    /// In progress or completed (expired is derived from the clock, never stored).
    pub status: Status,
    /// Epoch **seconds** after which the record is void.
    pub expiration: u64,
    /// Epoch **milliseconds**: the deadline of the invocation that claimed it.
    pub in_progress_expiration: Option<u64>,
    /// The response (completed records): its JSON text, or in [`RecordFormat::Python`] its
    /// stored text (which may be compressed).
    pub data: Option<String>,
    /// How `data` is held in the store: a store that has native values writes
    /// [`RecordFormat::TypeScript`] data as such, and says which form it read.
    pub format: RecordFormat,
    /// The hash of the validated part of the payload, when payload validation is on.
    pub validation: Option<String>,
}

impl Record {
    /// The whole epoch second `now_ms` falls in: what `expiration` is compared with, here and
    /// in a store's condition (DynamoDB's `#expiry < :now`), so both always agree.
    pub fn epoch_seconds(now_ms: u64) -> u64 {
        now_ms / 1_000
    }

    /// Whether the record is void at `now_ms`: `expiration < now` in whole epoch seconds (as
    /// DynamoDB's condition and Powertools for Python compare), so a record is live through the
    /// last millisecond of its expiration second.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expiration < Self::epoch_seconds(now_ms)
    }

    /// Whether an in-progress claim still holds at `now_ms`.
    pub fn in_progress_holds(&self, now_ms: u64) -> bool {
        self.status == Status::InProgress
            && self
                .in_progress_expiration
                .is_none_or(|deadline| deadline >= now_ms)
    }

    /// Whether a new claim may replace this record at `now_ms` (the put condition).
    pub fn claimable(&self, now_ms: u64) -> bool {
        self.is_expired(now_ms)
            || (self.status == Status::InProgress
                && self
                    .in_progress_expiration
                    .is_some_and(|deadline| deadline < now_ms))
    }
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// The record was written: this invocation owns the key.
    Claimed,
    /// Another record holds the key (returned with the refusal, no extra read).
    Exists(Record),
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend refused the request (throttling, access denied, unreachable, ...).
    #[error("idempotency store request failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store did not answer before the invocation's deadline (less a margin), after the
    /// handler ran: the call was abandoned so that the handler's outcome still reaches its
    /// caller.
    #[error(
        "idempotency store did not answer within {after:?}, the time left before the invocation's deadline"
    )]
    TimedOut {
        /// How long the call was given.
        after: std::time::Duration,
    },
    /// A stored item could not be read as a record.
    #[error("idempotency record {key:?} is malformed: {reason}")]
    Malformed {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// The four primitives a persistence store provides. Implementations must make
/// `put_if_absent_or_expired` atomic: of two concurrent claims, exactly one gets `Claimed`.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Writes `record` unless a live record holds its key (absent, expired, or in progress past
    /// its deadline may be replaced); otherwise returns the existing record.
    fn put_if_absent_or_expired<'a>(
        &'a self,
        record: &'a Record,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<PutOutcome, StoreError>>;
    /// Reads a record (strongly consistent).
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Record>, StoreError>>;
    /// Replaces a record (completion).
    fn update<'a>(&'a self, record: &'a Record) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Deletes a record (after a handler error, so a retry runs again).
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// `impl Store for $pointer<S>`, forwarding every call to the store pointed to.
macro_rules! forward_store {
    ($(#[$doc:meta])* $pointer:ident) => {
        $(#[$doc])*
        impl<S: Store + ?Sized> Store for $pointer<S> {
            fn put_if_absent_or_expired<'a>(
                &'a self,
                record: &'a Record,
                now_ms: u64,
            ) -> BoxFuture<'a, Result<PutOutcome, StoreError>> {
                (**self).put_if_absent_or_expired(record, now_ms)
            }
            fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
                (**self).get(key)
            }
            fn update<'a>(&'a self, record: &'a Record) -> BoxFuture<'a, Result<(), StoreError>> {
                (**self).update(record)
            }
            fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
                (**self).delete(key)
            }
        }
    };
}

forward_store!(
    /// A shared store is a store (a test keeping a handle to count requests, one store shared
    /// by several engines).
    Arc
);
forward_store!(
    /// A boxed store is a store (a `Box<dyn Store>` chosen at run time).
    Box
);
