//! A scheduled job: EventBridge Scheduler invokes it every hour with
//! `{"scheduled_time": "<aws.scheduler.scheduled-time>", "execution_id": "<aws.scheduler.execution-id>"}`
//! (the schedule's input in `template.yaml`).
//!
//! Each run reads, through `powertools-params`:
//! - its settings from AppConfig, profile `settings`: `{"low_stock_threshold": 5}`;
//! - a feature flag from AppConfig, profile `flags` (a feature-flags profile):
//!   `{"restock_report": {"enabled": true}}`;
//! - the key that signs reports from Secrets Manager (`REPORT_SIGNING_KEY_SECRET`).
//!
//! With the flag on, it finds the items of the inventory table whose `stock` is under the
//! threshold and writes a report to the reports table: the report (JSON), keyed by its scheduled
//! time, so that a retried run overwrites rather than duplicates, and its HMAC-SHA256 signature.
//! With the flag off it writes nothing. The key never reaches a log line, a metric or an error.
//! Each log line carries the schedule's execution id as `correlation_id`.
//!
//! Environment: `APPCONFIG_APPLICATION`, `APPCONFIG_ENVIRONMENT`, `REPORT_SIGNING_KEY_SECRET`,
//! `INVENTORY_TABLE_NAME` (partition key `sku`, a number attribute `stock`),
//! `REPORTS_TABLE_NAME` (partition key `report_id`), plus the Powertools variables. Deploy with
//! `template.yaml`.

use std::collections::HashMap;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use hmac::{Hmac, Mac};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use powertools_logger::{CorrelationPath, Logger};
use powertools_metrics::{Metrics, Unit};
use powertools_params::{AppConfigProvider, Parameters, SecretsProvider};
use powertools_tracer::Tracer;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tower::ServiceBuilder;

/// The schedule's input.
#[derive(Debug, Serialize, Deserialize)]
struct Run {
    scheduled_time: String,
    execution_id: String,
}

/// The `settings` profile.
#[derive(Debug, Deserialize)]
struct Settings {
    low_stock_threshold: u32,
}

/// One flag of a feature-flags profile, as AppConfig serves it.
#[derive(Debug, Default, Deserialize)]
struct Flag {
    enabled: bool,
}

/// The `flags` profile.
#[derive(Debug, Deserialize)]
struct Flags {
    #[serde(default)]
    restock_report: Flag,
}

/// One item under the threshold.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
struct LowStock {
    sku: String,
    /// Negative for a backorder.
    stock: i64,
}

/// The report, as written (and signed).
#[derive(Debug, Serialize)]
struct Report<'a> {
    report_id: &'a str,
    threshold: u32,
    items: &'a [LowStock],
}

/// What a run returns (the scheduler ignores it; tests read it).
#[derive(Debug, Serialize)]
struct Outcome {
    report_id: String,
    written: bool,
    low_stock: usize,
}

/// What the job needs, made once at INIT.
#[derive(Clone)]
struct Job {
    appconfig: Parameters<AppConfigProvider>,
    secrets: Parameters<SecretsProvider>,
    dynamodb: aws_sdk_dynamodb::Client,
    metrics: Metrics,
    signing_key_secret: String,
    inventory_table: String,
    reports_table: String,
}

impl Job {
    async fn run(&self, event: LambdaEvent<Run>) -> Result<Outcome, Error> {
        let run = event.payload;
        let flags: Flags = self.appconfig.get_json("flags").await?;
        if !flags.restock_report.enabled {
            tracing::info!(
                report_id = run.scheduled_time.as_str(),
                "restock report is switched off (feature flag restock_report)"
            );
            return Ok(Outcome {
                report_id: run.scheduled_time,
                written: false,
                low_stock: 0,
            });
        }
        // Everything the run needs before any work: a missing piece fails it early.
        let settings: Settings = self.appconfig.get_json("settings").await?;
        let key = self.secrets.get_secret(&self.signing_key_secret).await?;
        let items = self.low_stock(settings.low_stock_threshold).await?;
        let report = serde_json::to_string(&Report {
            report_id: &run.scheduled_time,
            threshold: settings.low_stock_threshold,
            items: &items,
        })?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes())
            .map_err(|_| "the report signing key cannot key HMAC-SHA256")?;
        mac.update(report.as_bytes());
        let signature = hex::encode(mac.finalize().into_bytes());

