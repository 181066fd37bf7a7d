//! EMF output, limits, splitting, flushing and the cold-start metric.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{NOW_MS, blobs, builder, check_blob, metrics, now};
use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use powertools_core::ColdStart;
use powertools_metrics::{
    Metrics, MetricsBuilder, MetricsError, MetricsRecorder, Resolution, Unit,
};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};

fn event(request_id: &str, payload: Value) -> LambdaEvent<Value> {
    let mut event = powertools_testing::test_event(request_id, payload);
    event.context.invoked_function_arn =
        "arn:aws:lambda:eu-west-1:123456789012:function:orders-api".to_owned();
    event
}

#[test]
fn writes_the_specified_blob() {
    let (builder, captured) = builder(&[]);
    let m = builder
        .default_dimension("environment", "prod")
        .build()
        .unwrap();
    m.add_metric("OrderAccepted", Unit::Count, 1.0).unwrap();
    m.add_metric_with_resolution("Latency", Unit::Milliseconds, Resolution::High, 12.5)
        .unwrap();
    m.add_metric_with_resolution("Latency", Unit::Milliseconds, Resolution::High, 14.0)
        .unwrap();
    m.add_metadata("order_id", json!("o-1001")).unwrap();
    m.flush().unwrap();
    let blobs = blobs(&captured);
    assert_eq!(
        blobs,
        [json!({
            "_aws": {"Timestamp": NOW_MS, "CloudWatchMetrics": [{"Namespace": "Orders",
                "Dimensions": [["service", "environment"]],
                "Metrics": [{"Name": "OrderAccepted", "Unit": "Count"},
                            {"Name": "Latency", "Unit": "Milliseconds", "StorageResolution": 1}]}]},
            "service": "orders", "environment": "prod",
            "OrderAccepted": [1.0], "Latency": [12.5, 14.0], "order_id": "o-1001"
        })]
    );
    // Values are JSON arrays of floats, as Powertools for Python writes them.
    assert!(
        captured.text().contains("\"OrderAccepted\":[1.0]"),
        "{}",
        captured.text()
    );
}

#[test]
fn multiple_dimension_sets() {
    let (m, captured) = metrics(&[]);
    m.add_dimension("environment", "prod").unwrap();
    m.add_dimension_set(&[("region", "eu-west-1")]).unwrap();
    m.add_metric("Orders", Unit::Count, 1.0).unwrap();
    m.flush().unwrap();
    let blob = &blobs(&captured)[0];
    assert_eq!(
        blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["service", "environment"], ["service", "region"]])
    );
    assert_eq!(blob["region"], "eu-west-1");
}

