//! Every fixture deserializes into the `aws_lambda_events` type of its source, with what the
//! builder was told.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_lambda_events::alb::AlbTargetGroupRequest;
use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use aws_lambda_events::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::kinesis::KinesisEvent;
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use aws_lambda_events::s3::S3Event;
use aws_lambda_events::sns::{SnsEvent, SnsMessage};
use aws_lambda_events::sqs::SqsEvent;
use powertools_testing::events;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn typed<T: DeserializeOwned>(event: Value) -> T {
    serde_json::from_value(event.clone()).unwrap_or_else(|e| panic!("{e}: {event:#}"))
}

#[test]
fn sqs_standard_fifo_and_envelopes() {
    let event: SqsEvent = typed(
        events::sqs()
            .message("m-1", "one")
            .message_attribute("tenant", "blue")
            .message("m-2", events::sns_notification(r#"{"order_id":"o-1"}"#))
            .build(),
    );
    assert_eq!(event.records.len(), 2);
    assert_eq!(event.records[0].message_id.as_deref(), Some("m-1"));
    assert_eq!(
        event.records[0].message_attributes["tenant"]
            .string_value
            .as_deref(),
        Some("blue")
    );
    assert_eq!(
        event.records[0].event_source_arn.as_deref(),
        Some("arn:aws:sqs:eu-west-1:123456789012:orders")
    );
    let notification: SnsMessage =
        serde_json::from_str(event.records[1].body.as_deref().unwrap()).unwrap();
    assert_eq!(notification.message, r#"{"order_id":"o-1"}"#);

    let fifo: SqsEvent = typed(
        events::sqs()
            .fifo()
            .message_in_group("f-1", "g-1", "x")
            .build(),
    );
    assert!(
        fifo.records[0]
            .event_source_arn
            .as_deref()
            .unwrap()
            .ends_with("orders.fifo")
    );
    assert_eq!(fifo.records[0].attributes["MessageGroupId"], "g-1");

    let detail = events::eventbridge_event("OrderPlaced", "shop", json!({"order_id": "o-2"}));
    let in_queue: SqsEvent = typed(events::sqs().message("e-1", detail.to_string()).build());
    let inner: EventBridgeEvent =
        serde_json::from_str(in_queue.records[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(inner.detail["order_id"], "o-2");
}

#[test]
fn kinesis_and_dynamodb_streams() {
    let kinesis: KinesisEvent = typed(events::kinesis().record("100", r#"{"n":1}"#).build());
    assert_eq!(kinesis.records[0].kinesis.sequence_number, "100");
    assert_eq!(&kinesis.records[0].kinesis.data[..], br#"{"n":1}"#);

    let streams: DynamoDbEvent = typed(
        events::dynamodb_streams()
            .insert(
                "111",
                json!({"id": "o-1"}),
                json!({"id": "o-1", "quantity": 2, "tags": ["a"], "paid": true, "note": null}),
            )
            .modify(
                "222",
                json!({"id": "o-1"}),
                json!({"id": "o-1", "quantity": 2}),
                json!({"id": "o-1", "quantity": 3}),
            )
            .remove("333", json!({"id": "o-1"}), json!({"id": "o-1"}))
            .build(),
    );
    let names: Vec<&str> = streams
        .records
        .iter()
        .map(|r| r.event_name.as_str())
        .collect();
    assert_eq!(names, ["INSERT", "MODIFY", "REMOVE"]);
    assert_eq!(
        streams.records[1].change.sequence_number.as_deref(),
        Some("222")
    );
    assert!(streams.records[2].change.new_image.is_empty());
    assert_eq!(
        events::dynamodb_json(&json!({"q": 2, "m": {"a": [true]}})),
        json!({"q": {"N": "2"}, "m": {"M": {"a": {"L": [{"BOOL": true}]}}}})
    );
}

#[test]
fn http_requests_through_every_front_door() {
    let rest: ApiGatewayProxyRequest = typed(
        events::api_gateway_rest("get", "/orders/o-1")
            .path_parameter("/orders/{id}", "id", "o-1")
            .query("verbose", "1")
            .request_id("rest-1")
            .build(),
    );
    assert_eq!(rest.http_method.as_str(), "GET");
    assert_eq!(rest.resource.as_deref(), Some("/orders/{id}"));
    assert_eq!(rest.path_parameters["id"], "o-1");
    assert_eq!(rest.request_context.request_id.as_deref(), Some("rest-1"));

    let http_api: ApiGatewayV2httpRequest = typed(
        events::api_gateway_http("POST", "/orders")
            .header("Idempotency-Key", "k-1")
            .json_body(&json!({"sku": "PEN"}))
            .build(),
    );
    assert_eq!(http_api.route_key.as_deref(), Some("POST /orders"));
    assert_eq!(http_api.headers["idempotency-key"], "k-1");
    assert_eq!(http_api.body.as_deref(), Some(r#"{"sku":"PEN"}"#));

    let url: LambdaFunctionUrlRequest =
        typed(events::function_url("GET", "/orders/export").build());
    assert_eq!(url.request_context.http.method.as_deref(), Some("GET"));
    assert!(
        url.request_context
            .domain_name
            .as_deref()
            .unwrap()
            .contains("lambda-url")
    );

    let alb: AlbTargetGroupRequest = typed(
        events::alb("GET", "/orders")
            .binary_body(b"\x00\x01")
            .build(),
    );
    assert!(alb.is_base64_encoded);
    assert!(alb.headers.contains_key("x-amzn-trace-id"));
}

/// What `lambda_http` (the request a `lambda_http` service or axum router sees) makes of the
/// fixture: repeated query names, values that need encoding, cookies, the route.
#[test]
fn http_requests_as_lambda_http_reads_them() {
    use lambda_http::RequestExt as _;

    let doors = [
        ("rest", events::api_gateway_rest("GET", "/search")),
        ("http", events::api_gateway_http("GET", "/search")),
        ("url", events::function_url("GET", "/search")),
        ("alb", events::alb("GET", "/search")),
    ];
    for (door, builder) in doors {
        let event = builder
            .query("tag", "red")
            .query("tag", "blue & green")
            .query("q", "a=b c")
            .header("Cookie", "session=s-1; theme=dark")
            .build();
        let request = lambda_http::request::from_str(&event.to_string())
            .unwrap_or_else(|e| panic!("{door}: {e}: {event:#}"));
        let query = request.query_string_parameters();
        assert_eq!(query.first("q"), Some("a=b c"), "{door}: {event:#}");
        let tags = query.all("tag").unwrap_or_default();
        match door {
            // ALB (without multi-value headers) passes the last value of a repeated name.
            "alb" => assert_eq!(tags, ["blue & green"], "{door}"),
            // HTTP API and function URLs join repeated values with commas, and lambda_http
            // splits them again.
            _ => assert_eq!(tags, ["red", "blue & green"], "{door}: {event:#}"),
        }
        let cookies: Vec<&str> = request
            .headers()
            .get_all("cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';').map(str::trim))
            .collect();
        assert_eq!(cookies, ["session=s-1", "theme=dark"], "{door}: {event:#}");
        if matches!(door, "http" | "url") {
            assert_eq!(event["cookies"], json!(["session=s-1", "theme=dark"]));
            assert!(event["headers"].get("cookie").is_none());
            assert_eq!(
                event["rawQueryString"],
                "tag=red&tag=blue%20%26%20green&q=a%3Db%20c"
            );
        }
    }

    let catch_all: ApiGatewayV2httpRequest = typed(
        events::api_gateway_http("GET", "/anything")
            .route("$default")
            .build(),
    );
    assert_eq!(catch_all.route_key.as_deref(), Some("$default"));
    let alb: AlbTargetGroupRequest = typed(
        events::alb("GET", "/")
            .header(
                "X-Amzn-Trace-Id",
                "Root=1-67891233-abcdef012345678912345678",
            )
            .build(),
    );
    assert_eq!(alb.headers.get_all("x-amzn-trace-id").iter().count(), 1);
    assert_eq!(
        alb.headers["x-amzn-trace-id"],
        "Root=1-67891233-abcdef012345678912345678"
    );
}

#[test]
fn sns_eventbridge_scheduled_and_s3() {
    let sns: SnsEvent = typed(events::sns("hello"));
    assert_eq!(sns.records[0].sns.message, "hello");
    let bridge: EventBridgeEvent =
        typed(events::eventbridge("OrderPlaced", "shop", json!({"n": 1})));
    assert_eq!(bridge.detail_type, "OrderPlaced");
    let scheduled: CloudWatchEvent = typed(events::scheduled());
    assert_eq!(scheduled.detail_type.as_deref(), Some("Scheduled Event"));
    let s3: S3Event = typed(events::s3_object_created("uploads", "in/orders.csv", 1024));
    assert_eq!(
        s3.records[0].s3.object.key.as_deref(),
        Some("in/orders.csv")
    );
    assert_eq!(s3.records[0].s3.object.size, Some(1024));
    // Keys come URL-encoded, as S3 sends them.
    let s3: S3Event = typed(events::s3_object_created(
        "uploads",
        "in/red flower=1 é.csv",
        1,
    ));
    assert_eq!(
        s3.records[0].s3.object.key.as_deref(),
        Some("in/red+flower%3D1+%C3%A9.csv")
    );
}
