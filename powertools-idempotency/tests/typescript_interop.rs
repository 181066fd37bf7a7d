//! Tables shared with Powertools for AWS Lambda (TypeScript) 2.35, both ways, against DynamoDB
//! Local: the TypeScript library itself (`tests/typescript/interop.cjs`, on the machine's Node)
//! writes and replays records; this crate, `typescript_compatible()`, replays and writes them.
//! Also checks `tests/typescript/typescript.json` (the hash vectors) against the library.
//!
//! Needs `scripts/test`: it starts DynamoDB Local, installs the TypeScript library and exports
//! `POWERTOOLS_TYPESCRIPT_NODE_PATH`.

#![cfg(feature = "dynamodb")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_dynamodb::types::AttributeValue;
use powertools_core::FunctionConfig;
use powertools_idempotency::{DynamoDbStore, Idempotency, IdempotencyError};
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const FUNCTION: &str = "interop";

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/typescript")
}

fn node_path() -> String {
    std::env::var("POWERTOOLS_TYPESCRIPT_NODE_PATH").unwrap_or_else(|_| {
        panic!(
            "POWERTOOLS_TYPESCRIPT_NODE_PATH is not set: run the tests with scripts/test, which installs Powertools for TypeScript"
        )
    })
}

/// Runs `script` with `args` under Node with the TypeScript library; its stdout as JSON.
fn node(script: &str, args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut command = Command::new("node");
    command
        .arg(scripts().join(script))
        .args(args)
        .env("NODE_PATH", node_path())
        .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("node runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} {args:?}: {stderr}");
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{script}: {e}: {}", String::from_utf8_lossy(&output.stdout)))
}

fn cases() -> Vec<Value> {
    serde_json::from_str(include_str!("typescript/interop-cases.json")).unwrap()
}

async fn table() -> Result<(aws_sdk_dynamodb::Client, String), Box<dyn std::error::Error>> {
    let client = powertools_testing::dynamodb::local_client().await?;
    let table = powertools_testing::unique_name("ts-interop");
    powertools_testing::dynamodb::create_table(&client, &table, "id", None).await?;
    Ok((client, table))
}

/// This crate configured as a case's TypeScript function is.
fn idempotency(client: &aws_sdk_dynamodb::Client, table: &str, case: &Value) -> Idempotency {
    let mut builder = Idempotency::builder(DynamoDbStore::builder(client.clone(), table).build())
        .function_config(
            FunctionConfig::builder()
                .function_name(FUNCTION)
                .build()
                .unwrap(),
        )
        .typescript_compatible();
    if let Some(path) = case["config"]["eventKeyJmesPath"].as_str() {
        builder = builder.event_key_jmespath(path);
    }
    if let Some(path) = case["config"]["payloadValidationJmesPath"].as_str() {
        builder = builder.payload_validation_jmespath(path);
    }
    builder.build().unwrap()
}

fn node_env(table: &str) -> Vec<(&'static str, String)> {
    vec![
        ("TABLE", table.to_owned()),
        (
            "AWS_ENDPOINT_URL_DYNAMODB",
            std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("DynamoDB Local (scripts/test)"),
        ),
    ]
}

fn run_node(mode: &str, table: &str) -> Vec<Value> {
    let env = node_env(table);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    node("interop.cjs", &[mode], &env)
        .as_array()
        .cloned()
        .unwrap()
}

#[test]
fn the_committed_vectors_are_the_typescript_librarys() {
    let live = node("vectors.cjs", &[], &[]);
    let committed: Value =
        serde_json::from_str(include_str!("typescript/typescript.json")).unwrap();
    assert_eq!(
        live, committed,
        "regenerate typescript.json with vectors.cjs"
    );
}

/// A small deterministic generator (xorshift), so that a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const KEYS: &[&str] = &[
    "a",
    "A",
    "b",
    "B",
    "z",
    "Z",
    "_",
    "é",
    "É",
    "e",
    "ß",
    "ǅ",
    "ΑΣ",
    "ας",
    "İ",
    "i",
    "😀",
    "\u{e000}",
    "key",
    "Key",
    "KEY",
    "0",
    "9",
    "10",
    "01",
    "-1",
    "4294967294",
    "4294967295",
    "1.5",
    "__proto__",
    "",
    " ",
    "Content-Type",
    "content-type",
    "Host",
    "accept",
];

const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-17",
    "1.0",
    "0.1",
    "27.50",
    "1e21",
    "1e20",
    "1E-7",
    "0.000001",
    "1.5e300",
    "5e-324",
    "9007199254740993",
    "12345678901234567890",
    "-9223372036854775808",
    "123456789012345.6",
];

