//! The logger's own per-layer filter: its level, sampling and buffering decide what the
//! logger writes, never what other layers of the same subscriber see.

use std::sync::Arc;

use powertools_core::Invocation;
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata};
use tracing_subscriber::layer::{Context, Filter};

use crate::shared::Shared;
use crate::state::InvocationLog;

/// The logger's level, sampling and buffering decisions, as a per-layer filter: they decide
/// what the logger writes, never what other layers of the same subscriber see. Made by
/// [`Logger::tracing_layer`](crate::Logger::tracing_layer).
#[derive(Clone)]
pub struct LogFilter {
    shared: Arc<Shared>,
}

impl LogFilter {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl std::fmt::Debug for LogFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogFilter")
            .field("level", &self.shared.level)
            .finish_non_exhaustive()
    }
}

impl LogFilter {
    /// Whether events at `level` may be written (or buffered) in some invocation, i.e. whether
    /// fields of spans at `level` may ever appear in a line.
    fn may_want(&self, level: Level) -> bool {
        let shared = &self.shared;
        level <= shared.level
            || (shared.sample_rate > 0.0 && level <= Level::DEBUG)
            || shared.buffer.as_ref().is_some_and(|b| level >= b.level())
    }

    /// The per-invocation part of `enabled`: sampling and buffering. A span opened in a sampled
    /// (or buffering) invocation lends its fields to that invocation's lines.
    fn wanted_now(&self, level: Level) -> bool {
        let shared = &self.shared;
        Invocation::with_current(|invocation| {
            if shared.buffer.as_ref().is_some_and(|b| level >= b.level()) {
                return true;
            }
            level <= Level::DEBUG
                && shared.sample_rate > 0.0
                && InvocationLog::of(invocation).sampled(shared.sample_rate)
        })
        .unwrap_or(false)
    }
}

impl<S> Filter<S> for LogFilter {
    // Spans and events alike: a span below what the logger could write in any invocation lends
    // no fields to its lines, so the logger does not keep them (the SDK's, hyper's and h2's
    // TRACE and DEBUG spans cost it nothing). This filter is the logger's own: other layers
    // still decide for themselves whether a span exists.
    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        let level = *metadata.level();
        if level <= self.shared.level {
            Interest::always()
        } else if self.may_want(level) {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _ctx: &Context<'_, S>) -> bool {
        let level = *metadata.level();
        level <= self.shared.level || (self.may_want(level) && self.wanted_now(level))
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let shared = &self.shared;
        let mut hint = shared.level;
        if shared.sample_rate > 0.0 {
            hint = hint.max(LevelFilter::DEBUG);
        }
        if let Some(buffer) = &shared.buffer {
            hint = hint.max(LevelFilter::from_level(buffer.level()));
        }
        Some(hint)
    }
}
