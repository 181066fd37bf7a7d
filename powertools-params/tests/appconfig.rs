//! The AppConfig provider against a fake AppConfigData server speaking the real REST API
//! (`POST /configurationsessions`, `GET /configuration?configuration_token=`).
#![cfg(feature = "appconfig")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use powertools_params::{AppConfigProvider, GetOptions, Parameters, Provider, RawValue};
use powertools_testing::ManualClock;

#[derive(Default)]
struct Fake {
    sessions_started: usize,
    issued: HashMap<String, usize>, // token -> how many configurations were served before it
    bodies: Vec<&'static str>,      // what successive polls return ("" = unchanged)
    next: usize,
}

async fn fake_appconfigdata(
    bodies: Vec<&'static str>,
) -> std::io::Result<(String, Arc<Mutex<Fake>>)> {
    let state = Arc::new(Mutex::new(Fake {
        bodies,
        ..Fake::default()
    }));
    let shared = Arc::clone(&state);
    let url = common::serve_http(move |request_line| {
        let mut fake = shared.lock().unwrap();
        if request_line.starts_with("POST /configurationsessions") {
            fake.sessions_started += 1;
            let token = format!("initial-{}", fake.sessions_started);
            let served = fake.next;
            fake.issued.insert(token.clone(), served);
            let body = format!("{{\"InitialConfigurationToken\":\"{token}\"}}");
            common::http_response(
                "201 Created",
                &[("content-type", "application/json")],
                &body,
            )
        } else if request_line.starts_with("GET /configuration?") {
            let token = request_line
                .split("configuration_token=")
                .nth(1)
                .and_then(|t| t.split([' ', '&']).next())
                .unwrap_or_default()
                .to_owned();
            if fake.issued.remove(&token).is_none() {
                common::http_response(
                    "400 Bad Request",
                    &[
                        ("x-amzn-errortype", "BadRequestException"),
                        ("content-type", "application/json"),
                    ],
                    r#"{"Message":"Token is not valid"}"#,
                )
            } else {
                let index = fake.next;
                fake.next += 1;
                let body = fake.bodies.get(index).copied().unwrap_or("");
                let next_token = format!("next-{index}");
                fake.issued.insert(next_token.clone(), index + 1);
                common::http_response(
                    "200 OK",
                    &[
                        ("content-type", "application/json"),
                        ("next-poll-configuration-token", &next_token),
                        ("next-poll-interval-in-seconds", "15"),
                    ],
                    body,
                )
            }
        } else {
            common::http_response("404 Not Found", &[], "")
        }
    })
    .await?;
    Ok((url, state))
}

#[tokio::test]
async fn sessions_tokens_unchanged_bodies_and_expiry() -> Result<(), Box<dyn std::error::Error>> {
    let (url, fake) = fake_appconfigdata(vec![
        r#"{"new_checkout":true}"#,
        "",
        r#"{"new_checkout":false}"#,
        "",
    ])
    .await?;
    // Credentials, region and an HTTP client as for the other local servers; the endpoint is the fake.
    let config = powertools_testing::dynamodb::local_sdk_config().await?;
    let client = aws_sdk_appconfigdata::Client::from_conf(
        aws_sdk_appconfigdata::config::Builder::from(&config)
            .endpoint_url(url)
            .build(),
    );
    let manual = ManualClock::at_epoch_millis(1_795_268_547_000);
    let provider = AppConfigProvider::new(client, "orders", "prod").clock(manual.clock());

    assert_eq!(
        provider.get("flags").await?,
        RawValue::Text(r#"{"new_checkout":true}"#.into())
    );
    // An empty body means unchanged: the last value comes back.
    assert_eq!(
        provider.get("flags").await?,
        RawValue::Text(r#"{"new_checkout":true}"#.into())
    );
    assert_eq!(
        provider.get("flags").await?,
        RawValue::Text(r#"{"new_checkout":false}"#.into())
    );
    assert_eq!(
        fake.lock().unwrap().sessions_started,
        1,
        "one session, tokens chained"
    );

    // After 24 hours the token has expired: a new session, the last value kept if unchanged.
    manual.advance(Duration::from_secs(25 * 3600));
    assert_eq!(
        provider.get("flags").await?,
        RawValue::Text(r#"{"new_checkout":false}"#.into())
    );
    assert_eq!(fake.lock().unwrap().sessions_started, 2);

    // Behind the cache, typed.
    #[derive(serde::Deserialize)]
    struct Flags {
        new_checkout: bool,
    }
    let parameters = Parameters::builder(provider).build()?;
    let flags: Flags = parameters.get_json("flags").await?;
    assert!(!flags.new_checkout);
    let _ = parameters.get_raw("flags", GetOptions::new()).await?;
    Ok(())
}
