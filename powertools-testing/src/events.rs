//! Event fixtures: the JSON Lambda hands a function for the common sources, with builders to
//! set what a test is about (bodies, ids, attributes) and realistic values for the rest.
//!
//! Each builder's `build()` is a `serde_json::Value`: send it to a function under the harness
//! (`InvocationRequest::json(&event)`), or read it as the typed event your handler takes
//! (`serde_json::from_value::<aws_lambda_events::sqs::SqsEvent>(event)`); every fixture
//! deserializes into its `aws_lambda_events` type (tested).
//!
//! | source | builder |
//! |---|---|
//! | SQS (standard, FIFO; SNS or EventBridge inside) | [`sqs`], [`sns_notification`], [`eventbridge_event`] |
//! | Kinesis Data Streams | [`kinesis`] |
//! | DynamoDB Streams | [`dynamodb_streams`] (plain JSON images, written as DynamoDB JSON) |
//! | API Gateway REST, HTTP API, ALB, function URL | [`api_gateway_rest`], [`api_gateway_http`], [`alb`], [`function_url`] |
//! | SNS | [`sns`] |
//! | EventBridge, scheduled events | [`eventbridge`], [`scheduled`] |
//! | S3 | [`s3_object_created`] |
//!
//! ```
//! use powertools_testing::events;
//! use serde_json::json;
//!
//! let event = events::sqs()
//!     .message("m-1", json!({"order_id": "o-1"}).to_string())
//!     .message("m-2", "not json")
//!     .build();
//! assert_eq!(event["Records"][1]["messageId"], "m-2");
//!
//! let request = events::api_gateway_http("POST", "/orders")
//!     .header("idempotency-key", "k-1")
//!     .json_body(&json!({"sku": "BOOK-1984"}))
//!     .build();
//! assert_eq!(request["requestContext"]["http"]["method"], "POST");
//! ```

use base64::Engine as _;
use serde_json::{Map, Value, json};

const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "123456789012";
/// 2026-12-03T10:00:00Z.
const EPOCH_SECONDS: u64 = 1_796_292_000;
const TIME: &str = "2026-12-03T10:00:00Z";

/// A UUID-shaped id, the same for the same `n` (fixtures are deterministic).
fn uuid(n: u64) -> String {
    format!("059f36b4-87a3-44ab-83d2-{n:012x}")
}

