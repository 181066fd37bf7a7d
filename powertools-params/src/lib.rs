#![doc = include_str!("../README.md")]
// docs.rs (nightly, `--cfg docsrs`) marks each item with the features it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]
#[cfg(feature = "appconfig")]
mod appconfig;
#[cfg(any(
    feature = "ssm",
    feature = "secrets",
    feature = "dynamodb",
    feature = "appconfig"
))]
mod aws;
mod cache;
#[cfg(feature = "dynamodb")]
mod dynamodb;
mod error;
mod parameters;
mod provider;
#[cfg(feature = "secrets")]
mod secrets;
#[cfg(feature = "ssm")]
mod ssm;
mod value;

#[cfg(feature = "appconfig")]
pub use appconfig::AppConfigProvider;
#[cfg(feature = "dynamodb")]
pub use dynamodb::DynamoDbProvider;
pub use error::ParameterError;
pub use parameters::{DEFAULT_MAX_AGE, GetOptions, Parameters, ParametersBuilder};
pub use powertools_core::BoxFuture;
pub use provider::{InMemoryProvider, Provider};
#[cfg(feature = "secrets")]
pub use secrets::SecretsProvider;
#[cfg(feature = "ssm")]
pub use ssm::SsmProvider;
pub use value::{RawValue, Secret, Transform, Transformed};
