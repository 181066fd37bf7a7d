//! A clock tests set by hand, and other small helpers tests of Lambda code share.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use powertools_core::{Clock, Env, epoch_millis, random_u64};

/// A clock that stands still until the test moves it; give [`ManualClock::clock`] to any
/// utility builder's `clock(..)`. Clones share the same time.
///
/// ```
/// use powertools_testing::ManualClock;
/// use std::time::Duration;
///
/// let manual = ManualClock::at_epoch_millis(1_700_000_000_000);
/// let clock = manual.clock();
/// assert_eq!(clock.epoch_millis(), 1_700_000_000_000);
/// manual.advance(Duration::from_secs(2));
/// assert_eq!(clock.epoch_millis(), 1_700_000_002_000);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    millis: Arc<AtomicU64>,
}

impl Default for ManualClock {
    /// 2026-11-26T12:00:00Z, a fixed and readable moment.
    fn default() -> Self {
        Self::at_epoch_millis(1_795_694_400_000)
    }
}

impl ManualClock {
    /// A clock standing at `millis` since the Unix epoch.
    pub fn at_epoch_millis(millis: u64) -> Self {
        Self {
            millis: Arc::new(AtomicU64::new(millis)),
        }
    }

    /// A clock standing at `time`.
    pub fn at(time: SystemTime) -> Self {
        Self::at_epoch_millis(epoch_millis(time))
    }

    /// The [`Clock`] to give a builder; it reads this manual clock.
    pub fn clock(&self) -> Clock {
        let millis = Arc::clone(&self.millis);
        Clock::from_fn(move || UNIX_EPOCH + Duration::from_millis(millis.load(Ordering::SeqCst)))
    }

    /// Moves the time forward by `by` (saturating).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        let _ = self
            .millis
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(by))
            });
    }

    /// Sets the time to `millis` since the Unix epoch.
    pub fn set_epoch_millis(&self, millis: u64) {
        self.millis.store(millis, Ordering::SeqCst);
    }

    /// The time now, in milliseconds since the Unix epoch.
    pub fn epoch_millis(&self) -> u64 {
        self.millis.load(Ordering::SeqCst)
    }

    /// The time now.
    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.epoch_millis())
    }
}

/// The variables Lambda sets for a function named `test-function` (128 MB, version `$LATEST`,
/// `eu-west-1`, on-demand), with `overrides` applied on top (an empty value removes a
/// variable), as an [`Env`] for a builder's `env(..)`.
///
/// ```
/// use powertools_testing::lambda_env;
///
/// let env = lambda_env([("POWERTOOLS_SERVICE_NAME", "orders")]);
/// assert_eq!(env.string("AWS_LAMBDA_FUNCTION_NAME").as_deref(), Some("test-function"));
/// assert_eq!(env.string("POWERTOOLS_SERVICE_NAME").as_deref(), Some("orders"));
/// ```
pub fn lambda_env<K, V>(overrides: impl IntoIterator<Item = (K, V)>) -> Env
where
    K: Into<String>,
    V: Into<String>,
{
    let mut vars: Vec<(String, String)> = [
        ("AWS_LAMBDA_FUNCTION_NAME", "test-function"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/test-function"),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (key, value) in overrides {
        let (key, value) = (key.into(), value.into());
        vars.retain(|(k, _)| *k != key);
        if !value.is_empty() {
            vars.push((key, value));
        }
    }
    Env::from_pairs(vars)
}

/// A name no other test run uses: `prefix` and 16 random hex digits (for tables, parameters
/// and secrets in a shared local peer).
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{:016x}", random_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_time_and_advance_saturates() {
        let manual = ManualClock::at_epoch_millis(u64::MAX - 5);
        let other = manual.clone();
        other.advance(Duration::from_secs(1));
        assert_eq!(manual.epoch_millis(), u64::MAX);
        manual.set_epoch_millis(10);
        assert_eq!(other.clock().epoch_millis(), 10);
    }

    #[test]
    fn an_empty_override_removes_a_variable() {
        let env = lambda_env([("AWS_REGION", "")]);
        assert_eq!(env.string("AWS_REGION"), None);
        assert_ne!(unique_name("t"), unique_name("t"));
    }
}
