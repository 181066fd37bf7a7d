//! The one clock every utility reads the time from, so tests can set it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A boxed, `Send` future: the shape of the object-safe async traits of the utilities (stores,
/// providers).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a utility reads the wall-clock time: the system clock, or any function of nothing
/// (a test's manual clock, `powertools_testing::ManualClock`).
///
/// ```
/// use powertools_core::{Clock, epoch_millis};
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let fixed = Clock::from_fn(|| UNIX_EPOCH + Duration::from_millis(1_700_000_000_123));
/// assert_eq!(fixed.epoch_millis(), 1_700_000_000_123);
/// assert_eq!(epoch_millis(fixed.now()), 1_700_000_000_123);
/// assert!(Clock::system().epoch_millis() > 1_700_000_000_000);
/// ```
#[derive(Clone, Default)]
pub struct Clock {
    // `None`: the system clock (no call through a pointer on the hot path).
    source: Option<Arc<dyn Fn() -> SystemTime + Send + Sync>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { source: None }
    }

    /// A clock that reads `now` each time.
    pub fn from_fn<F>(now: F) -> Self
    where
        F: Fn() -> SystemTime + Send + Sync + 'static,
    {
        Self {
            source: Some(Arc::new(now)),
        }
    }

    /// The current time.
    pub fn now(&self) -> SystemTime {
        match &self.source {
            None => SystemTime::now(),
            Some(now) => now(),
        }
    }

    /// The current time in milliseconds since the Unix epoch.
    pub fn epoch_millis(&self) -> u64 {
        epoch_millis(self.now())
    }

    /// Whether this is the system clock.
    pub fn is_system(&self) -> bool {
        self.source.is_none()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_system() {
            "Clock(system)"
        } else {
            "Clock(custom)"
        })
    }
}

/// `time` in whole milliseconds since the Unix epoch: 0 before the epoch, `u64::MAX` past the
/// representable range. Never panics.
pub fn epoch_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(duration_millis)
        .unwrap_or(0)
}

/// `duration` in whole milliseconds, saturating at `u64::MAX`.
pub fn duration_millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_the_epoch_is_zero_and_far_future_saturates() {
        assert_eq!(epoch_millis(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(duration_millis(Duration::MAX), u64::MAX);
    }

    #[test]
    fn a_custom_clock_is_read_each_time() {
        let ticks = Arc::new(std::sync::atomic::AtomicU64::new(5));
        let source = Arc::clone(&ticks);
        let clock = Clock::from_fn(move || {
            UNIX_EPOCH + Duration::from_millis(source.load(std::sync::atomic::Ordering::Relaxed))
        });
        assert_eq!(clock.epoch_millis(), 5);
        ticks.store(9, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(clock.epoch_millis(), 9);
        assert!(!clock.is_system());
        assert_eq!(format!("{clock:?}"), "Clock(custom)");
    }
}