/// `{"Records": records}`, each record from the event source `arn`.
fn records_from(records: Vec<Value>, arn: &str) -> Value {
    let records: Vec<Value> = records
        .into_iter()
        .map(|mut record| {
            record["eventSourceARN"] = json!(arn);
            record
        })
        .collect();
    json!({ "Records": records })
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// ---------------------------------------------------------------------------------------------
// SQS

/// An SQS batch (`SqsEvent`): add messages, optionally make the queue FIFO.
pub fn sqs() -> SqsBuilder {
    SqsBuilder {
        queue: "orders".to_owned(),
        fifo: false,
        records: Vec::new(),
    }
}

/// Builds an SQS event; see [`sqs`].
#[derive(Debug, Clone)]
#[must_use]
pub struct SqsBuilder {
    queue: String,
    fifo: bool,
    records: Vec<Value>,
}

impl SqsBuilder {
    /// The queue's name (default `orders`): its ARN is the event source.
    pub fn queue(mut self, name: impl Into<String>) -> Self {
        self.queue = name.into();
        self
    }

    /// A FIFO queue (`<name>.fifo`): messages carry a group id and a sequence number.
    pub fn fifo(mut self) -> Self {
        self.fifo = true;
        self
    }

    /// Adds a message with id `id` and `body` (group `default` on a FIFO queue).
    pub fn message(self, id: impl Into<String>, body: impl Into<String>) -> Self {
        self.message_in_group(id, "default", body)
    }

    /// Adds a message of message group `group` (FIFO queues).
    pub fn message_in_group(
        mut self,
        id: impl Into<String>,
        group: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        let n = self.records.len() as u64 + 1;
        let mut attributes = json!({
            "ApproximateReceiveCount": "1",
            "SentTimestamp": (EPOCH_SECONDS * 1000).to_string(),
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": (EPOCH_SECONDS * 1000 + 1).to_string(),
        });
        if self.fifo {
            attributes["MessageGroupId"] = json!(group.into());
            attributes["SequenceNumber"] = json!(format!(
                "{:020}",
                18_849_496_460_467_696_128_u128 + u128::from(n)
            ));
            attributes["MessageDeduplicationId"] = json!(uuid(n));
        }
        self.records.push(json!({
            "messageId": id.into(),
            "receiptHandle": format!("AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a{n}"),
            "body": body.into(),
            "attributes": attributes,
            "messageAttributes": {},
            "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
            "eventSource": "aws:sqs",
            "eventSourceARN": "",
            "awsRegion": REGION,
        }));
        self
    }

    /// Sets `attribute` (a string message attribute) on the last message added.
    pub fn message_attribute(mut self, name: &str, value: impl Into<String>) -> Self {
        if let Some(last) = self.records.last_mut() {
            last["messageAttributes"][name] = json!({
                "stringValue": value.into(),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            });
        }
        self
    }

    /// The event.
    pub fn build(self) -> Value {
        let queue = if self.fifo && !self.queue.ends_with(".fifo") {
            format!("{}.fifo", self.queue)
        } else {
            self.queue
        };
        records_from(
            self.records,
            &format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"),
        )
    }
}

/// The body SNS delivers to an SQS queue it notifies (not raw delivery), carrying `message`.
pub fn sns_notification(message: impl Into<String>) -> String {
    json!({
        "Type": "Notification",
        "MessageId": uuid(1),
        "TopicArn": format!("arn:aws:sns:{REGION}:{ACCOUNT}:orders"),
        "Subject": null,
        "Message": message.into(),
        "Timestamp": "2026-12-03T10:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
        "UnsubscribeURL": format!("https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe"),
    })
    .to_string()
}

/// An EventBridge event (as a rule target receives it, or as the body of an SQS message a rule
/// sends), with `detail`.
pub fn eventbridge_event(detail_type: &str, source: &str, detail: Value) -> Value {
    json!({
        "version": "0",
        "id": uuid(2),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": TIME,
        "region": REGION,
        "resources": [],
        "detail": detail,
    })
}

/// An EventBridge event delivered to a function (`EventBridgeEvent`).
pub fn eventbridge(detail_type: &str, source: &str, detail: Value) -> Value {
    eventbridge_event(detail_type, source, detail)
}

/// A scheduled event (EventBridge rule `rate(...)`/`cron(...)`; EventBridge Scheduler sends
/// the same shape with its own `detail-type` when so configured).
pub fn scheduled() -> Value {
    let mut event = eventbridge_event("Scheduled Event", "aws.events", json!({}));
    event["resources"] = json!([format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/nightly")]);
    event
}

// ---------------------------------------------------------------------------------------------
// SNS, S3

/// An SNS notification delivered to a function (`SnsEvent`), carrying `message`.
pub fn sns(message: impl Into<String>) -> Value {
    let topic = format!("arn:aws:sns:{REGION}:{ACCOUNT}:orders");
    json!({"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": format!("{topic}:{}", uuid(3)),
        "Sns": {
            "Type": "Notification",
            "MessageId": uuid(4),
            "TopicArn": topic,
            "Subject": null,
            "Message": message.into(),
            "Timestamp": "2026-12-03T10:00:00.000Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertUrl": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
            "UnsubscribeUrl": format!("https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe"),
            "MessageAttributes": {},
        },
    }]})
}

/// An S3 `ObjectCreated:Put` notification (`S3Event`) for `bucket`/`key` of `size` bytes. The
/// key is written URL-encoded, as S3 writes it (`red flower.csv` as `red+flower.csv`): decode it
/// before calling S3.
pub fn s3_object_created(bucket: &str, key: &str, size: u64) -> Value {
    let key = s3_event_key(key);
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": "2026-12-03T10:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAINPONIXQXHT3IKHL2"},
        "requestParameters": {"sourceIPAddress": "192.0.2.1"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "object-created",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"}, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": key, "size": size, "eTag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": "0055AED6DCD90281E5"},
        },
    }]})
}

