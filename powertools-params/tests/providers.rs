//! Each provider end to end through the real SDK client: SSM Parameter Store and Secrets
//! Manager against moto, DynamoDB against DynamoDB Local (all started by `scripts/test`).
#![cfg(all(feature = "ssm", feature = "secrets", feature = "dynamodb"))]

mod common;

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use common::everything_shown;
use powertools_core::Env;
use powertools_params::{
    DynamoDbProvider, GetOptions, ParameterError, Parameters, Provider, RawValue, SecretsProvider,
    SsmProvider,
};
use powertools_testing::unique_name;

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn config() -> Result<aws_config::SdkConfig, powertools_testing::HarnessError> {
    powertools_testing::aws::local_sdk_config(&[
        "AWS_ENDPOINT_URL_SSM",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        "AWS_ENDPOINT_URL_DYNAMODB",
    ])
    .await
}

#[tokio::test]
async fn ssm_single_decrypted_by_path_and_by_names() -> TestResult {
    let client = powertools_testing::ssm::local_client().await?;
    let root = format!("/{}", unique_name("orders"));
    for (name, value, secure) in [
        (format!("{root}/flags/new_checkout"), "true", false),
        (format!("{root}/limits/max"), "10", false),
        (format!("{root}/limits/nested/min"), "1", false),
        (format!("{root}/db/password"), "hunter2", true),
        (format!("{root}/settings.json"), r#"{"retries":3}"#, false),
    ] {
        powertools_testing::ssm::put_parameter(&client, &name, value, secure).await?;
    }
    let provider = SsmProvider::with_env(
        client.clone(),
        &Env::from_pairs([("POWERTOOLS_PARAMETERS_SSM_DECRYPT", "true")]),
    );
    let parameters = Parameters::builder(provider)
        .env(Env::from_lookup(|_| None))
        .build()?;

    assert_eq!(
        parameters
            .get(&format!("{root}/flags/new_checkout"))
            .await?,
        "true"
    );
    assert_eq!(
        parameters
            .get_secret(&format!("{root}/db/password"))
            .await?
            .expose(),
        "hunter2",
        "decrypted"
    );
    #[derive(serde::Deserialize)]
    struct Settings {
        retries: u32,
    }
    let settings: Settings = parameters
        .get_json(&format!("{root}/settings.json"))
        .await?;
    assert_eq!(settings.retries, 3);
    let missing = parameters.get(&format!("{root}/missing")).await;
    assert!(
        matches!(missing, Err(ParameterError::NotFound { .. })),
        "{missing:?}"
    );

    // By path: recursive, names relative to the path.
    let limits = parameters
        .get_multiple(&format!("{root}/limits"), GetOptions::new())
        .await?;
    let names: Vec<&str> = limits.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["max", "nested/min"]);
    let shallow = Parameters::builder(SsmProvider::new(client.clone()).recursive(false)).build()?;
    let top: Vec<String> = shallow
        .get_multiple(&format!("{root}/limits"), GetOptions::new())
        .await?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(top, ["max"]);

    // By names, 25 at once (3 calls of at most 10), each with its own result.
    let provider = SsmProvider::new(client.clone());
    for i in 0..23 {
        provider
            .set(&format!("{root}/bulk/p{i:02}"), &format!("v{i}"))
            .await?;
    }
    let mut names: Vec<String> = (0..23).map(|i| format!("{root}/bulk/p{i:02}")).collect();
    names.push(format!("{root}/bulk/none-1"));
    names.push(format!("{root}/bulk/none-2"));
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let results = provider.get_parameters(&refs).await;
    assert_eq!(results.len(), 25);
    assert_eq!(
        results[7].1.as_ref().ok(),
        Some(&RawValue::Text("v7".into()))
    );
    assert!(matches!(
        results[24].1,
        Err(ParameterError::NotFound { .. })
    ));
    assert_eq!(results.iter().filter(|(_, r)| r.is_ok()).count(), 23);
    Ok(())
}

#[tokio::test]
async fn secrets_string_and_binary() -> TestResult {
    let config = config().await?;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let text = unique_name("db-credentials");
    let binary = unique_name("tls-key");
    client
        .create_secret()
        .name(&text)
        .secret_string(r#"{"user":"app","password":"hunter2"}"#)
        .send()
        .await?;
    client
        .create_secret()
        .name(&binary)
        .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(vec![
            0u8, 1, 2, 255,
        ]))
        .send()
        .await?;
    let parameters = Parameters::builder(SecretsProvider::new(client))
        .env(Env::from_lookup(|_| None))
        .build()?;
    #[derive(serde::Deserialize)]
    struct Credentials {
        user: String,
        password: String,
    }
    let credentials: Credentials = parameters.get_json(&text).await?;
    assert_eq!(
        (credentials.user.as_str(), credentials.password.as_str()),
        ("app", "hunter2")
    );
    assert_eq!(parameters.get_binary(&binary).await?, vec![0u8, 1, 2, 255]);
    assert!(matches!(
        parameters.get(&unique_name("missing")).await,
        Err(ParameterError::NotFound { .. })
    ));
    Ok(())
}

