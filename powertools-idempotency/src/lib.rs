//! Exactly-once AWS Lambda handlers over DynamoDB, interoperable with Powertools for Python.
//!
//! Lambda delivers events more than once: async invocations are tried three times, failed or
//! throttled events are retried for hours, SQS may hand over a message twice, streams retry
//! whole batches. [`Idempotency::run`] (for any async function: one SQS record, a payment) and
//! [`Idempotency::layer`] (around a handler) run the work once per payload key and replay its
//! response to every duplicate.
//!
//! # Getting started
//!
//! ```no_run
//! # #[cfg(feature = "dynamodb")]
//! # async fn example() -> Result<(), lambda_runtime::Error> {
//! use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
//! use lambda_runtime::{Error, LambdaEvent, service_fn};
//! use powertools_idempotency::{DynamoDbStore, Idempotency};
//! use tower::ServiceBuilder;
//!
//! async fn create_order(event: LambdaEvent<ApiGatewayProxyRequest>) -> Result<ApiGatewayProxyResponse, Error> {
//!     // ... charge the card, write the order: runs once per request body
//!     Ok(ApiGatewayProxyResponse::default())
//! }
//!
//! let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
//! let store = DynamoDbStore::builder(aws_sdk_dynamodb::Client::new(&sdk_config), "IdempotencyTable").build();
//! let idempotency = Idempotency::builder(store)
//!     .event_key_jmespath("powertools_json(body)") // the key: the request body
//!     .build()?;
//! let service = ServiceBuilder::new()
//!     .layer(idempotency.layer()) // innermost, below the logger, metrics and tracer layers
//!     .service(service_fn(create_order));
//! lambda_runtime::run(service).await?;
//! # Ok(()) }
//! ```
//!
//! For one SQS record or any other unit of work:
//!
//! ```
//! # use powertools_idempotency::{Idempotency, InMemoryStore};
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let idempotency = Idempotency::builder(InMemoryStore::new()).event_key_jmespath("messageId").build().unwrap();
//! let record = serde_json::json!({"messageId": "059f36b4", "body": "{\"order\": 1}"});
//! let first: u32 = idempotency.run(&record, || async { Ok::<_, String>(42) }).await.unwrap();
//! let again: u32 = idempotency.run(&record, || async { Ok::<_, String>(0) }).await.unwrap();
//! assert_eq!((first, again), (42, 42)); // replayed, not run again
//! # }
//! ```
//!
//! # How it works
//!
//! ```text
//!  invocation               Idempotency                         DynamoDB (one item per key)
//!  ──────────               ───────────                         ───────────────────────────
//!  payload ──────────────▶  key = <prefix>#md5(select(payload))
//!                           [local cache hit, COMPLETED] ──────▶ replay (0 requests)
//!                           PutItem(INPROGRESS, expiration, ───▶ condition: absent OR expired OR
//!                             in_progress_expiration=deadline)     (INPROGRESS AND deadline passed)
//!                     ┌───  ◀── ok: claimed ───────────────────
//!  handler runs once ◀┘                                          
//!    Ok(response) ────────▶ UpdateItem(COMPLETED, data) ───────▶ (2 requests in all)
//!    Err(e) ──────────────▶ DeleteItem ────────────────────────▶ a retry runs again
//!                           ◀── ConditionalCheckFailed + ALL_OLD (the existing item, no read)
//!                             COMPLETED, not expired ──────────▶ replay `data` (1 request)
//!                             INPROGRESS, deadline ahead ──────▶ IdempotencyAlreadyInProgressError
//! ```
//!
//! A record whose invocation died mid-way stays `INPROGRESS` until that invocation's deadline
//! (`in_progress_expiration`, from the Lambda context; configurable), then the next duplicate
//! runs. [`IdempotencyLayer`] is `powertools_core::InvocationLayer` running an
//! [`IdempotencyHook`]; it reads the deadline even when used alone: it opens the invocation
//! scope itself (re-entrantly, reusing one an outer Powertools layer opened). Place it
//! innermost, right around the handler, so that a replayed response is still logged, measured
//! and traced.
//!
//! A payload has no key when the selected data is null, an empty string, an empty object, or a
//! list that is empty or holds only nulls (as Powertools for Python decides); `0` and `false`
//! are keys. Without a key the handler runs without idempotency (a warning, once), or fails with
//! `IdempotencyKeyError` with [`IdempotencyBuilder::raise_on_no_idempotency_key`]. A store that fails is an `IdempotencyPersistenceLayerError` and the handler does not run.
//!
//! # Replays
//!
//! A replay is told three ways: [`Idempotency::run_with_outcome`] returns
//! [`Execution::Replayed`] (`run` returns the response alone); an `INFO` line with target
//! `powertools` ("idempotent replay: ...", with the `idempotency_key`) reaches the logger with
//! the invocation's request id; and the invocation records it
//! (`powertools_core::Invocation::record_replay`), so `powertools-metrics` does not count the
//! invocation as empty under `raise_on_empty_metrics` and, with its `idempotent_replay_metric`
//! option, writes an `IdempotentReplay` count. [`IdempotencyBuilder::on_replay`] runs a hook of
//! your own with the replayed record.
//!
//! # Table
//!
//! Partition key `id` (String), TTL on `expiration`. Attribute names are configurable
//! ([`DynamoDbStoreBuilder`]); a composite-key table keeps `idempotency#<function>` in the
//! partition key and the record key in a sort key.
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `id` | S | `<prefix>#<hash>`, or `<prefix>#<tenant id>#<hash>` under tenant isolation; prefix `<function name>.<handler name>` or fixed |
//! | `expiration` | N | epoch seconds (default now + 1 h); void once the current whole epoch second is greater (`expiration < now_s`, the same comparison in the store's condition and in the client) |
//! | `in_progress_expiration` | N | epoch milliseconds: the claiming invocation's deadline |
//! | `status` | S | `INPROGRESS` or `COMPLETED` |
//! | `data` | S | the response, as JSON; `gzip+base64:<base64 of gzip of the JSON>` when only the compressed form fits |
//! | `validation` | S | hash of the validated part of the payload, when validation is on |
//!
//! # Responses the table cannot hold
//!
//! A caller whose handler succeeded always gets its response. A response is stored as its JSON
//! when that fits in [`IdempotencyBuilder::max_stored_response_bytes`] (default 400 KiB less
//! 8 KiB, under DynamoDB's 400 KB item limit), else gzip-compressed and base64-encoded after the
//! prefix `gzip+base64:` when that fits (replayed here, inflating to 64 MiB at most; Powertools
//! for Python, which cannot store such a response either, cannot read it). A response that does
//! not fit even compressed, that cannot be written as JSON, or whose JSON does not read back as
//! the handler's output type (nested deeper than serde_json reads, 128 levels; a NaN or
//! infinity, written as `null`, in an `f64` field; serde attributes that write what they do not
//! read) is returned to its caller and not stored: the record is deleted, a warning on stderr
//! says so, and a duplicate runs the handler again. Never an error, never a blocked key.
//!
//! # HTTP functions (lambda_http, axum)
//!
//! With the feature `http`, [`Idempotency::layer`] wraps a service run by `lambda_http::run`
//! (an axum `Router`, a tower `service_fn` taking `http::Request<lambda_http::Body>`). Only the
//! methods of [`IdempotencyBuilder::http_methods`] are made idempotent (default `POST`, `PUT`,
//! `PATCH`, `DELETE`); others pass through. A request is keyed either
//!
//! - by a header, [`IdempotencyBuilder::http_key_header`] (`"Idempotency-Key"`, as the IETF
//!   httpapi draft names it; a Structured Field string `"..."` is unquoted). The method, path
//!   and body are fingerprinted and stored with the response (or the part of the JSON body
//!   that [`IdempotencyBuilder::payload_validation_jmespath`] selects), so a key reused with
//!   another payload is refused; or
//! - by the body: its JSON (or the part [`IdempotencyBuilder::event_key_jmespath`] selects,
//!   `powertools_json(...)` included), together with the method and path, so the same body
//!   sent to two routes is two keys.
//!
//! The first request runs the handler; when the response's status is one of
//! [`IdempotencyBuilder::store_http_statuses`] (default: 2xx), its status, headers (less
//! hop-by-hop fields and `date`) and body are stored and a duplicate gets them back unchanged,
//! without running the handler. A response with another status is returned and not stored: a
//! retry runs again. Instead of running the handler, the layer answers with an RFC 9457
//! problem (`application/problem+json`):
//!
//! | status | when |
//! |---|---|
//! | `400` | no key (or more than one key header) and [`IdempotencyBuilder::http_key_required`] |
//! | `409` | a request with the same key is still in progress |
//! | `422` | the key was used before with another payload |
//!
//! Without a required key a request with no key runs without idempotency (warned once). A
//! failing store is the service's error, as for any handler. Stored records are of the same
//! table and format as other records (the `data` is a JSON object with `statusCode`,
//! `headers`, `body` and `isBase64Encoded`).
//!
//! ```no_run
//! # #[cfg(feature = "http")]
//! # mod example {
//! use axum::{Router, routing::post};
//! use powertools_idempotency::{Idempotency, InMemoryStore};
//! use tower::ServiceBuilder;
//!
//! pub async fn main() -> Result<(), lambda_http::Error> {
//!     let idempotency = Idempotency::builder(InMemoryStore::new())
//!         .http_key_header("Idempotency-Key")
//!         .http_key_required(true)
//!         .build()?;
//!     let router = Router::new().route("/orders", post(|body: String| async move { body }));
//!     let service = ServiceBuilder::new()
//!         .layer(idempotency.layer())
//!         .service(router);
//!     lambda_http::run(service).await
//! }
//! # }
//! # fn main() {}
//! ```
//!
//! # Failure modes
//!
//! What the caller gets when the store fails, and what a retry (a duplicate with the same key)
//! does then:
//!
//! | when the store fails | the caller gets | a retry |
//! |---|---|---|
//! | claiming the key (before the handler) | `IdempotencyPersistenceLayerError`; the handler did not run | runs normally once the store answers |
//! | saving the response (after the handler succeeded) | the handler's response; a warning on stderr | the engine deletes the record: if that works, the retry runs the handler again; if the store is still down, the record stays `INPROGRESS` and the retry gets `IdempotencyAlreadyInProgressError` until the in-progress expiry (the invocation's deadline), then runs the handler again |
//! | deleting the record (after the handler failed) | the handler's error; a warning on stderr | `IdempotencyAlreadyInProgressError` until the in-progress expiry, then runs the handler |
//! | not answering at all after the handler ran (a blackholed connection) | the handler's outcome once the time left before the invocation's deadline, less 500 ms, has passed (the call counts as failed: as in the two rows above); a warning on stderr | as in the two rows above |
//! | the handler panicked (the store is up) | the panic goes on (`lambda_runtime` reports it as the invocation's error); the record was deleted first | runs the handler again |
//! | the response cannot be stored (size, depth, not JSON, not read back as the output type) | the handler's response; a warning on stderr | runs the handler again |
//! | replaying (the claim is refused, the store answers with the record) | the stored response; a record that cannot be read as the handler's output is `IdempotencySerializationError` | the same |
//!
//! So the handler runs again after a failed save: the response is the caller's, but what the
//! handler did is not recorded. Give the handler a deadline (the layer reads it from the
//! Lambda context; [`Idempotency::run`] reads it from the invocation scope a Powertools layer or
//! `powertools_core::InvocationLayer` opens around the handler, and outside any scope uses
//! [`IdempotencyBuilder::in_progress_expiry`] when set). Without a deadline an in-progress
//! record has no in-progress expiry: an invocation that crashed or timed out blocks its key
//! until `expires_after` (1 hour by default), and every duplicate until then gets
//! `IdempotencyAlreadyInProgressError`.
//!
//! Inside an invocation scope with a deadline, saving the response and deleting the record are
//! bounded by the time left before the deadline, less 500 ms (a Tokio runtime with timers is
//! needed, as `#[tokio::main]` builds), so a store that stops answering cannot run the
//! invocation into Lambda's timeout. Claiming the key is not bounded here, nor is anything
//! outside a scope: give the DynamoDB client an operation timeout as well, e.g.
//! `aws_sdk_dynamodb::config::Builder::from(&sdk_config).timeout_config(TimeoutConfig::builder().operation_timeout(Duration::from_secs(2)).build())`
//! (`aws_sdk_dynamodb::config::timeout::TimeoutConfig`), well under the function's timeout.
//!
//! # Tenant isolation
//!
//! When the invocation carries a tenant id (functions with tenant isolation mode: Lambda's
//! `Context::tenant_id`, read through `powertools_core::Invocation::tenant_id`), the record key
//! is `<prefix>#<tenant id>#<hash>`: two tenants sending the same payload to one table each run
//! the handler and get their own response; a duplicate from the same tenant is replayed.
//! Without a tenant id the key is `<prefix>#<hash>`, as in Powertools for Python.
//!
//! The tenant id (like the deadline that sets the in-progress expiry) is read from the
//! invocation scope. [`IdempotencyLayer`] opens it itself; [`Idempotency::run`] only finds it
//! when a Powertools layer (the logger's context layer, metrics, tracer, idempotency) or
//! `powertools_core::InvocationLayer` is around the handler. Called from a handler with no
//! such layer, `run` sees no tenant: keys are not scoped by tenant, and tenants sending the same
//! payload replay each other's responses.
//!
//! # IAM
//!
//! `dynamodb:PutItem`, `dynamodb:GetItem`, `dynamodb:UpdateItem` and `dynamodb:DeleteItem` on
//! the table (see `examples/orders-api/template.yaml`).
//!
//! # Environment variables
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `POWERTOOLS_IDEMPOTENCY_DISABLED` | run every call (no store requests); a value that is not a boolean is reported once on stderr and ignored | `false` |
//! | `AWS_LAMBDA_FUNCTION_NAME` | first part of the default key prefix (else `local`); the default partition value `idempotency#<name>` of a composite-key table | set by Lambda |
//! | `_HANDLER` | second part of the default key prefix | set by Lambda; else `handler` |
//!
//! # Errors (Lambda `errorType`)
//!
//! `IdempotencyAlreadyInProgressError`, `IdempotencyValidationError`, `IdempotencyKeyError`
//! (with `raise_on_no_idempotency_key`), `IdempotencyPersistenceLayerError`,
//! `IdempotencySerializationError`, `IdempotencyInconsistentStateError`; the handler's own
//! errors pass through unchanged (and delete the record).
//!
//! # Sharing a table with Powertools for Python
//!
//! The hash is byte-for-byte that of Powertools for Python: MD5 (hex) of
//! `json.dumps(data, sort_keys=True)` (separators `", "`/`": "`, non-ASCII as `\uXXXX`, floats
//! as Python's `repr`), checked against vectors generated by Python itself
//! (`tests/vectors/generate.py`). To take over a Python function's table without a wave of
//! duplicate executions: use the same table and attribute names, select the same key data
//! (the same JMESPath expression), and set the key prefix Python used with
//! [`IdempotencyBuilder::key_prefix`] (`<function name>.<module>.<handler>`, e.g.
//! `orders-api.app.lambda_handler`). Python's stored responses replay here when they
//! deserialize into the handler's output type; ours replay in Python as JSON.
//!
//! # Sharing a table with Powertools for TypeScript
//!
//! One switch, [`IdempotencyBuilder::typescript_compatible`], makes records shared with a
//! function written with Powertools for AWS Lambda (TypeScript) 2.x, both ways:
//!
//! | | Python (default) | TypeScript (`typescript_compatible()`) |
//! |---|---|---|
//! | key hash | MD5 hex of `json.dumps(data, sort_keys=True)` | MD5 base64 of `JSON.stringify(deepSort(data))`: keys sorted case-insensitively (UTF-16 order, ties in the payload's order), array-index keys (`"0"`, `"10"`) first in numeric order, `__proto__` dropped, numbers as JavaScript's doubles print them (`1.0` is `1`, integers past 2^53 rounded) |
//! | default key prefix | `<function>.<handler>` | `<function>` |
//! | `data` (the response) | JSON text in a string attribute (compressed when large) | native values: `M`, `L`, `N`, `S`, `BOOL`, `NULL` (never compressed) |
//! | no key | null, `""`, `{}`, a list of nulls: run without idempotency (or `IdempotencyKeyError` with `raise_on_no_idempotency_key`) | run without idempotency only when a key path selects null; with `raise_on_no_idempotency_key`, any falsy selection (`0`, `""`, `[]`, `{}`) is refused |
//! | validation hash | the hash of the selected part, without prefix | the same, TypeScript's hash |
//!
//! Attribute names, statuses, `expiration` (seconds), `in_progress_expiration` (milliseconds)
//! and the validation attribute are the same in all three. Set the same table, the same key
//! and validation paths, and the same function name (the prefix) as the TypeScript function.
//! Checked against the TypeScript library itself: its keys for 47 payloads
//! (`tests/typescript/vectors.cjs`), and records written by each side and replayed by the other
//! over DynamoDB Local (objects, strings, numbers, validated payloads).
//!
//! Limits that come from JavaScript: keys that differ only by case keep the payload's order only
//! when `serde_json`'s `preserve_order` feature is on in your build (without it `serde_json`
//! has already sorted them by bytes); TypeScript cannot store numbers beyond 2^53 - 1 and reads
//! such numbers written here as `BigInt`; a response in native form must fit DynamoDB's 400 KB
//! item as is. The record format can also be set alone ([`IdempotencyBuilder::record_format`]):
//! reading accepts both forms (a string attribute is read the way the configured family
//! writes one), so a table can move from one family to the other.
//!
//! # Testing your code
//!
//! [`InMemoryStore`] has the DynamoDB store's semantics (the same conformance suite runs on
//! both) and counts its requests; give the builder a clock to move time
//! (`.clock(powertools_testing::ManualClock::default().clock())`). An `Arc` (or a `Box`) of a
//! store is a store, so a test can keep a handle on the store it gives the builder. End to
//! end, run the function under `powertools_testing::LocalFunction` against DynamoDB Local (the
//! project's `scripts/test` starts one).

mod builder;
#[cfg(feature = "dynamodb")]
mod dynamodb;
mod engine;
mod error;
mod hash;
#[cfg(feature = "http")]
mod http;
mod key;
mod layer;
mod memory;
mod record;
mod response;

pub use builder::IdempotencyBuilder;
#[cfg(feature = "dynamodb")]
pub use dynamodb::{DynamoDbStore, DynamoDbStoreBuilder};
pub use engine::{Execution, Idempotency};
pub use error::{IdempotencyConfigError, IdempotencyError, KeySelectionError};
pub use hash::{HashMode, js_dumps, python_dumps};
#[cfg(feature = "http")]
pub use http::HttpState;
pub use layer::{IdempotencyHook, IdempotencyLayer, IdempotencyService};
pub use memory::InMemoryStore;
pub use powertools_core::BoxFuture;
pub use record::{PutOutcome, Record, RecordFormat, Status, Store, StoreError};
