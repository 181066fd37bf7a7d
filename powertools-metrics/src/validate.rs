//! The EMF rules for names and values, checked before anything is kept or written.

use crate::error::MetricsError;

/// The dimension every blob carries.
pub(crate) const SERVICE: &str = "service";
/// The root member holding the EMF directive: never a metric or dimension name.
pub(crate) const DIRECTIVE: &str = "_aws";
/// The root member Lambda's log-level filtering reads.
pub(crate) const LEVEL: &str = "level";

/// What a `NameClash` says `level` is used as when blobs carry it.
pub(crate) const LEVEL_MEMBER: &str =
    "root member for Lambda's log-level filtering (see MetricsBuilder::log_level_key)";

pub(crate) fn validate_metric_name(name: &str) -> Result<(), MetricsError> {
    // At most 255 bytes is at most 255 characters, and a name whose first character is not
    // whitespace is not blank: the common case without counting or trimming.
    let short = name.len() <= 255;
    let starts_visible = name.chars().next().is_some_and(|c| !c.is_whitespace());
    let valid =
        (short || name.chars().count() <= 255) && (starts_visible || !name.trim().is_empty());
    if !valid {
        return Err(MetricsError::InvalidMetricName(name.to_owned()));
    }
    refuse_reserved(name)
}

/// Refuses the root member names EMF keeps for itself.
fn refuse_reserved(name: &str) -> Result<(), MetricsError> {
    if name == DIRECTIVE {
        return Err(clash(name, "reserved key (the EMF directive)"));
    }
    Ok(())
}

pub(crate) fn validate_value(name: &str, value: f64) -> Result<(), MetricsError> {
    // CloudWatch rejects values beyond 2^360 in magnitude and non-zero values closer to 0 than
    // 2^-360.
    const MAX: f64 = 2.348_542_582_773_833e108; // 2^360
    const MIN: f64 = 4.258_000_325_956_408e-109; // 2^-360
    let magnitude = value.abs();
    if !value.is_finite() || magnitude > MAX || (magnitude != 0.0 && magnitude < MIN) {
        return Err(MetricsError::InvalidValue {
            name: name.to_owned(),
            value,
        });
    }
    Ok(())
}

pub(crate) fn validate_dimension(name: &str, value: &str) -> Result<(), MetricsError> {
    let name_len = name.chars().count();
    if name_len == 0
        || name_len > 250
        || !name.is_ascii()
        || name.starts_with(':')
        || name.trim().is_empty()
    {
        return Err(MetricsError::InvalidDimensionName(name.to_owned()));
    }
    let value_len = value.chars().count();
    if value_len == 0 || value_len > 1024 || !value.is_ascii() || value.trim().is_empty() {
        return Err(MetricsError::InvalidDimensionValue {
            name: name.to_owned(),
            value: value.to_owned(),
        });
    }
    refuse_reserved(name)
}

/// CloudWatch's namespace rules: 1 to 255 characters among `0-9A-Za-z.-_/#:` and space, not
/// blank, not `AWS/...`.
pub(crate) fn validate_namespace(namespace: &str) -> Result<(), MetricsError> {
    let len = namespace.chars().count();
    if len == 0
        || len > 255
        || !namespace.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#' | ':' | ' ')
        })
        || namespace.starts_with("AWS/")
        || namespace.trim().is_empty()
    {
        return Err(MetricsError::InvalidNamespace(namespace.to_owned()));
    }
    Ok(())
}

pub(crate) fn clash(name: &str, used_as: &'static str) -> MetricsError {
    MetricsError::NameClash {
        name: name.to_owned(),
        used_as,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_limits() {
        assert!(validate_value("m", 0.0).is_ok());
        assert!(validate_value("m", -1.5e100).is_ok());
        assert!(validate_value("m", f64::NAN).is_err());
        assert!(validate_value("m", f64::INFINITY).is_err());
        assert!(validate_value("m", 1e109).is_err());
        assert!(validate_value("m", 1e-110).is_err());
    }

    #[test]
    fn metric_name_limits() {
        assert!(validate_metric_name("a").is_ok());
        assert!(validate_metric_name(" a ").is_ok());
        assert!(validate_metric_name("").is_err());
        assert!(validate_metric_name(" \t\u{3000}").is_err());
        assert!(validate_metric_name(&"x".repeat(255)).is_ok());
        assert!(validate_metric_name(&"x".repeat(256)).is_err());
        // 255 characters of two bytes each: 510 bytes, still valid; one more is not.
        assert!(validate_metric_name(&"é".repeat(255)).is_ok());
        assert!(validate_metric_name(&"é".repeat(256)).is_err());
        assert!(validate_metric_name("_aws").is_err());
    }
}
