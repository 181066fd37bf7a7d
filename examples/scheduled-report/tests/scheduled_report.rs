//! The deployable binary under the real runtime loop, against DynamoDB Local, moto's Secrets
//! Manager and the testing kit's AppConfigData server: the flag on writes a signed report of the
//! low-stock items; switched off (a new AppConfig deployment) it writes nothing; the signing key
//! never shows in the output.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_dynamodb::types::AttributeValue;
use hmac::{Hmac, Mac};
use powertools_testing::appconfig::AppConfigServer;
use powertools_testing::{InvocationRequest, LocalFunction, emf, unique_name};
use serde_json::{Value, json};
use sha2::Sha256;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const SCHEDULED_REPORT: &str = env!("CARGO_BIN_EXE_scheduled-report");

struct Setup {
    appconfig: AppConfigServer,
    dynamodb: aws_sdk_dynamodb::Client,
    reports_table: String,
    signing_key: String,
    function: LocalFunction,
}

async fn start() -> Result<Setup, Box<dyn std::error::Error>> {
    let dynamodb = powertools_testing::dynamodb::local_client().await?;
    let inventory_table = unique_name("inventory");
    let reports_table = unique_name("reports");
    powertools_testing::dynamodb::create_table(&dynamodb, &inventory_table, "sku", None).await?;
    powertools_testing::dynamodb::create_table(&dynamodb, &reports_table, "report_id", None)
        .await?;
    // A backorder (negative stock) is the most urgent of all.
    for (sku, stock) in [
        ("BOOK-1984", 2),
        ("PEN", 40),
        ("MUG", 0),
        ("LAMP", 5),
        ("CUP", -3),
    ] {
        dynamodb
            .put_item()
            .table_name(&inventory_table)
            .item("sku", AttributeValue::S(sku.into()))
            .item("stock", AttributeValue::N(stock.to_string()))
            .send()
            .await?;
    }

    let secrets = powertools_testing::secrets::local_client().await?;
    let secret_name = unique_name("inventory/report-signing-key");
    let signing_key = unique_name("k3y-that-must-not-leak");
    powertools_testing::secrets::create_secret(&secrets, &secret_name, &signing_key).await?;

    let appconfig = AppConfigServer::start().await?;
    appconfig.deploy_json(
        "inventory",
        "prod",
        "settings",
        &json!({"low_stock_threshold": 5}),
    );
    appconfig.deploy_json(
        "inventory",
        "prod",
        "flags",
        &json!({"restock_report": {"enabled": true}}),
    );

    let function = LocalFunction::builder(SCHEDULED_REPORT)
        .function_name("scheduled-report")
        .env("POWERTOOLS_SERVICE_NAME", "inventory")
        // Every run reads AppConfig again (a deployed change shows at once).
        .env("POWERTOOLS_PARAMETERS_MAX_AGE", "0")
        .env("AWS_ENDPOINT_URL_APPCONFIGDATA", appconfig.url())
        .env("APPCONFIG_APPLICATION", "inventory")
        .env("APPCONFIG_ENVIRONMENT", "prod")
        .env("REPORT_SIGNING_KEY_SECRET", &secret_name)
        .env("INVENTORY_TABLE_NAME", &inventory_table)
        .env("REPORTS_TABLE_NAME", &reports_table)
        .start()
        .await?;
    Ok(Setup {
        appconfig,
        dynamodb,
        reports_table,
        signing_key,
        function,
    })
}

/// The schedule's input, as EventBridge Scheduler fills in `template.yaml`'s placeholders.
fn scheduled(time: &str, execution_id: &str) -> Value {
    json!({"scheduled_time": time, "execution_id": execution_id})
}

async fn report(
    setup: &Setup,
    report_id: &str,
) -> Result<Option<(String, String)>, Box<dyn std::error::Error>> {
    let item = setup
        .dynamodb
        .get_item()
        .table_name(&setup.reports_table)
        .key("report_id", AttributeValue::S(report_id.into()))
        .consistent_read(true)
        .send()
        .await?
        .item;
    Ok(item.map(|item| {
        let text = |name: &str| item[name].as_s().cloned().unwrap_or_default();
        (text("report"), text("signature"))
    }))
}

