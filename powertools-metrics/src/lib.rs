#![doc = include_str!("../README.md")]

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
