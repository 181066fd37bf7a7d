//! The AppConfig provider against the testing kit's AppConfigData server, which speaks the real
//! REST API (`POST /configurationsessions`, `GET /configuration?configuration_token=`): sessions,
//! one-use tokens, empty bodies for "unchanged", and new deployments.
#![cfg(feature = "appconfig")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

mod common;

use powertools_params::{
    AppConfigProvider, GetOptions, ParameterError, Parameters, Provider, RawValue,
};
use powertools_testing::ManualClock;
use powertools_testing::appconfig::AppConfigServer;

async fn client(url: String) -> Result<aws_sdk_appconfigdata::Client, Box<dyn std::error::Error>> {
    // Credentials, region and an HTTP client as for the other local servers; the endpoint is the
    // kit's AppConfigData server.
    let config = powertools_testing::dynamodb::local_sdk_config().await?;
    Ok(aws_sdk_appconfigdata::Client::from_conf(
        aws_sdk_appconfigdata::config::Builder::from(&config)
            .endpoint_url(url)
            .build(),
    ))
}

fn text(s: &str) -> RawValue {
    RawValue::Text(s.into())
}

#[tokio::test]
async fn sessions_tokens_unchanged_bodies_and_expiry() -> Result<(), Box<dyn std::error::Error>> {
    let appconfig = AppConfigServer::start().await?;
    appconfig.deploy_json(
        "orders",
        "prod",
        "flags",
        &serde_json::json!({"new_checkout": true}),
    );
    let manual = ManualClock::at_epoch_millis(1_795_268_547_000);
    let provider = AppConfigProvider::new(client(appconfig.url()).await?, "orders", "prod")
        .clock(manual.clock());

    assert_eq!(
        provider.get("flags").await?,
        text(r#"{"new_checkout":true}"#)
    );
    // The server answers an empty body (unchanged): the last value comes back.
    assert_eq!(
        provider.get("flags").await?,
        text(r#"{"new_checkout":true}"#)
    );
    appconfig.deploy_json(
        "orders",
        "prod",
        "flags",
        &serde_json::json!({"new_checkout": false}),
    );
    assert_eq!(
        provider.get("flags").await?,
        text(r#"{"new_checkout":false}"#)
    );
    assert_eq!(
        appconfig.sessions_started(),
        1,
        "one session, tokens chained"
    );
    assert_eq!(appconfig.polls(), 3);

    // After 24 hours the token has expired: a new session, which gets the whole configuration.
    manual.advance(Duration::from_secs(25 * 3600));
    assert_eq!(
        provider.get("flags").await?,
        text(r#"{"new_checkout":false}"#)
    );
    assert_eq!(appconfig.sessions_started(), 2);

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

#[tokio::test]
async fn a_profile_nothing_was_deployed_to_is_an_error_that_names_it()
-> Result<(), Box<dyn std::error::Error>> {
    let appconfig = AppConfigServer::start().await?;
    appconfig.deploy_json("orders", "prod", "flags", &serde_json::json!({}));
    let provider = AppConfigProvider::new(client(appconfig.url()).await?, "orders", "prod");
    let error = provider.get("no-such-profile").await.unwrap_err();
    assert!(
        matches!(error, ParameterError::NotFound { .. }),
        "{error:?}"
    );
    assert!(
        common::everything_shown(&error).contains("no-such-profile"),
        "{error:?}"
    );
    assert_eq!(appconfig.sessions_started(), 0);
    Ok(())
}