#[tokio::test]
async fn secrets_that_do_not_fit_the_target_type_never_show_in_errors() -> TestResult {
    let config = config().await?;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let scalar = unique_name("api-key");
    let object = unique_name("db-credentials");
    client
        .create_secret()
        .name(&scalar)
        .secret_string(r#""sk_live_hunter2""#)
        .send()
        .await?;
    client
        .create_secret()
        .name(&object)
        .secret_string(r#"{"user":"app","password":"pa55-w0rd","pin":48151623}"#)
        .send()
        .await?;
    let parameters = Parameters::builder(SecretsProvider::new(client))
        .env(Env::from_lookup(|_| None))
        .build()?;
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    enum Tier {
        Free,
        Paid,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Credentials {
        user: String,
        password: u32,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct OnlyUser {
        user: String,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Pin {
        pin: u16,
    }
    let errors = [
        parameters.get_json::<u32>(&scalar).await.err(),
        parameters.get_json::<Tier>(&scalar).await.err(),
        parameters.get_json::<Vec<u8>>(&scalar).await.err(),
        parameters.get_binary(&scalar).await.err(),
        parameters.get_json::<Credentials>(&object).await.err(),
        parameters.get_json::<OnlyUser>(&object).await.err(),
        parameters.get_json::<Pin>(&object).await.err(),
    ];
    assert!(errors.iter().all(Option::is_some), "{errors:?}");
    for error in errors.iter().flatten() {
        let shown = everything_shown(error);
        for value in ["sk_live_hunter2", "hunter2", "pa55-w0rd", "48151623"] {
            assert!(!shown.contains(value), "{value:?} shows in {shown}");
        }
        assert!(
            shown.contains(&scalar) || shown.contains(&object),
            "names the secret: {shown}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn dynamodb_single_and_multiple_values() -> TestResult {
    let client = powertools_testing::dynamodb::local_client().await?;
    let table = unique_name("parameters");
    powertools_testing::dynamodb::create_table(&client, &table, "id", Some("sk")).await?;
    let put = |id: &str, sk: &str, value: &str| {
        client
            .put_item()
            .table_name(&table)
            .item("id", AttributeValue::S(id.into()))
            .item("sk", AttributeValue::S(sk.into()))
            .item("value", AttributeValue::S(value.into()))
            .send()
    };
    put("/orders/config", "max_items", "10").await?;
    put("/orders/config", "currency", "EUR").await?;
    let multiple = Parameters::builder(DynamoDbProvider::new(client.clone(), &table)).build()?;
    let values = multiple
        .get_multiple("/orders/config", GetOptions::new())
        .await?;
    assert_eq!(
        values,
        vec![
            ("currency".to_owned(), RawValue::Text("EUR".into())),
            ("max_items".to_owned(), RawValue::Text("10".into()))
        ]
    );

    let single_table = unique_name("parameters-single");
    powertools_testing::dynamodb::create_table(&client, &single_table, "id", None).await?;
    client
        .put_item()
        .table_name(&single_table)
        .item("id", AttributeValue::S("/orders/flag".into()))
        .item("value", AttributeValue::S("on".into()))
        .send()
        .await?;
    let single = Parameters::builder(DynamoDbProvider::new(client.clone(), &single_table))
        .max_age(Duration::from_secs(60))
        .build()?;
    assert_eq!(single.get("/orders/flag").await?, "on");
    assert!(matches!(
        single.get("/orders/none").await,
        Err(ParameterError::NotFound { .. })
    ));
    Ok(())
}

/// A provider made from the shared configuration, boxed (so the application's state is not
/// generic over it), and a JSON secret kept a `Secret`: its fields in hand, nothing in `Debug`
/// or in the error of a secret that does not fit.
#[tokio::test]
async fn a_boxed_provider_from_the_sdk_config_and_json_secrets() -> TestResult {
    let config = config().await?;
    let name = unique_name("db-json");
    let misfit = unique_name("db-misfit");
    let client = powertools_testing::secrets::local_client().await?;
    powertools_testing::secrets::create_secret(
        &client,
        &name,
        r#"{"user":"app","password":"hunter2"}"#,
    )
    .await?;
    powertools_testing::secrets::create_secret(
        &client,
        &misfit,
        r#"{"user":["hunter2"],"password":"hunter2"}"#,
    )
    .await?;
    let provider: Box<dyn Provider> = Box::new(SecretsProvider::from_sdk_config(&config));
    let parameters: Parameters<Box<dyn Provider>> = Parameters::builder(provider)
        .env(Env::from_lookup(|_| None))
        .build()?;
    #[derive(serde::Deserialize)]
    struct Credentials {
        user: String,
        password: String,
    }
    let secret = parameters.get_secret_json::<Credentials>(&name).await?;
    assert_eq!(secret.expose().user, "app");
    assert_eq!(secret.expose().password, "hunter2");
    assert!(!format!("{secret:?} {secret}").contains("hunter2"));
    let error = parameters
        .get_secret_json::<Credentials>(&misfit)
        .await
        .err()
        .ok_or("a misfit secret parsed")?;
    assert!(
        !format!("{error} {error:?}").contains("hunter2"),
        "{error:?}"
    );
    Ok(())
}
