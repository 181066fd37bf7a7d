//! The one process-wide cold-start flag.
//!
//! The first invocation that asks takes the flag; every later one sees a warm start. In an
//! environment initialised ahead of traffic (any `AWS_LAMBDA_INITIALIZATION_TYPE` other than
//! `on-demand`: provisioned concurrency, SnapStart, Lambda Managed Instances) no invocation is a
//! cold start.
//!
//! Taking the flag the first time also reseeds the random source ([`crate::random_u64`]): in a
//! SnapStart clone it is the first moment that differs between clones restored from one
//! snapshot, so ids and sampling draws made before it would repeat in every clone. Utilities never keep a flag of their own: they read
//! [`Invocation::is_cold_start`](crate::Invocation::is_cold_start), which the invocation layer
//! filled in from here.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::InitializationType;

/// A cold-start flag: taken once, by the first invocation.
///
/// The process has one, behind [`take_cold_start`]; tests build their own.
#[derive(Debug, Default)]
pub struct ColdStart {
    taken: AtomicBool,
}

impl ColdStart {
    /// A flag that no invocation has taken yet.
    pub const fn new() -> Self {
        Self {
            taken: AtomicBool::new(false),
        }
    }

    /// Takes the flag: `true` for the first caller in an environment that can cold-start,
    /// `false` for every other caller and for every caller after provisioned concurrency or a
    /// SnapStart restore. Exactly one of many concurrent first callers gets `true`.
    pub fn take(&self, initialization: &InitializationType) -> bool {
        let first = !self.taken.swap(true, Ordering::AcqRel);
        if first {
            crate::random::reseed();
        }
        first && initialization.can_cold_start()
    }

    /// Whether an invocation has taken the flag yet (i.e. whether INIT is over).
    pub fn is_taken(&self) -> bool {
        self.taken.load(Ordering::Acquire)
    }
}

static PROCESS: ColdStart = ColdStart::new();

/// Takes the process-wide flag; see [`ColdStart::take`]. Called by the invocation layer once
/// per invocation.
pub fn take_cold_start(initialization: &InitializationType) -> bool {
    PROCESS.take(initialization)
}

/// Whether the process has served (or is serving) its first invocation. `false` during INIT.
pub fn is_initialized() -> bool {
    PROCESS.is_taken()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn first_invocation_is_cold_then_warm() {
        let flag = ColdStart::new();
        assert!(!flag.is_taken());
        assert!(flag.take(&InitializationType::OnDemand));
        assert!(flag.is_taken());
        assert!(!flag.take(&InitializationType::OnDemand));
        assert!(!flag.take(&InitializationType::OnDemand));
    }

    #[test]
    fn only_on_demand_is_ever_cold() {
        for kind in [
            InitializationType::ProvisionedConcurrency,
            InitializationType::SnapStart,
            InitializationType::ManagedInstances,
            InitializationType::Other("future-type".into()),
        ] {
            let flag = ColdStart::new();
            assert!(!flag.take(&kind));
            assert!(!flag.take(&kind));
            assert!(flag.is_taken());
        }
    }

    #[test]
    fn exactly_one_of_many_concurrent_first_callers_is_cold() {
        let flag = Arc::new(ColdStart::new());
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let flag = Arc::clone(&flag);
                std::thread::spawn(move || flag.take(&InitializationType::OnDemand))
            })
            .collect();
        let cold = handles
            .into_iter()
            .map(|h| h.join().unwrap_or(false))
            .filter(|cold| *cold)
            .count();
        assert_eq!(cold, 1);
    }
}
