//! Reading configuration from the environment without ever panicking.
//!
//! Every utility reads its settings through an [`Env`], which wraps a lookup function. In a
//! Lambda function that lookup is the process environment ([`Env::from_env`]); in tests it is a
//! closure over a map ([`Env::from_lookup`]), so tests never mutate the process environment.
//!
//! A malformed value (`POWERTOOLS_LOGGER_SAMPLE_RATE=lots`) never fails or panics: the default is
//! used and the problem is reported **once per variable and value** on stderr (or to the reporter
//! given with [`Env::with_reporter`]).

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;
type Reporter = dyn Fn(&Malformed) + Send + Sync;

/// A malformed environment value: what was found and what was expected instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// The variable's name, e.g. `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`.
    pub key: String,
    /// The value found.
    pub value: String,
    /// What a valid value looks like, e.g. `a whole number of megabytes`.
    pub expected: &'static str,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[powertools] ignoring {}={:?}: expected {}; using the default",
            self.key, self.value, self.expected
        )
    }
}

/// A source of configuration values: the process environment or an injected lookup.
///
/// Cheap to clone.
///
/// ```
/// use powertools_core::Env;
///
/// let env = Env::from_lookup(|key| match key {
///     "POWERTOOLS_SERVICE_NAME" => Some("orders".to_owned()),
///     "POWERTOOLS_LOGGER_SAMPLE_RATE" => Some("lots".to_owned()),
///     _ => None,
/// })
/// .with_reporter(|_problem| { /* collected by the test instead of printed */ });
///
/// assert_eq!(env.string("POWERTOOLS_SERVICE_NAME").as_deref(), Some("orders"));
/// // Malformed: reported, and the caller's default applies.
/// assert_eq!(env.parse::<f64>("POWERTOOLS_LOGGER_SAMPLE_RATE", "a number"), None);
/// ```
#[derive(Clone)]
pub struct Env {
    lookup: Arc<Lookup>,
    reporter: Option<Arc<Reporter>>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env").finish_non_exhaustive()
    }
}

impl Env {
    /// Reads the process environment. A variable that is not valid Unicode counts as malformed.
    pub fn from_env() -> Self {
        Self::from_lookup(|key| match std::env::var(key) {
            Ok(value) => Some(value),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(raw)) => Some(raw.to_string_lossy().into_owned()),
        })
    }

    /// Reads values through `lookup` instead of the process environment.
    pub fn from_lookup<F>(lookup: F) -> Self
    where
        F: Fn(&str) -> Option<String> + Send + Sync + 'static,
    {
        Self {
            lookup: Arc::new(lookup),
            reporter: None,
        }
    }

    /// Reads values from a fixed list of pairs (handy in tests).
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let map: std::collections::HashMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self::from_lookup(move |key| map.get(key).cloned())
    }

    /// Sends malformed-value reports to `reporter` instead of stderr. Every report is delivered
    /// (no once-only filtering), so tests can assert on them.
    #[must_use]
    pub fn with_reporter<F>(mut self, reporter: F) -> Self
    where
        F: Fn(&Malformed) + Send + Sync + 'static,
    {
        self.reporter = Some(Arc::new(reporter));
        self
    }

    /// The raw value of `key`, trimmed; `None` when unset or blank.
    pub fn string(&self, key: &str) -> Option<String> {
        let value = (self.lookup)(key)?;
        let trimmed = value.trim();
        if trimmed.is_empty() {
            None
        } else if trimmed.len() == value.len() {
            Some(value)
        } else {
            Some(trimmed.to_owned())
        }
    }

    /// A boolean: `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off`, any case. `None` when unset;
    /// anything else is reported and gives `None`.
    pub fn bool(&self, key: &str) -> Option<bool> {
        let value = self.string(key)?;
        match parse_bool(&value) {
            Some(flag) => Some(flag),
            None => {
                self.report(key, &value, "true or false");
                None
            }
        }
    }

    /// The value parsed with [`FromStr`]. `None` when unset; a value that does not parse is
    /// reported (saying `expected`) and gives `None`.
    pub fn parse<T: FromStr>(&self, key: &str, expected: &'static str) -> Option<T> {
        let value = self.string(key)?;
        match value.parse::<T>() {
            Ok(parsed) => Some(parsed),
            Err(_) => {
                self.report(key, &value, expected);
                None
            }
        }
    }

    /// Reports a malformed value for `key`: to the injected reporter, or once per process on
    /// stderr. Utilities call this for values that parse but fail their own checks (a sample
    /// rate of `7`, say).
    pub fn report(&self, key: &str, value: &str, expected: &'static str) {
        let problem = Malformed {
            key: key.to_owned(),
            value: value.to_owned(),
            expected,
        };
        match &self.reporter {
            Some(reporter) => reporter(&problem),
            None => report_once_on_stderr(&problem),
        }
    }
}

