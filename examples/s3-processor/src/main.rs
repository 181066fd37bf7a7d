//! An S3-triggered processor: each CSV of orders uploaded under `incoming/` is read, checked row
//! by row, and summarised as JSON under `reports/` in the same bucket.
//!
//! The CSV has the header `order_id,sku,quantity` and one order per line (no quoted fields). A
//! row with three non-empty fields and a positive whole quantity is accepted; any other row is
//! rejected and reported by its line number only (the file's contents never reach a log line or
//! an error). For `incoming/2026/12/orders.csv` the summary is `reports/2026/12/orders.csv.json`:
//!
//! ```json
//! {"source": "s3://bucket/incoming/2026/12/orders.csv", "rows": 3, "accepted": 2,
//!  "rejected_lines": [3], "units_by_sku": {"BOOK-1984": 2, "PEN": 10}}
//! ```
//!
//! S3 may deliver a notification more than once: writing the same summary again is harmless, so
//! no idempotency store is needed. Keys arrive URL-encoded and are decoded first. An object over
//! `MAX_OBJECT_BYTES` (default 16 MiB) is refused unread.
//!
//! Environment: `MAX_OBJECT_BYTES` (optional), plus the Powertools variables. Deploy with
//! `template.yaml` (the bucket's notification filter is `incoming/`, so the reports written under
//! `reports/` do not trigger the function).

use std::collections::BTreeMap;

use aws_config::BehaviorVersion;
use aws_lambda_events::s3::{S3Event, S3EventRecord};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use powertools_logger::Logger;
use powertools_metrics::{Metrics, Unit};
use powertools_tracer::Tracer;
use serde::Serialize;
use tower::ServiceBuilder;

const INCOMING: &str = "incoming/";
const REPORTS: &str = "reports/";
const HEADER: &str = "order_id,sku,quantity";
const DEFAULT_MAX_OBJECT_BYTES: u64 = 16 * 1024 * 1024;

/// The summary of one file.
#[derive(Debug, Default, Serialize)]
struct Summary {
    source: String,
    rows: usize,
    accepted: usize,
    rejected_lines: Vec<usize>,
    units_by_sku: BTreeMap<String, u64>,
}

/// Checks the CSV `text` row by row.
fn summarise(source: String, text: &str) -> Result<Summary, String> {
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some(HEADER) {
        return Err(format!(
            "{source} is not an orders CSV: its first line must be `{HEADER}`"
        ));
    }
    let mut summary = Summary {
        source,
        ..Summary::default()
    };
    for (index, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        summary.rows += 1;
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let quantity = fields.get(2).and_then(|q| q.parse::<u64>().ok());
        match (fields.as_slice(), quantity) {
            ([order_id, sku, _], Some(quantity))
                if !order_id.is_empty() && !sku.is_empty() && quantity > 0 =>
            {
                summary.accepted += 1;
                let units = summary.units_by_sku.entry((*sku).to_owned()).or_default();
                *units = units.saturating_add(quantity);
            }
            // Line numbers count from 1, the header being line 1.
            _ => summary.rejected_lines.push(index + 2),
        }
    }
    Ok(summary)
}

/// Decodes a key as S3 event notifications carry it (`+` for a space, `%XX` for other bytes).
fn decode_key(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => decoded.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                decoded.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            other => decoded.push(other),
        }
        i += 1;
    }
    String::from_utf8(decoded).ok()
}

struct Processor {
    s3: aws_sdk_s3::Client,
    metrics: Metrics,
    max_object_bytes: u64,
}

impl Processor {
    async fn handle(&self, event: LambdaEvent<S3Event>) -> Result<(), Error> {
        for record in &event.payload.records {
            self.file(record).await?;
        }
        Ok(())
    }

    async fn file(&self, record: &S3EventRecord) -> Result<(), Error> {
        let bucket = record
            .s3
            .bucket
            .name
            .as_deref()
            .ok_or("an S3 record without a bucket name")?;
        let encoded = record
            .s3
            .object
            .key
            .as_deref()
            .ok_or("an S3 record without an object key")?;
        let key = decode_key(encoded).ok_or("an S3 record whose key is not URL-encoded UTF-8")?;
        let Some(name) = key.strip_prefix(INCOMING) else {
            // Only a misconfigured notification sends these; never process our own reports.
            tracing::warn!(bucket, key = key.as_str(), "skipped: not under incoming/");
            return Ok(());
        };
        let source = format!("s3://{bucket}/{key}");
        if let Some(size) = record.s3.object.size
            && u64::try_from(size).unwrap_or(u64::MAX) > self.max_object_bytes
        {
            return Err(format!(
                "{source} is {size} bytes, over MAX_OBJECT_BYTES ({}): not read",
                self.max_object_bytes
            )
            .into());
        }

        // The version the notification is about (on a versioned bucket), and its size checked
        // again: the object may have been replaced since.
        let object = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(&key)
            .set_version_id(record.s3.object.version_id.clone())
            .send()
            .await?;
        let length = object.content_length().unwrap_or_default();
        if u64::try_from(length).unwrap_or(u64::MAX) > self.max_object_bytes {
            return Err(format!(
                "{source} is now {length} bytes, over MAX_OBJECT_BYTES ({}): not read",
                self.max_object_bytes
            )
            .into());
        }
        let bytes = object.body.collect().await?.into_bytes();
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| format!("{source} is not UTF-8 text (from byte {})", e.valid_up_to()))?;
        let summary = summarise(source, text)?;

