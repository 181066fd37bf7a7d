//! No error ever shows a parameter's value: not its `Display`, not its `Debug`, not any error
//! in its `source()` chain, whatever the value and whatever it was read as.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::everything_shown;
use powertools_core::Env;
use powertools_params::{InMemoryProvider, ParameterError, Parameters, Transform};
use proptest::prelude::*;
use serde::Deserialize;

/// The forms a value takes when a message quotes it: as is, Rust-escaped, JSON-escaped.
fn forms(value: &str) -> Vec<String> {
    let debug = format!("{value:?}");
    let json = serde_json::to_string(value).unwrap();
    vec![
        value.to_owned(),
        debug.trim_matches('"').to_owned(),
        json.trim_matches('"').to_owned(),
    ]
}

fn assert_hidden(error: &ParameterError, value: &str) {
    let shown = everything_shown(error);
    for form in forms(value) {
        assert!(
            !shown.contains(&form),
            "the value {form:?} shows in the error:\n{shown}"
        );
    }
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
enum Mode {
    Fast,
    Safe,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Strict {
    port: u16,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Credentials {
    user: String,
    password: u32,
}

fn parameters() -> Parameters<InMemoryProvider> {
    Parameters::builder(InMemoryProvider::new())
        .env(Env::from_lookup(|_| None))
        .build()
        .unwrap()
}

/// Reads `stored` under `name` into every mismatching type and checks that `secret` shows in
/// no error.
async fn read_every_way(stored: &str, secret: &str) {
    let p = parameters();
    let name = "/app/stored";
    p.provider().set(name, stored);
    let mut errors = Vec::new();
    errors.extend(p.get_json::<u32>(name).await.err());
    errors.extend(p.get_json::<u8>(name).await.err());
    errors.extend(p.get_json::<bool>(name).await.err());
    errors.extend(p.get_json::<Mode>(name).await.err());
    errors.extend(p.get_json::<Strict>(name).await.err());
    errors.extend(p.get_json::<Credentials>(name).await.err());
    errors.extend(p.get_json::<Vec<u8>>(name).await.err());
    errors.extend(p.get_json::<(u8, u8)>(name).await.err());
    errors.extend(p.get_binary(name).await.err());
    errors.extend(p.get_transformed(name, Transform::Json).await.err());
    assert!(!errors.is_empty(), "at least one read fails");
    for error in &errors {
        assert_hidden(error, secret);
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .map(|runtime| runtime.block_on(future))
        .expect("a current-thread runtime")
}

/// Secrets of at least 4 characters (shorter ones are trivially substrings of any text), with
/// quotes, backslashes, control characters and any Unicode.
fn secrets() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9]{4,24}",
        "[\"\\\\'`{}\\[\\]:,a-z0-9 ]{4,24}",
        "\\PC{4,24}",
        any::<String>(),
    ]
    .prop_filter("4 characters or more", |s| s.chars().count() >= 4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_secret_string_never_shows_in_an_error(secret in secrets()) {
        let json = serde_json::to_string(&secret).unwrap();
        block_on(async {
            // The secret as a JSON string (invalid type, unknown variant), as an object key
            // (unknown field), as a field value, as the raw text (not JSON).
            read_every_way(&json, &secret).await;
            read_every_way(&format!("{{{json}: 1}}"), &secret).await;
            read_every_way(&format!("{{\"user\": \"u\", \"password\": {json}}}"), &secret).await;
            read_every_way(&format!("[{json}, 1]"), &secret).await;
            read_every_way(&secret, &secret).await;
        });
    }

    #[test]
    fn a_secret_number_never_shows_in_an_error(
        number in prop_oneof![1_000u64..u64::MAX, Just(u64::MAX)],
        negative in i64::MIN..-1_000,
        float in 1.0e3f64..1.0e12,
    ) {
        block_on(async {
            for secret in [number.to_string(), negative.to_string(), format!("{float:.3}")] {
                read_every_way(&secret, &secret).await;
                read_every_way(&format!("{{\"user\": \"u\", \"password\": {secret}}}"), &secret).await;
            }
        });
    }
}

#[tokio::test]
async fn serde_messages_that_quote_the_value_do_not_reach_the_error() {
    let p = parameters();
    for (stored, secret) in [
        (r#""hunter2-password""#, "hunter2-password"),
        (r#"{"user": "u", "password": "pa55word"}"#, "pa55word"),
        (r#"{"port": 1, "sk_live_51Hx": 2}"#, "sk_live_51Hx"),
        (r#""Turbo-Mode-Secret""#, "Turbo-Mode-Secret"),
        ("4111111111111111", "4111111111111111"),
    ] {
        p.provider().set("/app/stored", stored);
        let errors = [
            p.get_json::<u32>("/app/stored").await.err(),
            p.get_json::<Mode>("/app/stored").await.err(),
            p.get_json::<Strict>("/app/stored").await.err(),
            p.get_json::<Credentials>("/app/stored").await.err(),
            p.get_json::<u8>("/app/stored").await.err(),
        ];
        for error in errors.iter().flatten() {
            assert_hidden(error, secret);
            let message = error.to_string();
            assert!(
                message.contains("/app/stored"),
                "names the parameter: {message}"
            );
            assert!(message.contains("line 1, column"), "says where: {message}");
        }
    }
}

#[tokio::test]
async fn the_error_says_what_went_wrong_without_the_value() {
    let p = parameters();
    p.provider().set("/app/a", r#""hunter2-password""#);
    p.provider().set("/app/b", "{not json");
    let data = p.get_json::<u32>("/app/a").await.unwrap_err().to_string();
    let syntax = p
        .get_json::<serde_json::Value>("/app/b")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        data.contains("does not fit") && data.contains("u32"),
        "{data}"
    );
    assert!(syntax.contains("not valid JSON"), "{syntax}");
}

#[tokio::test]
async fn base64_errors_show_no_character_of_the_value() {
    let p = parameters();
    // '%' is byte 37, '~' is 126: base64's own message names the offending byte.
    p.provider().set("/app/key", "abc%~def");
    let error = p.get_binary("/app/key").await.unwrap_err();
    let shown = everything_shown(&error);
    assert!(!shown.is_empty(), "not base64: an error");
    for leak in ["37", "126", "%", "~"] {
        assert!(!shown.contains(leak), "{leak:?} shows in {shown}");
    }
    assert!(shown.contains("offset 3"), "says where: {shown}");
}
