//! Which level is in force: Lambda's advanced logging controls first, then the code, then the
//! Powertools variables.

use powertools_core::Env;
use tracing::Level;
use tracing::level_filters::LevelFilter;

/// Parses a level name as Lambda and Powertools spell them (any case). `FATAL` and `CRITICAL`
/// map to `ERROR`, `WARNING` to `WARN`.
pub(crate) fn parse_level(name: &str) -> Option<LevelFilter> {
    match name.trim().to_ascii_uppercase().as_str() {
        "TRACE" => Some(LevelFilter::TRACE),
        "DEBUG" => Some(LevelFilter::DEBUG),
        "INFO" => Some(LevelFilter::INFO),
        "WARN" | "WARNING" => Some(LevelFilter::WARN),
        "ERROR" | "FATAL" | "CRITICAL" => Some(LevelFilter::ERROR),
        "OFF" => Some(LevelFilter::OFF),
        _ => None,
    }
}

/// The name a line's `level` key is written with.
pub(crate) fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => "INFO",
        Level::WARN => "WARN",
        Level::ERROR => "ERROR",
    }
}

const EXPECTED: &str = "one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL";

fn from_env(env: &Env, key: &str) -> Option<LevelFilter> {
    let raw = env.string(key)?;
    let level = parse_level(&raw);
    if level.is_none() {
        env.report(key, &raw, EXPECTED);
    }
    level
}

/// The level in force, and a warning when the code asked for more than Lambda allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub(crate) level: LevelFilter,
    pub(crate) warning: Option<String>,
}

/// First found wins: `AWS_LAMBDA_LOG_LEVEL`, the builder, `POWERTOOLS_LOG_LEVEL`, `LOG_LEVEL`,
/// then INFO.
pub(crate) fn resolve(env: &Env, explicit: Option<LevelFilter>) -> Resolved {
    let requested = explicit
        .or_else(|| from_env(env, "POWERTOOLS_LOG_LEVEL"))
        .or_else(|| from_env(env, "LOG_LEVEL"));
    match from_env(env, "AWS_LAMBDA_LOG_LEVEL") {
        Some(lambda) => {
            let warning = requested.filter(|r| *r > lambda).map(|r| {
                format!(
                    "[powertools] log level {r} was requested but Lambda's advanced logging controls set AWS_LAMBDA_LOG_LEVEL={lambda}: logging at {lambda}; change the function's log level configuration to see more"
                )
            });
            Resolved {
                level: lambda,
                warning,
            }
        }
        None => Resolved {
            level: requested.unwrap_or(LevelFilter::INFO),
            warning: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Env::from_pairs(owned).with_reporter(|_| {})
    }

    #[test]
    fn parses_lambda_and_powertools_spellings() {
        for (name, level) in [
            ("trace", LevelFilter::TRACE),
            ("Debug", LevelFilter::DEBUG),
            ("INFO", LevelFilter::INFO),
            ("warn", LevelFilter::WARN),
            ("WARNING", LevelFilter::WARN),
            ("error", LevelFilter::ERROR),
            ("FATAL", LevelFilter::ERROR),
            ("critical", LevelFilter::ERROR),
        ] {
            assert_eq!(parse_level(name), Some(level), "{name}");
        }
        assert_eq!(parse_level("verbose"), None);
    }

    /// The precedence table: (AWS_LAMBDA_LOG_LEVEL, builder, POWERTOOLS_LOG_LEVEL, LOG_LEVEL)
    /// → level in force, warned.
    /// (AWS_LAMBDA_LOG_LEVEL, builder, POWERTOOLS_LOG_LEVEL, LOG_LEVEL, in force, warned)
    type Row = (
        Option<&'static str>,
        Option<LevelFilter>,
        Option<&'static str>,
        Option<&'static str>,
        LevelFilter,
        bool,
    );

    #[test]
    fn precedence_table() {
        use LevelFilter as L;
        let rows: &[Row] = &[
            (None, None, None, None, L::INFO, false),
            (None, None, None, Some("ERROR"), L::ERROR, false),
            (None, None, Some("WARN"), Some("ERROR"), L::WARN, false),
            (
                None,
                Some(L::DEBUG),
                Some("WARN"),
                Some("ERROR"),
                L::DEBUG,
                false,
            ),
            (
                Some("ERROR"),
                Some(L::DEBUG),
                Some("WARN"),
                Some("TRACE"),
                L::ERROR,
                true,
            ),
            (Some("DEBUG"), Some(L::WARN), None, None, L::DEBUG, false),
            (Some("WARN"), None, Some("DEBUG"), None, L::WARN, true),
            (Some("WARN"), None, None, Some("ERROR"), L::WARN, false),
            (Some("FATAL"), None, None, None, L::ERROR, false),
            (Some("INFO"), Some(L::INFO), None, None, L::INFO, false),
            // Malformed values are skipped, not fatal.
            (
                Some("loud"),
                None,
                Some("chatty"),
                Some("DEBUG"),
                L::DEBUG,
                false,
            ),
        ];
        for (i, (lambda, builder, powertools, log_level, expected, warned)) in
            rows.iter().enumerate()
        {
            let mut pairs = Vec::new();
            if let Some(v) = lambda {
                pairs.push(("AWS_LAMBDA_LOG_LEVEL", *v));
            }
            if let Some(v) = powertools {
                pairs.push(("POWERTOOLS_LOG_LEVEL", *v));
            }
            if let Some(v) = log_level {
                pairs.push(("LOG_LEVEL", *v));
            }
            let resolved = resolve(&env(&pairs), *builder);
            assert_eq!(resolved.level, *expected, "row {i}");
            assert_eq!(
                resolved.warning.is_some(),
                *warned,
                "row {i}: {:?}",
                resolved.warning
            );
        }
    }
}
