//! EMF units and storage resolution.

/// The 27 units CloudWatch accepts, spelled exactly as EMF wants them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum Unit {
    Seconds,
    Microseconds,
    Milliseconds,
    Bytes,
    Kilobytes,
    Megabytes,
    Gigabytes,
    Terabytes,
    Bits,
    Kilobits,
    Megabits,
    Gigabits,
    Terabits,
    Percent,
    Count,
    BytesPerSecond,
    KilobytesPerSecond,
    MegabytesPerSecond,
    GigabytesPerSecond,
    TerabytesPerSecond,
    BitsPerSecond,
    KilobitsPerSecond,
    MegabitsPerSecond,
    GigabitsPerSecond,
    TerabitsPerSecond,
    CountPerSecond,
    None,
}

impl Unit {
    /// Every unit.
    pub const ALL: [Unit; 27] = [
        Self::Seconds,
        Self::Microseconds,
        Self::Milliseconds,
        Self::Bytes,
        Self::Kilobytes,
        Self::Megabytes,
        Self::Gigabytes,
        Self::Terabytes,
        Self::Bits,
        Self::Kilobits,
        Self::Megabits,
        Self::Gigabits,
        Self::Terabits,
        Self::Percent,
        Self::Count,
        Self::BytesPerSecond,
        Self::KilobytesPerSecond,
        Self::MegabytesPerSecond,
        Self::GigabytesPerSecond,
        Self::TerabytesPerSecond,
        Self::BitsPerSecond,
        Self::KilobitsPerSecond,
        Self::MegabitsPerSecond,
        Self::GigabitsPerSecond,
        Self::TerabitsPerSecond,
        Self::CountPerSecond,
        Self::None,
    ];

    /// The EMF spelling, e.g. `Bytes/Second`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Seconds => "Seconds",
            Self::Microseconds => "Microseconds",
            Self::Milliseconds => "Milliseconds",
            Self::Bytes => "Bytes",
            Self::Kilobytes => "Kilobytes",
            Self::Megabytes => "Megabytes",
            Self::Gigabytes => "Gigabytes",
            Self::Terabytes => "Terabytes",
            Self::Bits => "Bits",
            Self::Kilobits => "Kilobits",
            Self::Megabits => "Megabits",
            Self::Gigabits => "Gigabits",
            Self::Terabits => "Terabits",
            Self::Percent => "Percent",
            Self::Count => "Count",
            Self::BytesPerSecond => "Bytes/Second",
            Self::KilobytesPerSecond => "Kilobytes/Second",
            Self::MegabytesPerSecond => "Megabytes/Second",
            Self::GigabytesPerSecond => "Gigabytes/Second",
            Self::TerabytesPerSecond => "Terabytes/Second",
            Self::BitsPerSecond => "Bits/Second",
            Self::KilobitsPerSecond => "Kilobits/Second",
            Self::MegabitsPerSecond => "Megabits/Second",
            Self::GigabitsPerSecond => "Gigabits/Second",
            Self::TerabitsPerSecond => "Terabits/Second",
            Self::CountPerSecond => "Count/Second",
            Self::None => "None",
        }
    }

    /// The EMF unit for a `metrics` crate unit, and the factor its values are multiplied by
    /// (EMF has no nanoseconds or binary byte units).
    pub fn from_metrics(unit: metrics::Unit) -> (Self, f64) {
        use metrics::Unit as M;
        match unit {
            M::Count => (Self::Count, 1.0),
            M::Percent => (Self::Percent, 1.0),
            M::Seconds => (Self::Seconds, 1.0),
            M::Milliseconds => (Self::Milliseconds, 1.0),
            M::Microseconds => (Self::Microseconds, 1.0),
            M::Nanoseconds => (Self::Microseconds, 1e-3),
            M::Tebibytes => (Self::Bytes, 1_099_511_627_776.0),
            M::Gibibytes => (Self::Bytes, 1_073_741_824.0),
            M::Mebibytes => (Self::Bytes, 1_048_576.0),
            M::Kibibytes => (Self::Bytes, 1_024.0),
            M::Bytes => (Self::Bytes, 1.0),
            M::TerabitsPerSecond => (Self::TerabitsPerSecond, 1.0),
            M::GigabitsPerSecond => (Self::GigabitsPerSecond, 1.0),
            M::MegabitsPerSecond => (Self::MegabitsPerSecond, 1.0),
            M::KilobitsPerSecond => (Self::KilobitsPerSecond, 1.0),
            M::BitsPerSecond => (Self::BitsPerSecond, 1.0),
            M::CountPerSecond => (Self::CountPerSecond, 1.0),
        }
    }
}

/// How finely CloudWatch stores a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolution {
    /// One-minute resolution (the default; `StorageResolution` is omitted).
    #[default]
    Standard,
    /// One-second resolution (`"StorageResolution": 1`), for fast alarms.
    High,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_27_units_are_distinct_emf_strings() {
        let mut names: Vec<&str> = Unit::ALL.iter().map(|u| u.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 27);
        assert!(names.contains(&"Count/Second"));
        assert!(names.contains(&"Bytes/Second"));
    }
}
