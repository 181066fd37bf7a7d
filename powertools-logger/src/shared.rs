//! What a built logger is: its resolved configuration and process-wide keys, shared by the
//! handle, the `tracing` layer, its filter and the invocation hook.

use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use powertools_core::{Clock, FunctionConfig, LineWriter};
use serde_json::Value;
use tracing::level_filters::LevelFilter;

use crate::buffer::BufferConfig;
use crate::correlation::Compiled;
use crate::keys::KeyNames;
use crate::redaction::Redaction;

/// The hook that may change every line before it is written.
pub(crate) type Formatter = dyn Fn(&mut crate::LogLine) + Send + Sync;

pub(crate) struct Shared {
    /// The function configuration, carrying the service name as `CommonConfig` resolved it.
    pub(crate) config: FunctionConfig,
    pub(crate) clock: Clock,
    pub(crate) level: LevelFilter,
    pub(crate) sample_rate: f64,
    pub(crate) log_event: bool,
    pub(crate) buffer: Option<BufferConfig>,
    pub(crate) redaction: Redaction,
    pub(crate) names: KeyNames,
    pub(crate) formatter: Option<Arc<Formatter>>,
    pub(crate) pretty: bool,
    pub(crate) correlation: Option<Compiled>,
    /// The header an HTTP request's correlation id is taken from first.
    #[cfg(feature = "http")]
    pub(crate) correlation_header: Option<http::HeaderName>,
    /// Whether the HTTP request line has the body.
    #[cfg(feature = "http")]
    pub(crate) log_http_body: bool,
    pub(crate) persistent: RwLock<Vec<(String, Value)>>,
    pub(crate) writer: LineWriter,
    /// The standard values `config` fixes for the process, written as JSON once.
    pub(crate) process_values: crate::render::ProcessValues,
}

impl Shared {
    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }

    pub(crate) fn service_name(&self) -> &str {
        self.config.service_name()
    }

    pub(crate) fn function_config(&self) -> &FunctionConfig {
        &self.config
    }

    /// Writes one finished line. A failure never reaches the caller: the writer reports its
    /// first one on stderr.
    pub(crate) fn write(&self, line: &[u8]) {
        let _ = self.writer.write_line(line);
    }
}
