//! A local AppConfigData server: the two calls of the AppConfig data plane
//! (`StartConfigurationSession`, `GetLatestConfiguration`) over their real REST API, for the
//! configurations and feature flags a test deploys. No local AWS server offers AppConfigData, so
//! this one speaks the protocol the AWS SDK speaks:
//!
//! - `POST /configurationsessions` (JSON `ApplicationIdentifier`, `EnvironmentIdentifier`,
//!   `ConfigurationProfileIdentifier`) answers `201` with an `InitialConfigurationToken`, or `404`
//!   `ResourceNotFoundException` when nothing was deployed here to that application,
//!   environment and profile (what AppConfig answers for one that does not exist);
//! - `GET /configuration?configuration_token=…` answers `200` with the configuration when it
//!   changed since the session last saw it, an empty body when it did not, and the
//!   `Next-Poll-Configuration-Token` to use next; a token works once (`400`
//!   `BadRequestException` after that, as AppConfig does).
//!
//! Point the SDK at it with `AWS_ENDPOINT_URL_APPCONFIGDATA` (a function under
//! [`LocalFunction`](crate::LocalFunction)) or `endpoint_url` on the client's configuration.
//!
//! ```
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use powertools_testing::appconfig::AppConfigServer;
//!
//! let appconfig = AppConfigServer::start().await?;
//! appconfig.deploy_json("orders", "prod", "flags", &serde_json::json!({"new_checkout": {"enabled": true}}));
//! // LocalFunction::builder(..).env("AWS_ENDPOINT_URL_APPCONFIGDATA", appconfig.url())
//! assert!(appconfig.url().starts_with("http://127.0.0.1:"));
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::HarnessError;

/// Application, environment and configuration profile.
type Key = (String, String, String);

#[derive(Debug, Clone)]
struct Deployed {
    version: u64,
    content: Bytes,
    content_type: String,
}

#[derive(Debug, Default)]
struct State {
    deployed: HashMap<Key, Deployed>,
    /// Live tokens: the profile they poll and the version the session last received.
    tokens: HashMap<String, (Key, Option<u64>)>,
    next_version: u64,
    next_token: u64,
    sessions_started: usize,
    polls: usize,
}

/// A local AppConfigData endpoint; see the [module docs](self). Stops when dropped, open
/// connections included.
#[derive(Debug)]
pub struct AppConfigServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    server: JoinHandle<()>,
}

impl Drop for AppConfigServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl AppConfigServer {
    /// Starts the server on a free loopback port, with nothing deployed.
    pub async fn start() -> Result<Self, HarnessError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(HarnessError::Io)?;
        let addr = listener.local_addr().map_err(HarnessError::Io)?;
        let state = Arc::new(Mutex::new(State::default()));
        let server = tokio::spawn(crate::serve::accept_loop(
            listener,
            Arc::clone(&state),
            route,
        ));
        Ok(Self {
            addr,
            state,
            server,
        })
    }

    /// The endpoint URL (`http://127.0.0.1:<port>`), for `AWS_ENDPOINT_URL_APPCONFIGDATA`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Deploys `content` as the configuration of `profile` in `application`/`environment`: the
    /// next poll of every session on that profile receives it.
    pub fn deploy(
        &self,
        application: &str,
        environment: &str,
        profile: &str,
        content: impl Into<Bytes>,
        content_type: &str,
    ) {
        let mut state = self.lock();
        state.next_version += 1;
        let version = state.next_version;
        state.deployed.insert(
            (application.into(), environment.into(), profile.into()),
            Deployed {
                version,
                content: content.into(),
                content_type: content_type.into(),
            },
        );
    }

    /// [`deploy`](Self::deploy)s a JSON document (`application/json`). Feature flags are JSON
    /// too: `{"flag_name": {"enabled": true}}`, as AppConfig serves a feature-flags profile.
    pub fn deploy_json(&self, application: &str, environment: &str, profile: &str, value: &Value) {
        self.deploy(
            application,
            environment,
            profile,
            value.to_string(),
            "application/json",
        );
    }

    /// How many sessions were started (`StartConfigurationSession` calls that succeeded).
    pub fn sessions_started(&self) -> usize {
        self.lock().sessions_started
    }

    /// How many `GetLatestConfiguration` calls succeeded.
    pub fn polls(&self) -> usize {
        self.lock().polls
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

type Reply = Response<Full<Bytes>>;

/// An error the way AppConfigData (restJson1) reports it.
fn error(status: StatusCode, kind: &str, message: &str) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(
        json!({"Message": message}).to_string(),
    )));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    if let Ok(kind) = http::HeaderValue::from_str(kind) {
        headers.insert("x-amzn-errortype", kind);
    }
    response
}

async fn route(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Result<Reply, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(match (method, path.as_str()) {
        (Method::POST, "/configurationsessions") => start_session(&mut state, &body),
        (Method::GET, "/configuration") => latest(&mut state, &query),
        _ => error(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            "not an AppConfigData operation",
        ),
    })
}

fn start_session(state: &mut State, body: &[u8]) -> Reply {
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let field = |name: &str| request[name].as_str().unwrap_or_default().to_owned();
    let key = (
        field("ApplicationIdentifier"),
        field("EnvironmentIdentifier"),
        field("ConfigurationProfileIdentifier"),
    );
    if key.0.is_empty() || key.1.is_empty() || key.2.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            "ApplicationIdentifier, EnvironmentIdentifier and ConfigurationProfileIdentifier are required",
        );
    }
    if !state.deployed.contains_key(&key) {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "Deployment not found",
        );
    }
    state.sessions_started += 1;
    let token = issue(state, key, None);
    let mut response = Response::new(Full::new(Bytes::from(
        json!({"InitialConfigurationToken": token}).to_string(),
    )));
    *response.status_mut() = StatusCode::CREATED;
    response.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn issue(state: &mut State, key: Key, seen: Option<u64>) -> String {
    state.next_token += 1;
    let token = format!("token-{:016x}", state.next_token);
    state.tokens.insert(token.clone(), (key, seen));
    token
}

fn latest(state: &mut State, query: &str) -> Reply {
    let token = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("configuration_token="))
        .unwrap_or_default();
    let Some((key, seen)) = state.tokens.remove(token) else {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            "Token is not valid (a token works once: use the next poll token)",
        );
    };
    let Some(current) = state.deployed.get(&key).cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "Deployment not found",
        );
    };
    state.polls += 1;
    let changed = seen != Some(current.version);
    let next = issue(state, key, Some(current.version));
    let body = if changed {
        current.content.clone()
    } else {
        Bytes::new()
    };
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    for (name, value) in [
        ("next-poll-configuration-token", next.as_str()),
        ("next-poll-interval-in-seconds", "60"),
        ("content-type", current.content_type.as_str()),
        ("version-label", &current.version.to_string()),
    ] {
        if let Ok(value) = http::HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    response
}