/// `text` percent-encoded as a query string component: unreserved characters as they are,
/// every other byte as `%XX`.
fn url_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(char::from(byte));
            }
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    encoded
}

/// `key` encoded the way S3 event notifications carry it: unreserved characters and `/` as they
/// are, a space as `+`, every other byte as `%XX`.
fn s3_event_key(key: &str) -> String {
    let mut encoded = String::with_capacity(key.len());
    for byte in key.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                encoded.push(char::from(byte));
            }
            b' ' => encoded.push('+'),
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    encoded
}

// ---------------------------------------------------------------------------------------------
// Kinesis, DynamoDB Streams

/// A Kinesis Data Streams batch (`KinesisEvent`): add records with their data.
pub fn kinesis() -> KinesisBuilder {
    KinesisBuilder {
        records: Vec::new(),
    }
}

/// Builds a Kinesis event; see [`kinesis`].
#[derive(Debug, Clone)]
#[must_use]
pub struct KinesisBuilder {
    records: Vec<Value>,
}

impl KinesisBuilder {
    /// Adds a record with sequence number `sequence` and `data` (base64-encoded, as Kinesis
    /// delivers it).
    pub fn record(mut self, sequence: impl Into<String>, data: impl AsRef<[u8]>) -> Self {
        let sequence = sequence.into();
        self.records.push(json!({
            "awsRegion": REGION,
            "eventID": format!("shardId-000000000000:{sequence}"),
            "eventName": "aws:kinesis:record",
            "eventSource": "aws:kinesis",
            "eventSourceARN": format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/orders"),
            "eventVersion": "1.0",
            "invokeIdentityArn": format!("arn:aws:iam::{ACCOUNT}:role/orders-stream-reader"),
            "kinesis": {
                "approximateArrivalTimestamp": EPOCH_SECONDS as f64,
                "data": base64(data.as_ref()),
                "partitionKey": "orders",
                "sequenceNumber": sequence,
                "kinesisSchemaVersion": "1.0",
            },
        }));
        self
    }

    /// The event.
    pub fn build(self) -> Value {
        json!({ "Records": self.records })
    }
}

/// A DynamoDB Streams batch (`dynamodb::Event`): add changes with their images as plain JSON
/// (`{"id": "o-1", "quantity": 2}`), written as DynamoDB JSON (`{"id": {"S": "o-1"}, ...}`).
pub fn dynamodb_streams() -> DynamoDbStreamsBuilder {
    DynamoDbStreamsBuilder {
        table: "orders".to_owned(),
        records: Vec::new(),
    }
}

/// Builds a DynamoDB Streams event; see [`dynamodb_streams`].
#[derive(Debug, Clone)]
#[must_use]
pub struct DynamoDbStreamsBuilder {
    table: String,
    records: Vec<Value>,
}

impl DynamoDbStreamsBuilder {
    /// The table's name (default `orders`).
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// An `INSERT` of `new` (keys `keys`).
    pub fn insert(self, sequence: impl Into<String>, keys: Value, new: Value) -> Self {
        self.change("INSERT", sequence.into(), keys, None, Some(new))
    }

    /// A `MODIFY` from `old` to `new`.
    pub fn modify(self, sequence: impl Into<String>, keys: Value, old: Value, new: Value) -> Self {
        self.change("MODIFY", sequence.into(), keys, Some(old), Some(new))
    }

    /// A `REMOVE` of `old`.
    pub fn remove(self, sequence: impl Into<String>, keys: Value, old: Value) -> Self {
        self.change("REMOVE", sequence.into(), keys, Some(old), None)
    }