/// A random JSON text: objects with unique keys from [`KEYS`], tricky numbers, strings with
/// escapes and astral characters, nesting up to `depth`.
fn random_json(rng: &mut Rng, depth: usize) -> String {
    let kind = if depth == 0 {
        rng.below(4)
    } else {
        rng.below(7)
    };
    match kind {
        0 => rng.pick(NUMBERS).to_owned(),
        1 => serde_json::to_string(rng.pick(&[
            "",
            "x",
            "café",
            "😀 ok",
            "a\u{1}\n\"q\"",
            "\u{2028}",
            "日本",
        ]))
        .unwrap(),
        2 => rng.pick(&["true", "false", "null"]).to_owned(),
        3 => format!("{}", rng.next() % 100_000),
        4 | 5 => {
            let mut keys: Vec<&str> = Vec::new();
            for _ in 0..rng.below(8) {
                let key = rng.pick(KEYS);
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            let fields: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        serde_json::to_string(k).unwrap(),
                        random_json(rng, depth - 1)
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        _ => {
            let items: Vec<String> = (0..rng.below(4))
                .map(|_| random_json(rng, depth - 1))
                .collect();
            format!("[{}]", items.join(","))
        }
    }
}

/// 400 random payloads: the key this crate computes is the one the TypeScript library
/// computes, for each.
#[test]
fn random_payloads_hash_like_the_typescript_library() {
    let seed = 0x5eed_2026_1203_u64;
    let mut rng = Rng(seed);
    let payloads: Vec<String> = (0..400).map(|_| random_json(&mut rng, 3)).collect();
    let file = std::env::temp_dir().join(format!("ts-payloads-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_string(&payloads).unwrap()).unwrap();
    let vectors = node("vectors.cjs", &[file.to_str().unwrap()], &[]);
    let _ = std::fs::remove_file(&file);
    let mut failures = Vec::new();
    for vector in vectors.as_array().unwrap() {
        let text = vector["payload"].as_str().unwrap();
        let payload: Value = serde_json::from_str(text).unwrap();
        let key = format!(
            "vectors#{}",
            powertools_idempotency::HashMode::TypeScript.hash(&payload)
        );
        if key != vector["key"].as_str().unwrap() {
            failures.push(format!("{text}: {key} != {}", vector["key"]));
        }
    }
    assert_eq!(vectors.as_array().unwrap().len(), 400);
    assert!(
        failures.is_empty(),
        "seed {seed:#x}: {} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn records_written_by_typescript_are_replayed_with_the_same_values() -> TestResult {
    let (_client_keepalive, table) = table().await?;
    let client = powertools_testing::dynamodb::local_client().await?;
    let written = run_node("write", &table);
    for (case, typescript) in cases().iter().zip(&written) {
        assert_eq!(typescript["ran"], true, "{typescript}");
        assert_eq!(typescript["result"], case["response"], "{typescript}");
        let idempotency = idempotency(&client, &table, case);
        let ran = AtomicBool::new(false);
        let payload = case.get("replay_payload").unwrap_or(&case["payload"]);
        let outcome = idempotency
            .run(payload, || async {
                ran.store(true, Ordering::SeqCst);
                Ok::<Value, String>(json!("the handler ran again"))
            })
            .await;
        assert!(!ran.load(Ordering::SeqCst), "{}: ran again", case["name"]);
        if case.get("replay_payload").is_some() {
            assert!(
                matches!(outcome, Err(IdempotencyError::Validation { .. })),
                "{}: {outcome:?}",
                case["name"]
            );
        } else {
            assert_eq!(outcome.unwrap(), case["response"], "{}", case["name"]);
        }
    }
    Ok(())
}

#[tokio::test]
async fn records_written_here_are_replayed_by_typescript_as_values() -> TestResult {
    let (client, table) = table().await?;
    for case in cases() {
        let idempotency = idempotency(&client, &table, &case);
        let response = idempotency
            .run(&case["payload"], || async {
                Ok::<Value, String>(case["response"].clone())
            })
            .await
            .unwrap();
        assert_eq!(response, case["response"]);
    }
    // Native DynamoDB values, as TypeScript's `marshall` writes them, not a string of JSON.
    let items = client.scan().table_name(&table).send().await?;
    let kinds: Vec<&str> = items
        .items()
        .iter()
        .map(|item| match item.get("data") {
            Some(AttributeValue::M(_)) => "M",
            Some(AttributeValue::S(_)) => "S",
            Some(AttributeValue::N(_)) => "N",
            other => panic!("{other:?}"),
        })
        .collect();
    let mut kinds = kinds;
    kinds.sort_unstable();
    assert_eq!(kinds, ["M", "M", "M", "N", "S"]);

    let replayed = run_node("replay", &table);
    for (case, typescript) in cases().iter().zip(&replayed) {
        assert_eq!(typescript["ran"], false, "{typescript}");
        if case.get("replay_payload").is_some() {
            assert_eq!(
                typescript["error"], "IdempotencyValidationError",
                "{typescript}"
            );
        } else {
            assert_eq!(typescript["result"], case["response"], "{typescript}");
        }
    }
    Ok(())
}