        let report_key = format!("{REPORTS}{name}.json");
        self.s3
            .put_object()
            .bucket(bucket)
            .key(&report_key)
            .content_type("application/json")
            .body(serde_json::to_vec(&summary)?.into())
            .send()
            .await?;
        tracing::info!(
            source = summary.source.as_str(),
            report = report_key.as_str(),
            rows = summary.rows,
            accepted = summary.accepted,
            rejected = summary.rejected_lines.len(),
            "file processed"
        );
        self.metrics
            .add_metric("RowsAccepted", Unit::Count, summary.accepted as f64)?;
        self.metrics.add_metric(
            "RowsRejected",
            Unit::Count,
            summary.rejected_lines.len() as f64,
        )?;
        Ok(())
    }
}

/// An S3 client whose calls are subsegments, on a rustls (ring) HTTP client (the SDK's default
/// TLS stack, aws-lc-rs, is slower to build). A custom endpoint (`AWS_ENDPOINT_URL_S3`: an
/// S3-compatible server, or a local one in tests) is addressed path-style, as such servers expect.
async fn s3_client(tracer: &Tracer) -> aws_sdk_s3::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let sdk_config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk_config)
            .force_path_style(std::env::var_os("AWS_ENDPOINT_URL_S3").is_some())
            .interceptor(tracer.interceptor())
            .build(),
    )
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let logger = Logger::from_env();
    let tracer = Tracer::builder().handler_name("summarise_orders").build()?;
    logger.try_init_with(tracer.tracing_layer())?;
    let namespace =
        std::env::var("POWERTOOLS_METRICS_NAMESPACE").unwrap_or_else(|_| "OrderFiles".to_owned());
    let metrics = Metrics::builder().namespace(namespace).build()?;
    let max_object_bytes = match std::env::var("MAX_OBJECT_BYTES") {
        Ok(value) => value
            .trim()
            .parse()
            .map_err(|_| format!("MAX_OBJECT_BYTES={value:?} is not a whole number of bytes"))?,
        Err(_) => DEFAULT_MAX_OBJECT_BYTES,
    };
    let processor = std::sync::Arc::new(Processor {
        s3: s3_client(&tracer).await,
        metrics: metrics.clone(),
        max_object_bytes,
    });

    let service = ServiceBuilder::new()
        .layer(logger.layer())
        .layer(metrics.layer())
        .layer(tracer.layer())
        .service(service_fn(move |event| {
            let processor = std::sync::Arc::clone(&processor);
            async move { processor.handle(event).await }
        }));
    lambda_runtime::run(service).await
}

#[cfg(test)]
mod tests {
    use super::{decode_key, summarise};

    #[test]
    fn rows_are_accepted_or_rejected_by_line_number() {
        let summary = summarise(
            "s3://b/incoming/x.csv".into(),
            "order_id,sku,quantity\no-1,BOOK,2\no-2,PEN,0\n\no-3,PEN,x\no-4,BOOK,3\nonly,two\n",
        )
        .unwrap();
        assert_eq!(summary.rows, 5);
        assert_eq!(summary.accepted, 2);
        assert_eq!(summary.rejected_lines, vec![3, 5, 7]);
        assert_eq!(summary.units_by_sku["BOOK"], 5);
        let not_csv = summarise("s3://b/incoming/y.csv".into(), "secret,stuff\n").unwrap_err();
        assert!(!not_csv.contains("secret"), "{not_csv}");
    }

    #[test]
    fn the_sample_event_is_an_s3_event_under_incoming() {
        let event: aws_lambda_events::s3::S3Event =
            serde_json::from_str(include_str!("../events/csv-uploaded.json")).unwrap();
        let key = event.records[0].s3.object.key.as_deref().unwrap();
        assert!(decode_key(key).unwrap().starts_with(super::INCOMING));
    }

    #[test]
    fn keys_are_decoded_as_s3_encodes_them() {
        assert_eq!(
            decode_key("incoming/red+flower%3D1+%C3%A9.csv").as_deref(),
            Some("incoming/red flower=1 é.csv")
        );
        for broken in ["%", "%4", "%zz", "%FF", "%+F"] {
            assert_eq!(decode_key(broken), None, "{broken}");
        }
    }
}