#[test]
fn namespace_is_required_and_validated() {
    let no_namespace = Metrics::builder()
        .env(powertools_core::Env::from_lookup(|_| None))
        .build();
    let message = no_namespace.unwrap_err().to_string();
    assert!(
        message.contains("POWERTOOLS_METRICS_NAMESPACE"),
        "{message}"
    );
    // CloudWatch's namespace characters: 0-9A-Za-z . - _ / # : and space.
    for good in ["Orders", "My App/Orders-2_v1.0#eu:west"] {
        let (b, _) = builder(&[]);
        assert!(b.namespace(good).build().is_ok(), "{good:?}");
    }
    for bad in [
        "",
        "AWS/Lambda",
        &"n".repeat(256),
        "Orders\u{e9}",
        "Orders\u{0}",
        "Orders\n",
        "Orders!",
        "Orders\"",
    ] {
        let (b, _) = builder(&[]);
        assert!(
            matches!(
                b.namespace(bad).build(),
                Err(MetricsError::InvalidNamespace(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn metric_names_at_and_past_the_limit() {
    let (m, captured) = metrics(&[]);
    assert!(m.add_metric(&"m".repeat(255), Unit::Count, 1.0).is_ok());
    assert!(matches!(
        m.add_metric(&"m".repeat(256), Unit::Count, 1.0),
        Err(MetricsError::InvalidMetricName(_))
    ));
    assert!(matches!(
        m.add_metric("", Unit::Count, 1.0),
        Err(MetricsError::InvalidMetricName(_))
    ));
    assert!(matches!(
        m.add_metric("   ", Unit::Count, 1.0),
        Err(MetricsError::InvalidMetricName(_))
    ));
    m.flush().unwrap();
    assert_eq!(blobs(&captured).len(), 1);
}

#[test]
fn dimension_names_and_values_at_and_past_the_limits() {
    let (m, captured) = metrics(&[]);
    assert!(m.add_dimension(&"d".repeat(250), "v").is_ok());
    assert!(matches!(
        m.add_dimension(&"d".repeat(251), "v"),
        Err(MetricsError::InvalidDimensionName(_))
    ));
    assert!(m.add_dimension("long_value", &"v".repeat(1024)).is_ok());
    assert!(matches!(
        m.add_dimension("too_long", &"v".repeat(1025)),
        Err(MetricsError::InvalidDimensionValue { .. })
    ));
    assert!(matches!(
        m.add_dimension("empty", ""),
        Err(MetricsError::InvalidDimensionValue { .. })
    ));
    assert!(matches!(
        m.add_dimension("blank", "  "),
        Err(MetricsError::InvalidDimensionValue { .. })
    ));
    assert!(matches!(
        m.add_dimension(":colon", "v"),
        Err(MetricsError::InvalidDimensionName(_))
    ));
    assert!(matches!(
        m.add_dimension("caf\u{e9}", "v"),
        Err(MetricsError::InvalidDimensionName(_))
    ));
    m.add_metric("M", Unit::Count, 1.0).unwrap();
    m.flush().unwrap();
    let blob = &blobs(&captured)[0];
    assert_eq!(
        blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
}

#[test]
fn twenty_nine_dimensions_beside_service_and_not_thirty() {
    let (m, captured) = metrics(&[]);
    for i in 0..29 {
        m.add_dimension(&format!("d{i}"), "v").unwrap();
    }
    assert_eq!(
        m.add_dimension("d29", "v"),
        Err(MetricsError::TooManyDimensions(31))
    );
    m.add_metric("M", Unit::Count, 1.0).unwrap();
    m.flush().unwrap();
    let blob = &blobs(&captured)[0];
    assert_eq!(
        blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
            .as_array()
            .map(Vec::len),
        Some(30)
    );

    // Default dimensions count too.
    let (mut b, _) = builder(&[]);
    for i in 0..29 {
        b = b.default_dimension(format!("d{i}"), "v");
    }
    let m = b.build().unwrap();
    assert_eq!(
        m.add_dimension("one_more", "v"),
        Err(MetricsError::TooManyDimensions(31))
    );
    assert!(m.add_dimension_set(&[("x", "y")]).is_err());
    let (mut b, _) = builder(&[]);
    for i in 0..30 {
        b = b.default_dimension(format!("d{i}"), "v");
    }
    assert_eq!(b.build().err(), Some(MetricsError::TooManyDimensions(31)));
}

#[test]
fn values_must_be_finite_and_storable() {
    let (m, _) = metrics(&[]);
    for bad in [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e109,
        -1e109,
        1e-110,
    ] {
        assert!(
            matches!(
                m.add_metric("M", Unit::Count, bad),
                Err(MetricsError::InvalidValue { .. })
            ),
            "{bad}"
        );
    }
    for good in [0.0, -0.0, 1e108, -5.5, 1e-108] {
        assert!(m.add_metric("M", Unit::Count, good).is_ok(), "{good}");
    }
}

#[test]
fn timestamps_within_fourteen_days_back_and_two_hours_ahead() {
    let (m, captured) = metrics(&[]);
    let day = Duration::from_secs(86_400);
    assert!(m.set_timestamp(now() - day * 14).is_ok());
    assert!(matches!(
        m.set_timestamp(now() - day * 14 - Duration::from_millis(1)),
        Err(MetricsError::InvalidTimestamp { .. })
    ));
    assert!(m.set_timestamp(now() + Duration::from_secs(7_200)).is_ok());
    assert!(matches!(
        m.set_timestamp(now() + Duration::from_secs(7_200) + Duration::from_millis(1)),
        Err(MetricsError::InvalidTimestamp { .. })
    ));
    m.add_metric("M", Unit::Count, 1.0).unwrap();
    m.flush().unwrap();
    assert_eq!(blobs(&captured)[0]["_aws"]["Timestamp"], NOW_MS + 7_200_000);
}

#[test]
fn root_members_never_clash() {
    let (m, _) = metrics(&[]);
    m.add_dimension("environment", "prod").unwrap();
    m.add_metric("Orders", Unit::Count, 1.0).unwrap();
    m.add_metadata("order_id", json!("o-1")).unwrap();
    assert!(matches!(
        m.add_metric("environment", Unit::Count, 1.0),
        Err(MetricsError::NameClash { .. })
    ));
    assert!(matches!(
        m.add_metric("service", Unit::Count, 1.0),
        Err(MetricsError::NameClash { .. })
    ));
    assert!(matches!(
        m.add_metric("order_id", Unit::Count, 1.0),
        Err(MetricsError::NameClash { .. })
    ));
    assert!(matches!(
        m.add_dimension("Orders", "x"),
        Err(MetricsError::NameClash { .. })
    ));
    assert!(matches!(
        m.add_metadata("Orders", json!(1)),
        Err(MetricsError::NameClash { .. })
    ));
    assert!(matches!(
        m.add_metadata("_aws", json!(1)),
        Err(MetricsError::NameClash { .. })
    ));
    assert!(matches!(
        m.add_dimension("environment", "dev"),
        Err(MetricsError::ConflictingDimension { .. })
    ));
    assert!(matches!(
        m.add_dimension("service", "other"),
        Err(MetricsError::ConflictingDimension { .. })
    ));
    assert!(matches!(
        m.add_metric("Orders", Unit::Seconds, 1.0),
        Err(MetricsError::ConflictingMetric { .. })
    ));
    assert!(matches!(
        m.add_metric_with_resolution("Orders", Unit::Count, Resolution::High, 1.0),
        Err(MetricsError::ConflictingMetric { .. })
    ));
}

#[test]
fn one_hundred_metrics_fit_one_blob_and_the_101st_starts_another() {
    for (count, expected_blobs) in [(100, 1), (101, 2), (250, 3)] {
        let (m, captured) = metrics(&[]);
        m.add_metadata("order_id", json!("o-1")).unwrap();
        for i in 0..count {
            m.add_metric(&format!("metric_{i}"), Unit::Count, i as f64)
                .unwrap();
        }
        m.flush().unwrap();
        let blobs = blobs(&captured);
        assert_eq!(blobs.len(), expected_blobs, "{count} metrics");
        let written: usize = blobs
            .iter()
            .map(|b| {
                b["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .map_or(0, Vec::len)
            })
            .sum();
        assert_eq!(written, count, "nothing dropped");
        assert!(
            blobs
                .iter()
                .all(|b| b["order_id"] == "o-1" && b["service"] == "orders")
        );
    }
}

#[test]
fn one_hundred_values_fit_one_blob_and_the_101st_starts_another() {
    for (count, expected_blobs) in [(100, 1), (101, 2), (350, 4)] {
        let (m, captured) = metrics(&[]);
        for i in 0..count {
            m.add_metric("Latency", Unit::Milliseconds, i as f64)
                .unwrap();
        }
        m.flush().unwrap();
        let blobs = blobs(&captured);
        assert_eq!(blobs.len(), expected_blobs, "{count} values");
        let values: Vec<f64> = blobs
            .iter()
            .flat_map(|b| b["Latency"].as_array().cloned().unwrap_or_default())
            .filter_map(|v| v.as_f64())
            .collect();
        assert_eq!(values, (0..count).map(|i| i as f64).collect::<Vec<_>>());
    }
}

#[test]
fn huge_metadata_never_breaks_the_256_kb_limit() {
    let (m, captured) = metrics(&[]);
    m.add_metadata("payload", json!("x".repeat(300_000)))
        .unwrap();
    m.add_metric("M", Unit::Count, 1.0).unwrap();
    m.flush().unwrap();
    let blobs = blobs(&captured);
    assert_eq!(blobs.len(), 1);
    assert_eq!(blobs[0]["M"], json!([1.0]));
}

#[test]
fn metadata_too_large_for_any_blob_is_left_out_once_not_per_metric() {
    let (m, captured) = metrics(&[]);
    m.add_metadata("payload", json!("x".repeat(300_000)))
        .unwrap();
    for i in 0..100 {
        m.add_metric(&format!("M{i}"), Unit::Count, f64::from(i))
            .unwrap();
    }
    m.flush().unwrap();
    let blobs = blobs(&captured);
    // Not one blob per metric: once the metadata is known not to fit, the rest go together.
    assert!(blobs.len() <= 8, "{} blobs", blobs.len());
    for i in 0..100 {
        let holding: Vec<&Value> = blobs
            .iter()
            .filter(|b| b.get(format!("M{i}")).is_some())
            .collect();
        assert_eq!(holding.len(), 1);
        assert_eq!(holding[0][format!("M{i}")], json!([f64::from(i)]));
    }
}

#[test]
fn single_metric_has_its_own_blob_and_dimensions() {
    let (m, captured) = metrics(&[]);
    m.add_metric("Orders", Unit::Count, 1.0).unwrap();
    m.single_metric("Refunds", Unit::Count, 2.0, &[("reason", "damaged")])
        .unwrap();
    let blobs_now = blobs(&captured);
    assert_eq!(blobs_now.len(), 1);
    assert_eq!(blobs_now[0]["reason"], "damaged");
    assert!(blobs_now[0].get("Orders").is_none());
    assert!(
        m.single_metric("Refunds", Unit::Count, 2.0, &[("reason", "")])
            .is_err()
    );
}

#[test]
fn disabled_writes_nothing() {
    let (m, captured) = metrics(&[("POWERTOOLS_METRICS_DISABLED", "true")]);
    m.add_metric("M", Unit::Count, 1.0).unwrap();
    m.flush().unwrap();
    assert!(captured.text().is_empty());
}

async fn handler(metrics: Metrics, event: LambdaEvent<Value>) -> Result<Value, Error> {
    if let Some(n) = event.payload["orders"].as_f64() {
        metrics.add_metric("OrderAccepted", Unit::Count, n)?;
        metrics.add_metadata("request", json!(event.context.request_id))?;
    }
    if let Some(message) = event.payload["fail"].as_str() {
        return Err(message.into());
    }
    Ok(json!({"ok": true}))
}

async fn invoke(
    m: &Metrics,
    flag: &Arc<ColdStart>,
    request_id: &str,
    payload: Value,
) -> Result<Value, Diagnostic> {
    let handler_metrics = m.clone();
    let service = m
        .layer()
        .with_cold_start_flag(Arc::clone(flag))
        .layer(service_fn(move |e| handler(handler_metrics.clone(), e)));
    service
        .oneshot(event(request_id, payload))
        .await
        .map_err(Diagnostic::from)
}

fn cold_start_blobs(blobs: &[Value]) -> Vec<&Value> {
    blobs
        .iter()
        .filter(|b| b.get("ColdStart").is_some())
        .collect()
}

#[tokio::test]
async fn flushes_after_every_invocation_including_failed_ones() {
    let (m, captured) = metrics(&[]);
    let flag = Arc::new(ColdStart::new());
    let ok = invoke(&m, &flag, "r1", json!({"orders": 1})).await;
    assert!(ok.is_ok());
    let failed = invoke(
        &m,
        &flag,
        "r2",
        json!({"orders": 2, "fail": "payment declined"}),
    )
    .await;
    // The handler's error passes through unchanged.
    assert_eq!(
        failed.err().map(|d| d.error_message),
        Some("payment declined".to_owned())
    );
    let blobs = blobs(&captured);
    let orders: Vec<&Value> = blobs
        .iter()
        .filter(|b| b.get("OrderAccepted").is_some())
        .collect();
    assert_eq!(orders.len(), 2);
    assert_eq!(orders[0]["request"], "r1");
    assert_eq!(orders[1]["request"], "r2");
    assert_eq!(orders[1]["OrderAccepted"], json!([2.0]));
}

#[tokio::test]
async fn cold_start_metric_once_and_never_on_a_warm_invocation() {
    let (m, captured) = metrics(&[]);
    let flag = Arc::new(ColdStart::new());
    for n in 0..3 {
        let _ = invoke(&m, &flag, &format!("r{n}"), json!({"orders": 1})).await;
    }
    let blobs = blobs(&captured);
    let cold = cold_start_blobs(&blobs);
    assert_eq!(cold.len(), 1);
    assert_eq!(
        *cold[0],
        json!({
            "_aws": {"Timestamp": NOW_MS, "CloudWatchMetrics": [{"Namespace": "Orders",
                "Dimensions": [["function_name", "service"]],
                "Metrics": [{"Name": "ColdStart", "Unit": "Count"}]}]},
            "function_name": "orders-api", "service": "orders", "ColdStart": [1.0]
        })
    );
    // The cold start is a blob of its own, not mixed with the invocation's metrics.
    assert!(cold[0].get("OrderAccepted").is_none());
}

#[tokio::test]
async fn cold_start_function_name_override_and_default_dimensions() {
    let (builder, captured) = builder(&[("POWERTOOLS_METRICS_FUNCTION_NAME", "orders-renamed")]);
    let m = builder
        .default_dimension("environment", "prod")
        .build()
        .unwrap();
    let _ = invoke(&m, &Arc::new(ColdStart::new()), "r", json!({"orders": 1})).await;
    let blobs = blobs(&captured);
    let cold = cold_start_blobs(&blobs);
    assert_eq!(cold[0]["function_name"], "orders-renamed");
    assert_eq!(cold[0]["environment"], "prod");
    assert_eq!(
        cold[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["function_name", "service", "environment"]])
    );
}

#[tokio::test]
async fn no_cold_start_metric_under_provisioned_concurrency() {
    let (m, captured) = metrics(&[("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")]);
    let flag = Arc::new(ColdStart::new());
    let _ = invoke(&m, &flag, "r1", json!({"orders": 1})).await;
    let _ = invoke(&m, &flag, "r2", json!({"orders": 1})).await;
    assert!(cold_start_blobs(&blobs(&captured)).is_empty());
}

#[tokio::test]
async fn empty_invocation_warns_or_fails_with_a_stable_error_type() {
    let (m, captured) = metrics(&[]);
    let flag = Arc::new(ColdStart::new());
    assert!(invoke(&m, &flag, "r", json!({})).await.is_ok());
    assert!(
        blobs(&captured)
            .iter()
            .all(|b| b.get("ColdStart").is_some())
    );

    let (b, _) = builder(&[]);
    let strict = b.raise_on_empty_metrics(true).build().unwrap();
    let error = invoke(&strict, &flag, "r", json!({})).await.err();
    assert_eq!(
        error.as_ref().map(|d| d.error_type.as_str()),
        Some("SchemaValidationError")
    );
    assert!(
        invoke(&strict, &flag, "r", json!({"orders": 1}))
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_do_not_mix_metrics() {
    let (m, captured) = metrics(&[]);
    let flag = Arc::new(ColdStart::new());
    let handler_metrics = m.clone();
    let service =
        m.layer()
            .with_cold_start_flag(flag)
            .layer(service_fn(move |e: LambdaEvent<Value>| {
                let metrics = handler_metrics.clone();
                async move {
                    let n = e.payload["n"].as_f64().unwrap_or(0.0);
                    metrics.add_dimension("tenant", &format!("t{n}"))?;
                    for step in 0..5u64 {
                        metrics.add_metric("Work", Unit::Count, n)?;
                        tokio::time::sleep(Duration::from_micros(
                            (n as u64 * 37 + step * 11) % 300,
                        ))
                        .await;
                    }
                    metrics.add_metadata("request", json!(e.context.request_id))?;
                    Ok::<_, Error>(())
                }
            }));
    let tasks: Vec<_> = (0..40)
        .map(|n| {
            tokio::spawn(
                service
                    .clone()
                    .oneshot(event(&format!("req-{n}"), json!({"n": n}))),
            )
        })
        .collect();
    for task in tasks {
        assert!(matches!(task.await, Ok(Ok(()))));
    }
    let blobs = blobs(&captured);
    let work: Vec<&Value> = blobs.iter().filter(|b| b.get("Work").is_some()).collect();
    assert_eq!(work.len(), 40);
    for blob in work {
        let n = blob["request"]
            .as_str()
            .and_then(|r| r.strip_prefix("req-"))
            .unwrap_or("?");
        assert_eq!(blob["tenant"], format!("t{n}"), "{blob}");
        let expected: f64 = n.parse().unwrap_or(-1.0);
        assert_eq!(blob["Work"], json!(vec![expected; 5]), "{blob}");
    }
}

#[tokio::test]
async fn metrics_macros_land_in_the_same_emf() {
    let (m, captured) = metrics(&[]);
    let recorder = MetricsRecorder::new(m.clone());
    let flag = Arc::new(ColdStart::new());
    let service =
        m.layer()
            .with_cold_start_flag(flag)
            .layer(service_fn(|_e: LambdaEvent<Value>| async {
                metrics::counter!("orders_accepted").increment(2);
                metrics::counter!("orders_accepted").increment(1);
                metrics::gauge!("queue_depth").set(7.0);
                metrics::histogram!("latency").record(12.5);
                metrics::histogram!("latency", "route" => "/orders").record(20.0);
                metrics::histogram!("upload", "route" => "/orders").record(2.0);
                Ok::<_, Error>(())
            }));
    metrics::with_local_recorder(&recorder, || {
        metrics::describe_histogram!("latency", metrics::Unit::Milliseconds, "order latency");
        metrics::describe_histogram!("upload", metrics::Unit::Kibibytes, "upload size");
    });
    let call = service.oneshot(event("r", json!({})));
    // The local recorder is thread-scoped: drive the invocation on this thread.
    let result = {
        let _guard = metrics::set_default_local_recorder(&recorder);
        call.await
    };
    assert!(result.is_ok());
    let blobs = blobs(&captured);
    let main = blobs
        .iter()
        .find(|b| b.get("orders_accepted").is_some())
        .cloned()
        .expect("a blob with the counter");
    // Counters are summed per flush (see `tests/facade.rs` for the whole mapping).
    assert_eq!(main["orders_accepted"], json!([3.0]));
    assert_eq!(main["queue_depth"], json!([7.0]));
    assert_eq!(main["latency"], json!([12.5]));
    let units: Vec<(String, String)> = main["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["Name"].as_str().unwrap_or("").to_owned(),
                d["Unit"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(
        units.contains(&("orders_accepted".into(), "Count".into())),
        "{units:?}"
    );
    assert!(
        units.contains(&("latency".into(), "Milliseconds".into())),
        "{units:?}"
    );
    assert!(
        units.contains(&("queue_depth".into(), "None".into())),
        "{units:?}"
    );
    let labeled = blobs
        .iter()
        .find(|b| b.get("route").is_some())
        .cloned()
        .expect("a blob of the labeled set");
    assert_eq!(
        labeled["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["service", "route"]])
    );
    assert_eq!(labeled["latency"], json!([20.0]));
    assert_eq!(labeled["upload"], json!([2048.0]), "KiB converted to Bytes");
}

#[test]
fn the_validator_catches_broken_blobs() {
    let good = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["service"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"service":"s","M":[1.0]}"#;
    assert!(check_blob(good).is_ok());
    let broken = [
        good.replace(",\"service\":\"s\"", ""),
        good.replace(",\"M\":[1.0]", ""),
        good.replace("\"Count\"", "\"Counts\""),
        good.replace("\"Timestamp\":1", "\"Timestamp\":\"1\""),
        good.replace("\"service\":\"s\"", "\"service\":\"\""),
        good.replace(
            "[\"service\"]",
            &format!(
                "[{}]",
                (0..31)
                    .map(|i| format!("\"d{i}\""))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ),
        // A dimension set repeating a key.
        good.replace("[\"service\"]", "[\"service\",\"service\"]"),
        // A root key written twice (the parsed value would keep only the last).
        good.replace(",\"M\":[1.0]", ",\"M\":[1.0],\"M\":[2.0]"),
        // A metric named `_aws`: two root `_aws` keys.
        good.replace("\"Name\":\"M\"", "\"Name\":\"_aws\"")
            .replace(",\"M\":[1.0]", ",\"_aws\":[1.0]"),
        // A dimension named `_aws`.
        good.replace("[\"service\"]", "[\"_aws\"]"),
        // One metric defined twice in a directive.
        good.replace(
            "{\"Name\":\"M\",\"Unit\":\"Count\"}",
            "{\"Name\":\"M\",\"Unit\":\"Count\"},{\"Name\":\"M\",\"Unit\":\"Count\"}",
        ),
        // Past 256 KB.
        good.replace(
            "\"M\":[1.0]",
            &format!("\"M\":[1.0],\"big\":\"{}\"", "x".repeat(256 * 1024)),
        ),
    ];
    for blob in broken {
        assert!(
            check_blob(&blob).is_err(),
            "{}",
            &blob[..blob.len().min(400)]
        );
    }
}

#[tokio::test]
#[allow(clippy::panic)] // the handler under test panics on purpose
async fn a_panicking_handler_still_flushes_its_metrics_and_the_panic_goes_on() {
    let (m, captured) = metrics(&[]);
    let flag = Arc::new(ColdStart::new());
    let handler_metrics = m.clone();
    let service =
        m.layer()
            .with_cold_start_flag(flag)
            .layer(service_fn(move |e: LambdaEvent<Value>| {
                let metrics = handler_metrics.clone();
                async move {
                    metrics.add_metric("BeforePanic", Unit::Count, 3.0)?;
                    metrics.add_metadata("request", json!(e.context.request_id))?;
                    tokio::task::yield_now().await;
                    if e.payload["panic"] == json!(true) {
                        std::panic::panic_any(String::from("handler exploded"));
                    }
                    Ok::<_, Error>(())
                }
            }));
    let outcome =
        powertools_core::catch_panic(|| service.oneshot(event("r-panic", json!({"panic": true}))))
            .await;
    // The panic reaches the caller (lambda_runtime) with its own message.
    assert_eq!(
        outcome.err().map(|p| p.message().to_owned()),
        Some("handler exploded".to_owned())
    );
    let blobs = blobs(&captured);
    assert_eq!(cold_start_blobs(&blobs).len(), 1, "{blobs:?}");
    let flushed: Vec<&Value> = blobs
        .iter()
        .filter(|b| b.get("BeforePanic").is_some())
        .collect();
    assert_eq!(flushed.len(), 1, "{blobs:?}");
    assert_eq!(flushed[0]["BeforePanic"], json!([3.0]));
    assert_eq!(flushed[0]["request"], "r-panic");
}

#[test]
fn the_aws_key_is_never_a_metric_or_dimension_name() {
    let (m, captured) = metrics(&[]);
    assert!(matches!(
        m.add_metric("_aws", Unit::Count, 1.0),
        Err(MetricsError::NameClash { .. })
    ));
    assert!(matches!(
        m.add_dimension("_aws", "x"),
        Err(MetricsError::NameClash { .. })
    ));
    assert!(matches!(
        m.add_dimension_set(&[("_aws", "x")]),
        Err(MetricsError::NameClash { .. })
    ));
    assert!(matches!(
        m.single_metric("_aws", Unit::Count, 1.0, &[]),
        Err(MetricsError::NameClash { .. })
    ));
    assert!(matches!(
        m.single_metric("M", Unit::Count, 1.0, &[("_aws", "x")]),
        Err(MetricsError::NameClash { .. })
    ));
    let (b, _) = builder(&[]);
    assert!(matches!(
        b.default_dimension("_aws", "x").build(),
        Err(MetricsError::NameClash { .. })
    ));
    m.add_metric("M", Unit::Count, 1.0).unwrap();
    m.flush().unwrap();
    assert_eq!(blobs(&captured).len(), 1);
}

#[test]
fn a_dimension_set_repeating_a_key_writes_each_key_once() {
    let (b, captured) = builder(&[]);
    let m = b.default_dimension("environment", "prod").build().unwrap();
    m.add_dimension("tenant", "t1").unwrap();
    // `service` and `environment` are in every set already; `tenant` has the same value.
    m.add_dimension_set(&[
        ("service", "orders"),
        ("environment", "prod"),
        ("region", "eu-west-1"),
        ("region", "eu-west-1"),
        ("tenant", "t1"),
    ])
    .unwrap();
    // Another value for a key already present is refused, within the set too.
    assert!(matches!(
        m.add_dimension_set(&[("service", "payments")]),
        Err(MetricsError::ConflictingDimension { .. })
    ));
    assert!(matches!(
        m.add_dimension_set(&[("zone", "a"), ("zone", "b")]),
        Err(MetricsError::ConflictingDimension { .. })
    ));
    m.add_metric("M", Unit::Count, 1.0).unwrap();
    m.flush().unwrap();
    let blobs = blobs(&captured);
    assert_eq!(
        blobs[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([
            ["service", "environment", "tenant"],
            ["service", "environment", "region", "tenant"]
        ])
    );
    assert!(blobs[0].get("zone").is_none());
}

#[test]
fn dimension_sets_never_push_a_blob_past_256_kb() {
    let (m, captured) = metrics(&[]);
    let value = "v".repeat(1024);
    let mut refused = None;
    for set in 0..100 {
        let names: Vec<String> = (0..29)
            .map(|i| format!("{set:03}_{i:02}_{}", "d".repeat(240)))
            .collect();
        let dimensions: Vec<(&str, &str)> =
            names.iter().map(|n| (n.as_str(), value.as_str())).collect();
        if let Err(e) = m.add_dimension_set(&dimensions) {
            refused = Some(e);
            break;
        }
    }
    assert!(
        matches!(refused, Some(MetricsError::DimensionsTooLarge { .. })),
        "{refused:?}"
    );
    // The sets that were accepted still leave room for every metric: nothing is lost.
    for i in 0..150 {
        m.add_metric(
            &format!("Metric{i}{}", "m".repeat(200)),
            Unit::Count,
            f64::from(i),
        )
        .unwrap();
    }
    m.flush().unwrap();
    let blobs = blobs(&captured);
    let mut seen: Vec<f64> = blobs
        .iter()
        .flat_map(|b| {
            b.as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| k.starts_with("Metric"))
                .flat_map(|(_, v)| v.as_array().cloned().unwrap_or_default())
                .filter_map(|v| v.as_f64())
                .collect::<Vec<_>>()
        })
        .collect();
    seen.sort_by(f64::total_cmp);
    assert_eq!(seen, (0..150).map(f64::from).collect::<Vec<_>>());
}

/// Records through the facade inside one invocation and returns the blobs.
async fn record_with_labels(record: fn()) -> Vec<Value> {
    let (m, captured) = metrics(&[]);
    let recorder = MetricsRecorder::new(m.clone());
    let service = m
        .layer()
        .with_cold_start_flag(Arc::new(ColdStart::new()))
        .layer(service_fn(move |_e: LambdaEvent<Value>| async move {
            record();
            Ok::<_, Error>(())
        }));
    let call = service.oneshot(event("r", json!({})));
    let result = {
        let _guard = metrics::set_default_local_recorder(&recorder);
        call.await
    };
    assert!(result.is_ok());
    blobs(&captured)
        .into_iter()
        .filter(|b| b.get("ColdStart").is_none())
        .collect()
}

#[tokio::test]
async fn facade_labels_never_make_an_invalid_blob_or_lose_a_value() {
    // 31 labels: more than a dimension set holds beside `service`.
    let blobs = record_with_labels(|| {
        let labels: Vec<metrics::Label> = (0..31)
            .map(|i| metrics::Label::new(format!("l{i}"), "v"))
            .collect();
        metrics::counter!("too_many", labels).increment(1);
        metrics::counter!("fine", "l" => "v").increment(1);
    })
    .await;
    assert!(
        blobs.iter().all(|b| b.get("too_many").is_none()),
        "{blobs:?}"
    );
    assert_eq!(blobs.len(), 1);
    assert_eq!(blobs[0]["fine"], json!([1.0]));

    // A repeated key: the same value is one dimension; two values cannot be written.
    let blobs = record_with_labels(|| {
        metrics::counter!("same", "k" => "a", "k" => "a").increment(2);
        metrics::counter!("twice", "k" => "a", "k" => "b").increment(1);
    })
    .await;
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    assert_eq!(blobs[0]["same"], json!([2.0]));
    assert_eq!(blobs[0]["k"], "a");
    assert_eq!(
        blobs[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["service", "k"]])
    );

    // `service` as a label: its own value only (another would be lost).
    let blobs = record_with_labels(|| {
        metrics::counter!("own_service", "service" => "orders").increment(3);
        metrics::counter!("other_service", "service" => "payments").increment(4);
        metrics::counter!("aws", "_aws" => "x").increment(5);
    })
    .await;
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    assert_eq!(blobs[0]["own_service"], json!([3.0]));
    assert_eq!(blobs[0]["service"], "orders");
    assert!(blobs[0].get("other_service").is_none());
    assert!(blobs[0].get("aws").is_none());
}

/// Every blob of one cold-start invocation that adds a metric, plus a `single_metric` blob.
async fn blobs_with(
    env: &[(&str, &str)],
    configure: fn(MetricsBuilder) -> MetricsBuilder,
) -> Vec<Value> {
    let (b, captured) = builder(env);
    let m = configure(b).build().unwrap();
    let _ = invoke(&m, &Arc::new(ColdStart::new()), "r", json!({"orders": 1})).await;
    m.single_metric("Single", Unit::Count, 1.0, &[("kind", "one")])
        .unwrap();
    let blobs = blobs(&captured);
    assert_eq!(blobs.len(), 3, "{blobs:?}");
    blobs
}

#[tokio::test]
async fn json_logs_above_info_keep_every_blob_with_a_level_member() {
    for level in ["WARN", "ERROR", "FATAL", "warn"] {
        let env = [
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", level),
        ];
        for blob in blobs_with(&env, |b| b).await {
            // Lambda drops a JSON line without `level` below the application level: each blob
            // carries the application level, so it is kept.
            assert_eq!(blob["level"], level.to_uppercase(), "{blob}");
        }
    }
    // Not needed at INFO and below, nor with text logs.
    for env in [
        [
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
        ],
        [
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "DEBUG"),
        ],
        [
            ("AWS_LAMBDA_LOG_FORMAT", "Text"),
            ("AWS_LAMBDA_LOG_LEVEL", "ERROR"),
        ],
        [
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", ""),
        ],
    ] {
        for blob in blobs_with(&env, |b| b).await {
            assert!(blob.get("level").is_none(), "{env:?}: {blob}");
        }
    }
    // Explicit choices beat the environment.
    let env = [
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_LEVEL", "ERROR"),
    ];
    for blob in blobs_with(&env, |b| b.log_level_key(false)).await {
        assert!(blob.get("level").is_none(), "{blob}");
    }
    for blob in blobs_with(&[], |b| b.log_level_key(true)).await {
        assert_eq!(blob["level"], "INFO", "{blob}");
    }
}

#[tokio::test]
async fn level_is_refused_as_a_name_when_blobs_carry_it() {
    let env = [
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
    ];
    let (m, captured) = metrics(&env);
    assert!(matches!(
        m.add_metric("level", Unit::Count, 1.0),
        Err(MetricsError::NameClash { .. })
    ));
    assert!(matches!(
        m.add_dimension("level", "high"),
        Err(MetricsError::NameClash { .. })
    ));
    assert!(matches!(
        m.add_dimension_set(&[("level", "high")]),
        Err(MetricsError::NameClash { .. })
    ));
    assert!(matches!(
        m.add_metadata("level", json!("high")),
        Err(MetricsError::NameClash { .. })
    ));
    assert!(matches!(
        m.single_metric("level", Unit::Count, 1.0, &[]),
        Err(MetricsError::NameClash { .. })
    ));
    let (b, _) = builder(&env);
    assert!(matches!(
        b.default_dimension("level", "high").build(),
        Err(MetricsError::NameClash { .. })
    ));
    let recorder = MetricsRecorder::new(m.clone());
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("level").increment(1);
        metrics::counter!("by_level", "level" => "high").increment(1);
        metrics::counter!("fine").increment(1);
    });
    m.flush().unwrap();
    let blobs = blobs(&captured);
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    assert_eq!(blobs[0]["level"], "WARN");
    assert_eq!(blobs[0]["fine"], json!([1.0]));

    // Without the member, `level` is an ordinary name.
    let (m, _) = metrics(&[]);
    assert!(m.add_metric("level", Unit::Count, 1.0).is_ok());
}

#[test]
fn a_malformed_service_name_in_the_environment_falls_back_to_the_default() {
    let reported = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Arc::clone(&reported);
    let captured = powertools_testing::CapturedOutput::new();
    let m = Metrics::builder()
        .env(
            powertools_core::Env::from_pairs([
                ("POWERTOOLS_METRICS_NAMESPACE", "Orders"),
                ("POWERTOOLS_SERVICE_NAME", "commandes-\u{e9}t\u{e9}"),
                ("POWERTOOLS_METRICS_FUNCTION_NAME", "\u{1F600}"),
            ])
            .with_reporter(move |m| {
                if let Ok(mut r) = sink.lock() {
                    r.push(m.key.clone());
                }
            }),
        )
        .writer(captured.line_writer())
        .build()
        .unwrap();
    m.add_metric("M", Unit::Count, 1.0).unwrap();
    m.flush().unwrap();
    assert_eq!(blobs(&captured)[0]["service"], "service_undefined");
    assert_eq!(
        *reported.lock().unwrap(),
        [
            "POWERTOOLS_SERVICE_NAME",
            "POWERTOOLS_METRICS_FUNCTION_NAME"
        ]
    );
    // An explicit value is validated.
    let (b, _) = builder(&[]);
    assert!(b.service_name("\u{e9}").build().is_err());
    let (b, _) = builder(&[]);
    assert!(b.function_name("").build().is_err());
    let (b, _) = builder(&[]);
    assert_eq!(
        b.service_name("  ").build().unwrap_err(),
        MetricsError::Config(powertools_core::ConfigError::EmptyServiceName)
    );
}

/// One invocation that adds a metric; the service name of the scope the layer opened.
async fn service_name_in_scope(m: &Metrics) -> String {
    let handler_metrics = m.clone();
    let service = m
        .layer()
        .with_cold_start_flag(Arc::new(ColdStart::new()))
        .layer(service_fn(move |_e: LambdaEvent<Value>| {
            let metrics = handler_metrics.clone();
            async move {
                metrics.add_metric("M", Unit::Count, 1.0)?;
                let invocation = powertools_core::Invocation::current().ok_or("no scope")?;
                Ok::<_, Error>(invocation.config().service_name().to_owned())
            }
        }));
    service.oneshot(event("r", json!({}))).await.unwrap()
}

#[tokio::test]
async fn the_invocation_scope_and_the_service_dimension_name_the_same_service() {
    // The environment says `orders`; the explicit name wins for the scope and the dimension.
    let (b, captured) = builder(&[]);
    let m = b.service_name("payments").build().unwrap();
    assert_eq!(service_name_in_scope(&m).await, "payments");
    let blobs = blobs(&captured);
    assert_eq!(blobs.len(), 2, "{blobs:?}");
    assert!(
        blobs.iter().all(|b| b["service"] == "payments"),
        "{blobs:?}"
    );
}

#[tokio::test]
async fn a_malformed_service_name_from_the_environment_is_replaced_in_the_scope_too() {
    let (b, captured) = builder(&[("POWERTOOLS_SERVICE_NAME", "commandes-\u{e9}t\u{e9}")]);
    let m = b.build().unwrap();
    assert_eq!(service_name_in_scope(&m).await, "service_undefined");
    let blobs = blobs(&captured);
    assert_eq!(blobs.len(), 2, "{blobs:?}");
    assert!(
        blobs.iter().all(|b| b["service"] == "service_undefined"),
        "{blobs:?}"
    );
}
