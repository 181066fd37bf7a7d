//! The library's own warnings: a misconfiguration, a value left out, a backend that failed and
//! was worked around. One path for every utility, so they reach the function's logs the same way.

use std::fmt;
use std::io::Write as _;

/// The `tracing` target of the library's warnings.
pub const WARNING_TARGET: &str = "powertools";

/// Reports a warning of the library itself. When a `tracing` subscriber is in place (the
/// global one, or one set for the current thread), it is a `WARN` event with target
/// [`WARNING_TARGET`] (`powertools`): the logger writes it as a JSON line with the
/// invocation's request id, correlation id and cold start, and its level filter applies.
/// Without a subscriber (during INIT, before one is installed, or in a function that uses
/// none) it goes to stderr, prefixed `[powertools] `. Never panics, even when stderr is closed.
///
/// ```
/// powertools_core::warn(format_args!("the cache is full: {} entries kept", 10_000));
/// ```
pub fn warn(message: fmt::Arguments<'_>) {
    let subscribed = tracing::dispatcher::get_default(|dispatch| {
        !dispatch.is::<tracing::subscriber::NoSubscriber>()
    });
    if subscribed {
        tracing::warn!(target: "powertools", "{message}");
    } else {
        let _ = writeln!(std::io::stderr(), "[powertools] {message}");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::{Event, Metadata, Subscriber, span};

    /// Records the target, level and message of every event.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<(String, tracing::Level, String)>>>);

    struct Message(String);

    impl Visit for Message {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }

    impl Subscriber for Recorder {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
            span::Id::from_u64(1)
        }
        fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
        fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut message = Message(String::new());
            event.record(&mut message);
            self.0.lock().unwrap().push((
                event.metadata().target().to_owned(),
                *event.metadata().level(),
                message.0,
            ));
        }
        fn enter(&self, _: &span::Id) {}
        fn exit(&self, _: &span::Id) {}
    }

    #[test]
    fn with_a_subscriber_a_warning_is_a_warn_event_of_target_powertools() {
        let recorder = Recorder::default();
        tracing::subscriber::with_default(recorder.clone(), || {
            super::warn(format_args!("cache full: {} kept", 3));
        });
        let events = recorder.0.lock().unwrap().clone();
        assert_eq!(
            events,
            [(
                "powertools".to_owned(),
                tracing::Level::WARN,
                "cache full: 3 kept".to_owned()
            )]
        );
    }
}
