//! Why a record failed, and why a whole batch did.

use std::fmt;

use crate::envelope::ParseError;

/// Why one record failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Failure {
    /// The record does not carry what the handler takes; the handler was not called.
    Parse(ParseError),
    /// The handler returned an error.
    Handler(lambda_runtime::Error),
    /// The handler panicked (the panic's message).
    Panicked(String),
    /// Not processed: an earlier record that must come first (same FIFO queue or message group,
    /// same shard when ordering is required) failed.
    Skipped {
        /// The identifier of the record that failed first.
        after: String,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Parse(error) => write!(f, "{error}"),
            Self::Handler(error) => write!(f, "the handler failed: {error}"),
            Self::Panicked(message) => write!(f, "the handler panicked: {message}"),
            Self::Skipped { after } => {
                write!(f, "not processed: record {after} before it failed")
            }
        }
    }
}

/// One failed record: its identifier (SQS message id, Kinesis or DynamoDB Streams sequence
/// number) and why.
#[derive(Debug)]
#[non_exhaustive]
pub struct RecordFailure {
    /// The identifier reported in `batchItemFailures`; `None` when the record had none.
    pub id: Option<String>,
    /// Why it failed.
    pub failure: Failure,
}

impl fmt::Display for RecordFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.id.as_deref().unwrap_or("(no identifier)");
        write!(f, "{id}: {}", self.failure)
    }
}

/// The whole batch failed, and Lambda retries it all: returned instead of a partial response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// Every record failed: Powertools' rule in every language, so that a batch that made no
    /// progress (a downstream outage, a bad deployment) is retried as a whole and counted as a
    /// failed invocation.
    #[error("every record of the batch failed ({}); the first: {}", failures.len(), first(failures))]
    AllFailed {
        /// Every record's failure, in the batch's order.
        failures: Vec<RecordFailure>,
    },
    /// A record failed that has no identifier to report it by: reporting the others alone would
    /// delete it, so the whole batch is failed.
    #[error(
        "a failed record has no identifier to report it by, so the whole batch is failed; {}",
        first(failures)
    )]
    Unidentified {
        /// Every record's failure, in the batch's order.
        failures: Vec<RecordFailure>,
    },
}

impl BatchError {
    /// Every failed record, in the batch's order.
    pub fn failures(&self) -> &[RecordFailure] {
        match self {
            Self::AllFailed { failures } | Self::Unidentified { failures } => failures,
        }
    }
}

fn first(failures: &[RecordFailure]) -> String {
    failures
        .iter()
        .find(|f| !matches!(f.failure, Failure::Skipped { .. }))
        .or(failures.first())
        .map_or_else(String::new, ToString::to_string)
}

/// A [`crate::BatchProcessorBuilder`] setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `concurrency(0)`: no record would ever run.
    #[error("the batch concurrency must be at least 1 (use 1 to process records one by one)")]
    ZeroConcurrency,
}