        self.dynamodb
            .put_item()
            .table_name(&self.reports_table)
            .item("report_id", AttributeValue::S(run.scheduled_time.clone()))
            .item("execution_id", AttributeValue::S(run.execution_id))
            .item("report", AttributeValue::S(report))
            .item("signature", AttributeValue::S(signature))
            .send()
            .await?;
        tracing::info!(
            report_id = run.scheduled_time.as_str(),
            low_stock = items.len(),
            threshold = settings.low_stock_threshold,
            "restock report written"
        );
        self.metrics
            .add_metric("LowStockItems", Unit::Count, items.len() as f64)?;
        Ok(Outcome {
            report_id: run.scheduled_time,
            written: true,
            low_stock: items.len(),
        })
    }

    /// Every item with `stock` under `threshold`, by SKU (a paginated scan: the table is small).
    async fn low_stock(&self, threshold: u32) -> Result<Vec<LowStock>, Error> {
        let mut pages = self
            .dynamodb
            .scan()
            .table_name(&self.inventory_table)
            .filter_expression("#stock < :threshold")
            .expression_attribute_names("#stock", "stock")
            .expression_attribute_values(":threshold", AttributeValue::N(threshold.to_string()))
            .into_paginator()
            .items()
            .send();
        let mut items = Vec::new();
        while let Some(item) = pages.next().await {
            let item: HashMap<String, AttributeValue> = item?;
            let sku = item.get("sku").and_then(|v| v.as_s().ok());
            let stock = item
                .get("stock")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok());
            match (sku, stock) {
                (Some(sku), Some(stock)) => items.push(LowStock {
                    sku: sku.clone(),
                    stock,
                }),
                _ => tracing::warn!(
                    "an inventory item without a text sku or a whole stock is left out of the report"
                ),
            }
        }
        items.sort();
        Ok(items)
    }
}

/// The shared AWS configuration on a rustls (ring) HTTP client: the SDK's default TLS stack,
/// aws-lc-rs, is slower to build.
async fn sdk_config() -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await
}

/// A required environment variable, or an error that says what to set.
fn required(name: &str) -> Result<String, Error> {
    std::env::var(name)
        .map_err(|_| format!("{name} is not set: see the variables in template.yaml").into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let logger = Logger::builder()
        .correlation_id_path(CorrelationPath::Custom("execution_id".into()))
        .build()?;
    let tracer = Tracer::builder().handler_name("restock_report").build()?;
    logger.try_init_with(tracer.tracing_layer())?;
    let namespace =
        std::env::var("POWERTOOLS_METRICS_NAMESPACE").unwrap_or_else(|_| "Inventory".to_owned());
    let metrics = Metrics::builder().namespace(namespace).build()?;

    // No request is made here: clients and caches only (nothing slow at INIT).
    let config = sdk_config().await;
    let job = Job {
        appconfig: Parameters::builder(AppConfigProvider::from_sdk_config(
            &config,
            required("APPCONFIG_APPLICATION")?,
            required("APPCONFIG_ENVIRONMENT")?,
        ))
        .build()?,
        secrets: Parameters::builder(SecretsProvider::from_sdk_config(&config)).build()?,
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .interceptor(tracer.interceptor())
                .build(),
        ),
        metrics: metrics.clone(),
        signing_key_secret: required("REPORT_SIGNING_KEY_SECRET")?,
        inventory_table: required("INVENTORY_TABLE_NAME")?,
        reports_table: required("REPORTS_TABLE_NAME")?,
    };

    let service = ServiceBuilder::new()
        .layer(logger.layer())
        .layer(metrics.layer())
        .layer(tracer.layer())
        .service(service_fn(move |event| {
            let job = job.clone();
            async move { job.run(event).await }
        }));
    lambda_runtime::run(service).await
}