    fn change(
        mut self,
        name: &str,
        sequence: String,
        keys: Value,
        old: Option<Value>,
        new: Option<Value>,
    ) -> Self {
        let mut change = Map::new();
        change.insert(
            "ApproximateCreationDateTime".into(),
            json!(EPOCH_SECONDS as f64),
        );
        change.insert("Keys".into(), dynamodb_json(&keys));
        if let Some(new) = &new {
            change.insert("NewImage".into(), dynamodb_json(new));
        }
        if let Some(old) = &old {
            change.insert("OldImage".into(), dynamodb_json(old));
        }
        change.insert("SequenceNumber".into(), json!(sequence));
        change.insert("SizeBytes".into(), json!(26));
        change.insert("StreamViewType".into(), json!("NEW_AND_OLD_IMAGES"));
        self.records.push(json!({
            "awsRegion": REGION,
            "eventID": format!("c4ca4238a0b923820dcc509a6f75849b-{sequence}"),
            "eventName": name,
            "eventSource": "aws:dynamodb",
            "eventVersion": "1.1",
            "eventSourceARN": "",
            "dynamodb": change,
        }));
        self
    }

    /// The event.
    pub fn build(self) -> Value {
        let arn = format!(
            "arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{}/stream/2026-12-03T10:00:00.000",
            self.table
        );
        records_from(self.records, &arn)
    }
}

/// `value` as DynamoDB JSON: an object becomes a map of attribute values (`S`, `N`, `BOOL`,
/// `NULL`, `L`, `M`).
pub fn dynamodb_json(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), attribute_value(v)))
                .collect(),
        ),
        other => attribute_value(other),
    }
}