#[tokio::test]
async fn the_flag_decides_and_the_report_is_signed_with_the_secret() -> TestResult {
    let setup = start().await?;

    // The first run is the sample input in events/ (what `sam local invoke` sends).
    let sample: Value = serde_json::from_str(&std::fs::read_to_string(format!(
        "{}/events/hourly-run.json",
        env!("CARGO_MANIFEST_DIR")
    ))?)?;
    assert_eq!(sample["scheduled_time"], "2026-12-03T10:00:00Z");
    let first = setup
        .function
        .invoke(InvocationRequest::json(&sample)?)
        .await?
        .json()?;
    assert_eq!(
        first,
        json!({"report_id": "2026-12-03T10:00:00Z", "written": true, "low_stock": 3})
    );
    let (body, signature) = report(&setup, "2026-12-03T10:00:00Z")
        .await?
        .expect("the report was written");
    // The signature is over the report's bytes, as stored.
    let mut mac = Hmac::<Sha256>::new_from_slice(setup.signing_key.as_bytes())?;
    mac.update(body.as_bytes());
    assert_eq!(signature, hex::encode(mac.finalize().into_bytes()));
    let body: Value = serde_json::from_str(&body)?;
    assert_eq!(
        body,
        json!({
            "report_id": "2026-12-03T10:00:00Z",
            "threshold": 5,
            "items": [
                {"sku": "BOOK-1984", "stock": 2},
                {"sku": "CUP", "stock": -3},
                {"sku": "MUG", "stock": 0},
            ],
        })
    );

    // A new AppConfig deployment switches the report off: the next run writes nothing.
    setup.appconfig.deploy_json(
        "inventory",
        "prod",
        "flags",
        &json!({"restock_report": {"enabled": false}}),
    );
    let second = setup
        .function
        .invoke(InvocationRequest::json(&scheduled(
            "2026-12-03T11:00:00Z",
            "exec-2",
        ))?)
        .await?
        .json()?;
    assert_eq!(second["written"], false);
    assert!(report(&setup, "2026-12-03T11:00:00Z").await?.is_none());
    assert_eq!(
        setup.appconfig.sessions_started(),
        2,
        "one session per profile, kept across runs"
    );

    let stopped = setup.function.stop().await;
    let written = stopped.lines_with_message("restock report written");
    assert_eq!(written.len(), 1, "{:#?}", stopped.json_lines());
    assert_eq!(written[0]["correlation_id"], sample["execution_id"]);
    assert_eq!(written[0]["low_stock"], 3);
    let off =
        stopped.lines_with_message("restock report is switched off (feature flag restock_report)");
    assert_eq!(off.len(), 1);
    assert_eq!(off[0]["correlation_id"], "exec-2");
    let blobs = emf::blobs_in(&stopped.stdout)?;
    let counted: Vec<&Value> = blobs
        .iter()
        .filter(|b| b.get("LowStockItems").is_some())
        .collect();
    assert_eq!(counted.len(), 1, "{blobs:#?}");
    assert_eq!(counted[0]["LowStockItems"], json!([3.0]));
    assert!(!stopped.stdout.is_empty());
    for line in stopped.stdout.iter().chain(&stopped.stderr) {
        assert!(!line.contains(&setup.signing_key), "the key leaked: {line}");
    }
    Ok(())
}

#[tokio::test]
async fn a_missing_secret_fails_the_run_with_its_name_and_writes_nothing() -> TestResult {
    let mut setup = start().await?;
    // The same function, pointed at a secret that does not exist.
    setup.function.stop().await;
    let missing = unique_name("inventory/no-such-key");
    setup.function = LocalFunction::builder(SCHEDULED_REPORT)
        .function_name("scheduled-report")
        .env("AWS_ENDPOINT_URL_APPCONFIGDATA", setup.appconfig.url())
        .env("APPCONFIG_APPLICATION", "inventory")
        .env("APPCONFIG_ENVIRONMENT", "prod")
        .env("REPORT_SIGNING_KEY_SECRET", &missing)
        .env("INVENTORY_TABLE_NAME", unique_name("unused"))
        .env("REPORTS_TABLE_NAME", &setup.reports_table)
        .start()
        .await?;
    let outcome = setup
        .function
        .invoke(InvocationRequest::json(&scheduled(
            "2026-12-03T12:00:00Z",
            "exec-3",
        ))?)
        .await?;
    let error = outcome.error().unwrap_or_else(|| panic!("{outcome:?}"));
    assert!(error.error_message.contains(&missing), "{error:?}");
    assert!(report(&setup, "2026-12-03T12:00:00Z").await?.is_none());
    Ok(())
}
