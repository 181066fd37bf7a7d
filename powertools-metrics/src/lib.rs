#![doc = include_str!("../README.md")]
// docs.rs (nightly, `--cfg docsrs`) marks each item with the features it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod emf;
mod error;
mod layer;
mod metrics;
mod output;
mod recorder;
mod state;
mod unit;
mod validate;

pub use builder::MetricsBuilder;
pub use error::MetricsError;
pub use layer::{MetricsHook, MetricsLayer, MetricsLayerError, MetricsService};
pub use metrics::{Metrics, REPLAY_METRIC};
pub use recorder::{MAX_CACHED_HANDLES, MetricsRecorder};
pub use unit::{Resolution, Unit};
