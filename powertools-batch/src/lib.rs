#![doc = include_str!("../README.md")]
// docs.rs (nightly, `--cfg docsrs`) marks each item with the features it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod envelope;
mod error;
mod processor;
mod service;

pub use envelope::{
    Change, Decode, EventBridge, FromRecord, Json, NewImage, OldImage, ParseError, Sns,
};
pub use error::{BatchError, ConfigError, Failure, RecordFailure};
pub use processor::{BatchProcessor, BatchProcessorBuilder, DEFAULT_CONCURRENCY, RECORD_SPAN};
pub use service::{dynamodb_handler, kinesis_handler, sqs_handler};
