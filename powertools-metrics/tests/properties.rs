//! Whatever the names, units, values, dimensions, dimension sets and metadata, through the
//! client or through the `metrics` facade: every blob is valid EMF (checked by
//! `powertools_testing::emf`), and the metric values read back from the blobs are exactly the
//! values that were accepted (for the facade: every histogram value; each counter's sum, one
//! value per blob; each gauge's last value per flush).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use powertools_metrics::{Metrics, MetricsRecorder, Resolution, Unit};
use powertools_testing::CapturedOutput;
use proptest::prelude::*;
use serde_json::{Value, json};

/// The `service` dimension's value in `common::builder`.
const SERVICE_VALUE: &str = "orders";

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "Orders", "Latency", "service", "_aws", "level", "environment", "region", "tenant",
        ])
        .prop_map(str::to_owned),
        3 => "[A-Z][A-Za-z0-9_]{0,11}",
        1 => "\\PC{0,12}",
        1 => "[\\x00-\\x1f\"\\\\]{1,6}",
        1 => "[ \t]{0,2}",
        1 => (248usize..259).prop_map(|n| "N".repeat(n)),
        1 => ":[a-z]{1,4}",
    ]
}

fn dimension_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![SERVICE_VALUE, "prod", "eu-west-1", "x"]).prop_map(str::to_owned),
        2 => "[ -~]{0,16}",
        1 => "\\PC{0,8}",
        1 => (1020usize..1029).prop_map(|n| "v".repeat(n)),
        1 => Just(String::new()),
    ]
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e6..1e6f64,
        2 => any::<f64>(),
        1 => prop::sample::select(vec![
            0.0, -0.0, 2.3e108, 2.4e108, 1e-108, 1e-110, f64::MAX, f64::MIN_POSITIVE, f64::NAN,
            f64::INFINITY, f64::NEG_INFINITY,
        ]),
    ]
}

fn unit() -> impl Strategy<Value = Unit> {
    prop::sample::select(Unit::ALL.to_vec())
}

fn metadata_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        20 => "\\PC{0,20}".prop_map(Value::String),
        10 => any::<i64>().prop_map(Value::from),
        5 => Just(Value::Null),
        5 => ("[a-z]{0,4}", any::<bool>()).prop_map(|(k, b)| json!({ k: [b, null] })),
        1 => Just(Value::String("x".repeat(262_000))),
    ]
}

fn label_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["service", "_aws", "k1", "k2", "environment", ":k", "", " "])
            .prop_map(str::to_owned),
        2 => "[a-z]{1,6}",
        1 => "\\PC{0,6}",
        1 => (249usize..253).prop_map(|n| "k".repeat(n)),
    ]
}

fn labels() -> impl Strategy<Value = Vec<(String, String)>> {
    prop_oneof![
        6 => prop::collection::vec((label_key(), dimension_value()), 0..4),
        1 => (25usize..33)
            .prop_map(|n| (0..n).map(|i| (format!("l{i}"), "v".to_owned())).collect()),
    ]
}

fn facade_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => -1e9..1e9f64,
        1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY]),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Metric(String, Unit, bool, f64),
    Dimension(String, String),
    DimensionSet(Vec<(String, String)>),
    /// 29 dimensions of 247-character names and 1,024-character values.
    LargeDimensionSet(u8),
    Metadata(String, Value),
    Single(String, Unit, f64, Vec<(String, String)>),
    /// Seconds from now.
    Timestamp(i64),
    Flush,
    /// `histogram!(name, labels).record(value)`.
    Histogram(String, Vec<(String, String)>, f64),
    /// `counter!(name, labels).increment(n)`.
    Counter(String, Vec<(String, String)>, u64),
    /// `counter!(name).absolute(total)`.
    Absolute(String, u64),
    /// `gauge!(name)` or `gauge!(name, "g" => "1")`: `set(v)` or `increment(v)`.
    Gauge(String, bool, bool, f64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (name(), unit(), any::<bool>(), value())
            .prop_map(|(n, u, high, v)| Op::Metric(n, u, high, v)),
        2 => (name(), dimension_value()).prop_map(|(k, v)| Op::Dimension(k, v)),
        2 => prop::collection::vec((name(), dimension_value()), 0..5).prop_map(Op::DimensionSet),
        1 => any::<u8>().prop_map(Op::LargeDimensionSet),
        2 => (name(), metadata_value()).prop_map(|(k, v)| Op::Metadata(k, v)),
        2 => (name(), unit(), value(), prop::collection::vec((name(), dimension_value()), 0..4))
            .prop_map(|(n, u, v, d)| Op::Single(n, u, v, d)),
        1 => (-16 * 86_400i64..3 * 3_600).prop_map(Op::Timestamp),
        1 => Just(Op::Flush),
        6 => ("fh_[a-z]{1,2}", labels(), facade_value())
            .prop_map(|(n, l, v)| Op::Histogram(n, l, v)),
        4 => ("fc_[a-z]{1,2}", labels(), 0..1_000_000u64)
            .prop_map(|(n, l, v)| Op::Counter(n, l, v)),
        2 => ("fa_[a-z]", 0..1_000_000u64).prop_map(|(n, v)| Op::Absolute(n, v)),
        4 => ("fg_[a-z]", any::<bool>(), any::<bool>(), -1e6..1e6f64)
            .prop_map(|(n, labeled, set, v)| Op::Gauge(n, labeled, set, v)),
    ]
}