fn attribute_value(value: &Value) -> Value {
    match value {
        Value::Null => json!({"NULL": true}),
        Value::Bool(b) => json!({"BOOL": b}),
        Value::Number(n) => json!({"N": n.to_string()}),
        Value::String(s) => json!({"S": s}),
        Value::Array(items) => json!({"L": items.iter().map(attribute_value).collect::<Vec<_>>()}),
        Value::Object(_) => json!({"M": dynamodb_json(value)}),
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// Which HTTP front door an [`HttpBuilder`] event comes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Door {
    Rest,
    Http,
    Alb,
    FunctionUrl,
}

/// An API Gateway REST API request (payload format 1.0, `ApiGatewayProxyRequest`).
pub fn api_gateway_rest(method: &str, path: &str) -> HttpBuilder {
    HttpBuilder::new(Door::Rest, method, path)
}

/// An API Gateway HTTP API request (payload format 2.0, `ApiGatewayV2httpRequest`).
pub fn api_gateway_http(method: &str, path: &str) -> HttpBuilder {
    HttpBuilder::new(Door::Http, method, path)
}

/// An Application Load Balancer request (`AlbTargetGroupRequest`).
pub fn alb(method: &str, path: &str) -> HttpBuilder {
    HttpBuilder::new(Door::Alb, method, path)
}

/// A Lambda function URL request (`LambdaFunctionUrlRequest`; payload format 2.0).
pub fn function_url(method: &str, path: &str) -> HttpBuilder {
    HttpBuilder::new(Door::FunctionUrl, method, path)
}

/// Builds an HTTP request event; see [`api_gateway_rest`], [`api_gateway_http`], [`alb`],
/// [`function_url`].
#[derive(Debug, Clone)]
#[must_use]
pub struct HttpBuilder {
    door: Door,
    method: String,
    path: String,
    route: Option<String>,
    headers: Vec<(String, String)>,
    query: Vec<(String, String)>,
    path_parameters: Vec<(String, String)>,
    body: Option<String>,
    base64: bool,
    request_id: String,
}

impl HttpBuilder {
    fn new(door: Door, method: &str, path: &str) -> Self {
        Self {
            door,
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            route: None,
            headers: vec![
                ("accept".into(), "application/json".into()),
                ("host".into(), "orders.example.com".into()),
                ("user-agent".into(), "curl/8.5.0".into()),
            ],
            query: Vec::new(),
            path_parameters: Vec::new(),
            body: None,
            base64: false,
            request_id: "c6af9ac6-7b61-11e6-9a41-93e812345678".into(),
        }
    }

    /// A header (names as clients send them; API Gateway HTTP APIs lower-case them).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        self.headers.push((name, value.into()));
        self
    }

    /// A query string parameter (decoded; the fixture encodes it where AWS sends it encoded). A
    /// name given twice has two values, each front door carrying them its own way: REST in
    /// `multiValueQueryStringParameters` (the last in `queryStringParameters`), HTTP API and
    /// function URLs joined by commas, ALB the last one.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// The route the request matched: the REST API resource (`/orders/{id}`) or the HTTP API
    /// route (`/orders/{id}`, or `$default` for the catch-all route). Defaults to the path.
    pub fn route(mut self, route: impl Into<String>) -> Self {
        self.route = Some(route.into());
        self
    }

    /// A path parameter, with the route it comes from (`/orders/{id}`) for API Gateway.
    pub fn path_parameter(
        mut self,
        route: impl Into<String>,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.route = Some(route.into());
        self.path_parameters.push((name.into(), value.into()));
        self
    }

    /// A text body.
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self.base64 = false;
        self
    }

    /// A JSON body, with `content-type: application/json`.
    pub fn json_body(self, body: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(body.to_string())
    }

    /// A binary body, base64-encoded (`isBase64Encoded: true`).
    pub fn binary_body(mut self, body: impl AsRef<[u8]>) -> Self {
        self.body = Some(base64(body.as_ref()));
        self.base64 = true;
        self
    }

    /// The request id of the request context (API Gateway, function URLs), which the logger
    /// takes as the correlation id.
    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = id.into();
        self
    }

    fn object(pairs: &[(String, String)]) -> Value {
        Value::Object(pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
    }

    fn or_null(pairs: &[(String, String)]) -> Value {
        if pairs.is_empty() {
            Value::Null
        } else {
            Self::object(pairs)
        }
    }

    /// The query string as the client sent it, percent-encoded.
    fn query_string(&self) -> String {
        self.query
            .iter()
            .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Each query name once (in first-seen order) with all its values.
    fn query_values(&self) -> Vec<(&str, Vec<&str>)> {
        let mut grouped: Vec<(&str, Vec<&str>)> = Vec::new();
        for (name, value) in &self.query {
            match grouped.iter_mut().find(|(n, _)| n == name) {
                Some((_, values)) => values.push(value),
                None => grouped.push((name, vec![value])),
            }
        }
        grouped
    }

    /// `{name: f(values)}` over [`query_values`](Self::query_values).
    fn query_map(&self, f: impl Fn(&[&str]) -> Value) -> Value {
        Value::Object(
            self.query_values()
                .into_iter()
                .map(|(name, values)| (name.to_owned(), f(&values)))
                .collect(),
        )
    }

    /// The event.
    pub fn build(self) -> Value {
        let headers = Self::object(&self.headers);
        match self.door {
            Door::Rest => {
                let resource = self.route.clone().unwrap_or_else(|| self.path.clone());
                let multi: Map<String, Value> = self
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), json!([v])))
                    .collect();
                let last = |values: &[&str]| json!(values.last());
                json!({
                    "resource": resource,
                    "path": self.path,
                    "httpMethod": self.method,
                    "headers": headers,
                    "multiValueHeaders": multi,
                    "queryStringParameters": if self.query.is_empty() { Value::Null } else { self.query_map(last) },
                    "multiValueQueryStringParameters": if self.query.is_empty() { Value::Null } else { self.query_map(|values| json!(values)) },
                    "pathParameters": Self::or_null(&self.path_parameters),
                    "stageVariables": null,
                    "requestContext": {
                        "accountId": ACCOUNT,
                        "apiId": "1234567890",
                        "resourceId": "abc123",
                        "resourcePath": resource,
                        "httpMethod": self.method,
                        "requestId": self.request_id,
                        "extendedRequestId": "c6af9ac67b6111e6=",
                        "path": format!("/prod{}", self.path),
                        "protocol": "HTTP/1.1",
                        "stage": "prod",
                        "domainName": "1234567890.execute-api.eu-west-1.amazonaws.com",
                        "requestTime": "03/Dec/2026:10:00:00 +0000",
                        "requestTimeEpoch": EPOCH_SECONDS * 1000,
                        "identity": {"sourceIp": "192.0.2.1", "userAgent": "curl/8.5.0"},
                    },
                    "body": self.body,
                    "isBase64Encoded": self.base64,
                })
            }
            Door::Http | Door::FunctionUrl => {
                let url = self.door == Door::FunctionUrl;
                let route_key = match self.route.as_deref() {
                    _ if url => "$default".to_owned(),
                    Some("$default") => "$default".to_owned(),
                    route => format!("{} {}", self.method, route.unwrap_or(&self.path)),
                };
                // Payload 2.0 moves cookies out of the headers into `cookies`.
                let lower: Map<String, Value> = self
                    .headers
                    .iter()
                    .filter(|(k, _)| !k.eq_ignore_ascii_case("cookie"))
                    .map(|(k, v)| (k.to_ascii_lowercase(), json!(v)))
                    .collect();
                let cookies: Vec<&str> = self
                    .headers
                    .iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
                    .flat_map(|(_, v)| v.split(';').map(str::trim))
                    .filter(|c| !c.is_empty())
                    .collect();
                let domain = if url {
                    "abcdefghijklmnopqrstuvwxyz0123.lambda-url.eu-west-1.on.aws"
                } else {
                    "1234567890.execute-api.eu-west-1.amazonaws.com"
                };
                let mut event = json!({
                    "version": "2.0",
                    "routeKey": route_key,
                    "rawPath": self.path,
                    "rawQueryString": self.query_string(),
                    "headers": lower,
                    "requestContext": {
                        "accountId": if url { "anonymous" } else { ACCOUNT },
                        "apiId": if url { "abcdefghijklmnopqrstuvwxyz0123" } else { "1234567890" },
                        "domainName": domain,
                        "domainPrefix": domain.split('.').next().unwrap_or_default(),
                        "http": {
                            "method": self.method,
                            "path": self.path,
                            "protocol": "HTTP/1.1",
                            "sourceIp": "192.0.2.1",
                            "userAgent": "curl/8.5.0",
                        },
                        "requestId": self.request_id,
                        "routeKey": route_key,
                        "stage": "$default",
                        "time": "03/Dec/2026:10:00:00 +0000",
                        "timeEpoch": EPOCH_SECONDS * 1000,
                    },
                    "isBase64Encoded": self.base64,
                });
                if !self.query.is_empty() {
                    event["queryStringParameters"] =
                        self.query_map(|values| json!(values.join(",")));
                }
                if !cookies.is_empty() {
                    event["cookies"] = json!(cookies);
                }
                if !self.path_parameters.is_empty() {
                    event["pathParameters"] = Self::object(&self.path_parameters);
                }
                if let Some(body) = self.body {
                    event["body"] = json!(body);
                }
                event
            }
            Door::Alb => {
                // ALB sends header names in lower case.
                let mut headers: Map<String, Value> = self
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), json!(v)))
                    .collect();
                if !self
                    .headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("x-amzn-trace-id"))
                {
                    headers.insert(
                        "x-amzn-trace-id".into(),
                        json!("Root=1-5759e988-bd862e3fe1be46a994272793"),
                    );
                }
                // ALB passes the query string on as the client encoded it, the last value of a
                // repeated name.
                let query: Map<String, Value> = self
                    .query_values()
                    .into_iter()
                    .map(|(name, values)| {
                        (
                            url_encode(name),
                            json!(url_encode(values.last().copied().unwrap_or_default())),
                        )
                    })
                    .collect();
                json!({
                    "requestContext": {"elb": {"targetGroupArn": format!("arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/orders/73e2d6bc24d8a067")}},
                    "httpMethod": self.method,
                    "path": self.path,
                    "queryStringParameters": query,
                    "headers": headers,
                    "body": self.body.unwrap_or_default(),
                    "isBase64Encoded": self.base64,
                })
            }
        }
    }
}