/// Parses the booleans Powertools accepts in environment variables.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "on" => Some(true),
        "false" | "0" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

fn report_once_on_stderr(problem: &Malformed) {
    if first_report(problem) {
        eprintln!("{problem}");
    }
}

/// Whether this process has not reported this variable with this value before.
fn first_report(problem: &Malformed) -> bool {
    static SEEN: OnceLock<Mutex<HashSet<(String, String)>>> = OnceLock::new();
    let seen = SEEN.get_or_init(|| Mutex::new(HashSet::new()));
    let key = (problem.key.clone(), problem.value.clone());
    match seen.lock() {
        Ok(mut set) => set.insert(key),
        // A poisoned set only means another thread panicked while reporting: still report.
        Err(poisoned) => poisoned.into_inner().insert(key),
    }
}

/// An `Env` over `pairs` whose reports are collected instead of printed (for tests).
#[cfg(test)]
pub(crate) fn collecting(pairs: &[(&str, &str)]) -> (Env, Arc<Mutex<Vec<Malformed>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let env = Env::from_pairs(pairs).with_reporter(move |m| {
        if let Ok(mut v) = sink.lock() {
            v.push(m.clone());
        }
    });
    (env, seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_values_count_as_unset() {
        let (env, seen) = collecting(&[("A", "   "), ("B", "")]);
        assert_eq!(env.string("A"), None);
        assert_eq!(env.bool("B"), None);
        assert!(seen.lock().map(|v| v.is_empty()).unwrap_or(false));
    }

    #[test]
    fn booleans_accept_common_spellings() {
        let (env, _) = collecting(&[("T", "TRUE"), ("F", "0"), ("Y", " yes ")]);
        assert_eq!(env.bool("T"), Some(true));
        assert_eq!(env.bool("F"), Some(false));
        assert_eq!(env.bool("Y"), Some(true));
    }

    #[test]
    fn malformed_values_are_reported_not_panicked() {
        let (env, seen) = collecting(&[("FLAG", "maybe"), ("N", "12x"), ("BIG", "99999999999")]);
        assert_eq!(env.bool("FLAG"), None);
        assert_eq!(env.parse::<u32>("N", "a whole number"), None);
        assert_eq!(env.parse::<u32>("BIG", "a whole number"), None);
        let seen = seen.lock().map(|v| v.clone()).unwrap_or_default();
        let keys: Vec<&str> = seen.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(keys, ["FLAG", "N", "BIG"]);
        assert!(seen[1].to_string().contains("N=\"12x\""));
    }

    #[test]
    fn the_process_reports_each_variable_and_value_once() {
        let problem = |value: &str| Malformed {
            key: "POWERTOOLS_TEST_ONLY_ONCE".into(),
            value: value.into(),
            expected: "a number",
        };
        assert!(first_report(&problem("x")));
        assert!(!first_report(&problem("x")));
        assert!(!first_report(&problem("x")));
        // A different bad value is news.
        assert!(first_report(&problem("y")));
    }

    #[test]
    fn report_message_says_what_to_do() {
        let m = Malformed {
            key: "K".into(),
            value: "v".into(),
            expected: "a number",
        };
        assert_eq!(
            m.to_string(),
            "[powertools] ignoring K=\"v\": expected a number; using the default"
        );
    }
}