fn defaults() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(
        prop_oneof![
            3 => prop::sample::select(vec!["environment", "region", "team"]).prop_map(str::to_owned),
            1 => name(),
        ],
        dimension_value(),
        0..3,
    )
}

/// The EMF rules for a label set, written out independently of the client: what the facade
/// can write without making an invalid blob or losing a label's value.
fn facade_accepts(
    defaults: &BTreeMap<String, String>,
    level_member: bool,
    labels: &[(String, String)],
) -> bool {
    let mut own: Vec<(&str, &str)> = Vec::new();
    for (key, value) in labels {
        let key_ok = key.is_ascii()
            && (1..=250).contains(&key.len())
            && !key.starts_with(':')
            && !key.trim().is_empty()
            && key != "_aws"
            && !(level_member && key == "level");
        let value_ok =
            value.is_ascii() && (1..=1024).contains(&value.len()) && !value.trim().is_empty();
        if !key_ok || !value_ok {
            return false;
        }
        let fixed = if key == "service" {
            Some(SERVICE_VALUE)
        } else {
            defaults.get(key).map(String::as_str)
        };
        if let Some(fixed) = fixed {
            if fixed != value {
                return false;
            }
            continue;
        }
        match own.iter().find(|(k, _)| k == key) {
            Some((_, v)) if v != value => return false,
            Some(_) => {}
            None => own.push((key, value)),
        }
    }
    1 + defaults.len() + own.len() <= 30
}

fn pairs(dimensions: &[(String, String)]) -> Vec<(&str, &str)> {
    dimensions
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// What the facade's gauges must write: each gauge's current value (kept across flushes) and
/// its last value since the last flush.
#[derive(Default)]
struct Gauges {
    current: BTreeMap<(String, bool), f64>,
    touched: BTreeMap<(String, bool), f64>,
}

impl Gauges {
    fn flushed(&mut self, accepted: &mut BTreeMap<String, Vec<f64>>) {
        for ((name, _), value) in std::mem::take(&mut self.touched) {
            accepted.entry(name).or_default().push(value);
        }
    }
}

/// Runs `ops` and returns the values accepted, per metric name (for counters, one value: the
/// total).
fn run(
    m: &Metrics,
    defaults: &BTreeMap<String, String>,
    level_member: bool,
    ops: Vec<Op>,
) -> BTreeMap<String, Vec<f64>> {
    let recorder = MetricsRecorder::new(m.clone());
    let mut accepted: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut counters: BTreeMap<String, f64> = BTreeMap::new();
    let mut absolute: BTreeMap<String, u64> = BTreeMap::new();
    let mut gauges = Gauges::default();
    for op in ops {
        match op {
            Op::Metric(name, unit, high, value) => {
                let resolution = if high {
                    Resolution::High
                } else {
                    Resolution::Standard
                };
                if m.add_metric_with_resolution(&name, unit, resolution, value)
                    .is_ok()
                {
                    accepted.entry(name).or_default().push(value);
                }
            }
            Op::Dimension(name, value) => {
                let _ = m.add_dimension(&name, &value);
            }
            Op::DimensionSet(dimensions) => {
                let _ = m.add_dimension_set(&pairs(&dimensions));
            }
            Op::LargeDimensionSet(tag) => {
                let value = "v".repeat(1024);
                let dimensions: Vec<(String, String)> = (0..29)
                    .map(|i| {
                        (
                            format!("{tag:03}_{i:02}_{}", "d".repeat(240)),
                            value.clone(),
                        )
                    })
                    .collect();
                let _ = m.add_dimension_set(&pairs(&dimensions));
            }
            Op::Metadata(key, value) => {
                let _ = m.add_metadata(&key, value);
            }
            Op::Single(name, unit, value, dimensions) => {
                if m.single_metric(&name, unit, value, &pairs(&dimensions))
                    .is_ok()
                {
                    accepted.entry(name).or_default().push(value);
                }
            }
            Op::Timestamp(seconds) => {
                let offset = Duration::from_secs(seconds.unsigned_abs());
                let at = if seconds < 0 {
                    common::now() - offset
                } else {
                    common::now() + offset
                };
                let _ = m.set_timestamp(at);
            }
            Op::Flush => {
                let _ = m.flush();
                gauges.flushed(&mut accepted);
            }
            Op::Histogram(name, labels, value) => {
                let facade_labels: Vec<metrics::Label> = labels
                    .iter()
                    .map(|(k, v)| metrics::Label::new(k.clone(), v.clone()))
                    .collect();
                metrics::with_local_recorder(&recorder, || {
                    metrics::histogram!(name.clone(), facade_labels).record(value);
                });
                if value.is_finite() && facade_accepts(defaults, level_member, &labels) {
                    accepted.entry(name).or_default().push(value);
                }
            }
            Op::Counter(name, labels, n) => {
                let facade_labels: Vec<metrics::Label> = labels
                    .iter()
                    .map(|(k, v)| metrics::Label::new(k.clone(), v.clone()))
                    .collect();
                metrics::with_local_recorder(&recorder, || {
                    metrics::counter!(name.clone(), facade_labels).increment(n);
                });
                if facade_accepts(defaults, level_member, &labels) {
                    *counters.entry(name).or_default() += n as f64;
                }
            }
            Op::Absolute(name, total) => {
                metrics::with_local_recorder(&recorder, || {
                    metrics::counter!(name.clone()).absolute(total);
                });
                let highest = absolute.entry(name).or_default();
                *highest = (*highest).max(total);
            }
            Op::Gauge(name, labeled, set, value) => {
                metrics::with_local_recorder(&recorder, || {
                    let gauge = if labeled {
                        metrics::gauge!(name.clone(), "g" => "1")
                    } else {
                        metrics::gauge!(name.clone())
                    };
                    if set {
                        gauge.set(value);
                    } else {
                        gauge.increment(value);
                    }
                });
                let key = (name, labeled);
                let current = gauges.current.entry(key.clone()).or_default();
                *current = if set { value } else { *current + value };
                gauges.touched.insert(key, *current);
            }
        }
    }
    let _ = m.flush();
    gauges.flushed(&mut accepted);
    // A counter's values add up to its increments; `absolute` to the highest total.
    for (name, total) in counters {
        accepted.insert(name, vec![total]);
    }
    for (name, highest) in absolute.into_iter().filter(|(_, highest)| *highest > 0) {
        accepted.insert(name, vec![highest as f64]);
    }
    accepted
}

/// A counter written by the facade: one value per blob, the values summed.
fn is_counter(name: &str) -> bool {
    name.starts_with("fc_") || name.starts_with("fa_")
}

/// Every blob checked, and the metric values it holds, per metric name.
fn written(
    captured: &CapturedOutput,
    level: Option<&str>,
) -> Result<BTreeMap<String, Vec<f64>>, TestCaseError> {
    let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for line in captured.lines() {
        let blob = common::check_blob(&line).map_err(TestCaseError::fail)?;
        if let Some(level) = level {
            prop_assert_eq!(blob.get("level").and_then(Value::as_str), Some(level));
        }
        for directive in blob["_aws"]["CloudWatchMetrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for definition in directive["Metrics"].as_array().into_iter().flatten() {
                let name = definition["Name"].as_str().unwrap_or_default();
                let in_blob: Vec<f64> = blob[name]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|v| v.as_f64().unwrap_or(f64::NAN))
                    .collect();
                let written = values.entry(name.to_owned()).or_default();
                if name.starts_with("fg_") || is_counter(name) {
                    prop_assert_eq!(in_blob.len(), 1, "one value per flush: {}", name);
                }
                if is_counter(name) {
                    let total = written.pop().unwrap_or(0.0) + in_blob.iter().sum::<f64>();
                    written.push(total);
                } else {
                    written.extend(in_blob);
                }
            }
        }
    }
    Ok(values)
}

fn same_values(
    mut accepted: BTreeMap<String, Vec<f64>>,
    mut written: BTreeMap<String, Vec<f64>>,
) -> Result<(), TestCaseError> {
    for values in accepted.values_mut().chain(written.values_mut()) {
        values.sort_by(f64::total_cmp);
    }
    prop_assert_eq!(
        accepted.keys().collect::<Vec<_>>(),
        written.keys().collect::<Vec<_>>()
    );
    for (name, accepted) in &accepted {
        let written = &written[name];
        prop_assert_eq!(accepted.len(), written.len(), "metric {:?}", name);
        for (a, w) in accepted.iter().zip(written) {
            // serde_json parses a float to within one unit in the last place.
            prop_assert!(
                (a - w).abs() <= a.abs() * 4.0 * f64::EPSILON,
                "metric {:?}: {} written as {}",
                name,
                a,
                w
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn every_blob_is_valid_and_values_in_are_values_out(
        defaults in defaults(),
        log_level in prop::sample::select(vec![None, Some("INFO"), Some("WARN"), Some("ERROR")]),
        ops in prop::collection::vec(op(), 0..40),
    ) {
        // Lambda's JSON logs at an application level above INFO: blobs carry `level`.
        let env: Vec<(&str, &str)> = log_level
            .map(|level| vec![("AWS_LAMBDA_LOG_FORMAT", "JSON"), ("AWS_LAMBDA_LOG_LEVEL", level)])
            .unwrap_or_default();
        let member = log_level.filter(|level| *level != "INFO");
        let (mut builder, captured) = common::builder(&env);
        for (name, value) in &defaults {
            builder = builder.default_dimension(name.clone(), value.clone());
        }
        // A refused configuration is an error at INIT; nothing to write.
        let Ok(m) = builder.build() else { return Ok(()) };
        let accepted = run(&m, &defaults, member.is_some(), ops);
        same_values(accepted, written(&captured, member)?)?;
    }
}
