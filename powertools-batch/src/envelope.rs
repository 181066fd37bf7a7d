//! Typed envelopes: the user's type out of the record (or event) that carries it.
//!
//! Each wrapper names where the payload is and how it is encoded, and works for every record
//! type that carries such a payload:
//!
//! | wrapper | from | payload |
//! |---|---|---|
//! | [`Json<T>`] | [`SqsMessage`] | the body, JSON |
//! | [`Json<T>`] | [`KinesisEventRecord`] | the data (base64 on the wire), JSON |
//! | [`Json<T>`] | `ApiGatewayProxyRequest`, `ApiGatewayV2httpRequest` (feature `apigw`) | the body (base64 when so flagged), JSON |
//! | [`Sns<T>`] | [`SqsMessage`] | an SNS notification in the body; its `Message`, JSON |
//! | [`EventBridge<T>`] | [`SqsMessage`] | an EventBridge event in the body; its `detail` |
//! | [`NewImage<T>`], [`OldImage<T>`] | [`DynamoDbRecord`] | the item after / before the change |
//! | [`Change<T>`] | [`DynamoDbRecord`] | the event name, keys and both images (absent ones `None`) |
//!
//! They serve handlers outside batches as well:
//!
//! ```
//! use aws_lambda_events::sqs::SqsMessage;
//! use powertools_batch::envelope::{Decode, Sns};
//!
//! #[derive(serde::Deserialize)]
//! struct Order {
//!     order_id: String,
//! }
//!
//! let mut message = SqsMessage::default();
//! message.body = Some(r#"{"Type":"Notification","MessageId":"m-1","TopicArn":"arn:aws:sns:eu-west-1:123456789012:orders","Message":"{\"order_id\":\"o-1\"}","Timestamp":"2026-12-03T10:00:00.000Z","SignatureVersion":"1","Signature":"","SigningCertURL":"","UnsubscribeURL":""}"#.into());
//! let Sns(order) = Sns::<Order>::decode(&message)?;
//! assert_eq!(order.order_id, "o-1");
//! # Ok::<(), powertools_batch::ParseError>(())
//! ```
//!
//! A payload that does not parse is a [`ParseError`] that says what was expected and where the
//! input went wrong, without quoting the input: bodies carry personal data and secrets, and
//! the reason is logged.

use std::fmt;

use aws_lambda_events::dynamodb::EventRecord as DynamoDbRecord;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::kinesis::KinesisEventRecord;
use aws_lambda_events::sns::SnsMessage;
use aws_lambda_events::sqs::SqsMessage;
use serde::de::DeserializeOwned;

/// A payload that could not be read out of its record. Its text names the expected type and
/// the position of the fault, never the input's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    message: String,
}

impl ParseError {
    fn new(message: String) -> Self {
        Self { message }
    }

    /// `what` (e.g. "the SQS body") is not a valid `T`, because of `error`.
    fn invalid<T>(what: &str, error: &dyn fmt::Display) -> Self {
        Self::new(format!(
            "{what} is not a valid `{}`: {}",
            short_type_name::<T>(),
            redact(&error.to_string())
        ))
    }

    fn missing(what: &str) -> Self {
        Self::new(format!("{what} is missing"))
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

/// `T`'s name without its module path (`Vec<my_crate::Order>` is `Vec<Order>`).
fn short_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    let mut out = String::with_capacity(full.len());
    let mut segment = String::new();
    for c in full.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            segment.push(c);
        } else {
            out.push_str(segment.rsplit("::").next().unwrap_or(""));
            segment.clear();
            out.push(c);
        }
    }
    out.push_str(segment.rsplit("::").next().unwrap_or(""));
    out
}

/// What a serde error may say about the input: its kind of fault and where, never a value.
///
/// serde's own messages of known shapes are kept, those that quote the input made to say only
/// the kind of value (`invalid type: string "4111 1111", expected u32` becomes `invalid type:
/// string, expected u32`); any other message (a custom `Deserialize`, `serde_dynamo` quoting
/// a number it could not parse) becomes a fixed phrase. serde_json's ` at line L column C` is
/// kept.
pub(crate) fn redact(message: &str) -> String {
    let (body, position) = match message.rfind(" at line ") {
        Some(at) if message[at..].contains(" column ") => message.split_at(at),
        _ => (message, ""),
    };
    format!("{}{position}", redact_body(body))
}

/// Messages that hold no input value: serde's for a missing or repeated field of the target
/// type and for lengths, and serde_json's syntax errors.
const SAFE_AS_IS: &[&str] = &[
    "missing field ",
    "duplicate field ",
    "invalid length ",
    "expected ",
    "EOF while parsing",
    "trailing ",
    "key must be ",
    "control character ",
    "invalid escape",
    "invalid number",
    "invalid unicode code point",
    "lone leading surrogate",
    "unexpected end of hex escape",
    "number out of range",
    "recursion limit exceeded",
];

fn redact_body(body: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = body.strip_prefix(prefix)
            && let Some(expected) = rest.rfind(", expected")
        {
            let kind = rest.split_whitespace().next().unwrap_or("value");
            let kind = kind.trim_end_matches(',');
            return format!("{prefix}{kind}{}", &rest[expected..]);
        }
    }
    for prefix in ["unknown variant ", "unknown field "] {
        if let Some(rest) = body.strip_prefix(prefix)
            && let Some(expected) = rest.rfind(", expected")
        {
            return format!("{}{}", prefix.trim_end(), &rest[expected..]);
        }
    }
    if SAFE_AS_IS.iter().any(|safe| body.starts_with(safe)) {
        return body.to_owned();
    }
    "a value does not fit the type".to_owned()
}

/// Reads `Self` out of a record borrowed from its event: the envelopes' common way in.
///
/// Implemented by every envelope of this module for the records it applies to; implement it
/// for your own envelope to use it as a batch handler's argument (with [`FromRecord`]).
pub trait Decode<R>: Sized {
    /// Reads `Self` out of `record`.
    ///
    /// # Errors
    /// A [`ParseError`] when the payload is absent or is not a valid `Self`.
    fn decode(record: &R) -> Result<Self, ParseError>;
}

/// What a batch record handler takes: `Self` made out of one record, consuming it.
///
/// Implemented for the record types themselves (the handler gets the raw record), for every
/// envelope ([`Json<T>`], [`Sns<T>`], ...), and for `(R, E)` where `E` is an envelope of `R`:
/// the raw record and its typed payload together.
pub trait FromRecord<R>: Sized {
    /// Makes `Self` out of `record`.
    ///
    /// # Errors
    /// A [`ParseError`] when the record does not carry a valid `Self`; the record is then
    /// reported as failed and the handler is not called.
    fn from_record(record: R) -> Result<Self, ParseError>;
}

macro_rules! raw_record {
    ($($record:ty),*) => {$(
        impl FromRecord<$record> for $record {
            fn from_record(record: $record) -> Result<Self, ParseError> {
                Ok(record)
            }
        }

        impl<E: Decode<$record>> FromRecord<$record> for ($record, E) {
            fn from_record(record: $record) -> Result<Self, ParseError> {
                let payload = E::decode(&record)?;
                Ok((record, payload))
            }
        }
    )*};
}

raw_record!(SqsMessage, KinesisEventRecord, DynamoDbRecord);

macro_rules! envelope_from_record {
    ($($envelope:ident),*) => {$(
        impl<R, T> FromRecord<R> for $envelope<T>
        where
            Self: Decode<R>,
        {
            fn from_record(record: R) -> Result<Self, ParseError> {
                Self::decode(&record)
            }
        }
    )*};
}

envelope_from_record!(Json, Sns, EventBridge);

/// A JSON payload as `T`: an SQS body, Kinesis data, an API Gateway body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Json<T>(pub T);

/// The `Message` of an SNS notification delivered to SQS (not raw delivery), JSON, as `T`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sns<T>(pub T);

/// The `detail` of an EventBridge event delivered to SQS, as `T`. For the whole event, take
/// `Json<aws_lambda_events::eventbridge::EventBridgeEvent<T>>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventBridge<T>(pub T);

/// The item after the change (`NewImage`; needs a stream view with new images), as `T`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewImage<T>(pub T);

/// The item before the change (`OldImage`; needs a stream view with old images), as `T`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OldImage<T>(pub T);

/// One DynamoDB Streams change with its images as `T`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Change<T> {
    /// `INSERT`, `MODIFY` or `REMOVE`.
    pub event_name: String,
    /// The key attributes of the changed item.
    pub keys: serde_dynamo::Item,
    /// The item before the change: `None` for an `INSERT`, or when the stream does not carry
    /// old images.
    pub old: Option<T>,
    /// The item after the change: `None` for a `REMOVE`, or when the stream does not carry new
    /// images.
    pub new: Option<T>,
}

fn json<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, ParseError> {
    serde_json::from_slice(bytes).map_err(|e| ParseError::invalid::<T>(what, &e))
}

/// [`json`] for text: no second UTF-8 check of every string in it.
fn json_str<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, ParseError> {
    serde_json::from_str(text).map_err(|e| ParseError::invalid::<T>(what, &e))
}

fn sqs_body(message: &SqsMessage) -> Result<&str, ParseError> {
    message
        .body
        .as_deref()
        .ok_or_else(|| ParseError::missing("the SQS body"))
}

impl<T: DeserializeOwned> Decode<SqsMessage> for Json<T> {
    fn decode(message: &SqsMessage) -> Result<Self, ParseError> {
        json_str("the SQS body", sqs_body(message)?).map(Json)
    }
}

impl<T: DeserializeOwned> Decode<KinesisEventRecord> for Json<T> {
    fn decode(record: &KinesisEventRecord) -> Result<Self, ParseError> {
        json("the Kinesis data", &record.kinesis.data.0).map(Json)
    }
}

impl<T: DeserializeOwned> Decode<SqsMessage> for Sns<T> {
    fn decode(message: &SqsMessage) -> Result<Self, ParseError> {
        let notification: SnsMessage = json_str("the SQS body", sqs_body(message)?)?;
        json_str("the SNS message", &notification.message).map(Sns)
    }
}

impl<T: DeserializeOwned> Decode<SqsMessage> for EventBridge<T> {
    fn decode(message: &SqsMessage) -> Result<Self, ParseError> {
        // The event type wants `T: Serialize` too: read the detail as a value first.
        let event: EventBridgeEvent = json_str("the SQS body", sqs_body(message)?)?;
        serde_json::from_value(event.detail)
            .map(EventBridge)
            .map_err(|e| ParseError::invalid::<T>("the EventBridge detail", &e))
    }
}

fn image<T: DeserializeOwned>(what: &str, item: serde_dynamo::Item) -> Result<T, ParseError> {
    if item.is_empty() {
        return Err(ParseError::missing(what));
    }
    serde_dynamo::from_item(item).map_err(|e| ParseError::invalid::<T>(what, &e))
}

fn optional_image<T: DeserializeOwned>(
    what: &str,
    item: serde_dynamo::Item,
) -> Result<Option<T>, ParseError> {
    if item.is_empty() {
        return Ok(None);
    }
    image(what, item).map(Some)
}

impl<T: DeserializeOwned> Decode<DynamoDbRecord> for NewImage<T> {
    fn decode(record: &DynamoDbRecord) -> Result<Self, ParseError> {
        image("the NewImage", record.change.new_image.clone()).map(NewImage)
    }
}

impl<T: DeserializeOwned> FromRecord<DynamoDbRecord> for NewImage<T> {
    fn from_record(record: DynamoDbRecord) -> Result<Self, ParseError> {
        image("the NewImage", record.change.new_image).map(NewImage)
    }
}

impl<T: DeserializeOwned> Decode<DynamoDbRecord> for OldImage<T> {
    fn decode(record: &DynamoDbRecord) -> Result<Self, ParseError> {
        image("the OldImage", record.change.old_image.clone()).map(OldImage)
    }
}

impl<T: DeserializeOwned> FromRecord<DynamoDbRecord> for OldImage<T> {
    fn from_record(record: DynamoDbRecord) -> Result<Self, ParseError> {
        image("the OldImage", record.change.old_image).map(OldImage)
    }
}

impl<T: DeserializeOwned> Decode<DynamoDbRecord> for Change<T> {
    fn decode(record: &DynamoDbRecord) -> Result<Self, ParseError> {
        Self::from_record(record.clone())
    }
}

impl<T: DeserializeOwned> FromRecord<DynamoDbRecord> for Change<T> {
    fn from_record(record: DynamoDbRecord) -> Result<Self, ParseError> {
        let change = record.change;
        Ok(Change {
            event_name: record.event_name,
            keys: change.keys,
            old: optional_image("the OldImage", change.old_image)?,
            new: optional_image("the NewImage", change.new_image)?,
        })
    }
}

#[cfg(feature = "apigw")]
mod apigw {
    use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
    use base64::Engine as _;
    use serde::de::DeserializeOwned;

    use super::{Decode, Json, ParseError, json, json_str};

    fn body<T: DeserializeOwned>(body: Option<&str>, base64: bool) -> Result<T, ParseError> {
        let body = body.ok_or_else(|| ParseError::missing("the request body"))?;
        if base64 {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(body)
                .map_err(|_| ParseError::new("the request body is not valid base64".into()))?;
            json("the request body", &bytes)
        } else {
            json_str("the request body", body)
        }
    }

    impl<T: DeserializeOwned> Decode<ApiGatewayProxyRequest> for Json<T> {
        fn decode(request: &ApiGatewayProxyRequest) -> Result<Self, ParseError> {
            body(request.body.as_deref(), request.is_base64_encoded).map(Json)
        }
    }

    impl<T: DeserializeOwned> Decode<ApiGatewayV2httpRequest> for Json<T> {
        fn decode(request: &ApiGatewayV2httpRequest) -> Result<Self, ParseError> {
            body(request.body.as_deref(), request.is_base64_encoded).map(Json)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Order {
        order_id: String,
        quantity: u32,
    }

    fn sqs(body: &str) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.body = Some(body.to_owned());
        message
    }

    #[test]
    fn an_sqs_body_parses_into_the_users_type() {
        let Json(order) =
            Json::<Order>::decode(&sqs(r#"{"order_id":"o-1","quantity":2}"#)).unwrap();
        assert_eq!(
            order,
            Order {
                order_id: "o-1".into(),
                quantity: 2
            }
        );
    }

    #[test]
    fn a_parse_error_names_the_type_and_the_fault_but_not_the_value() {
        let error = Json::<Order>::decode(&sqs(
            r#"{"order_id":"o-1","quantity":"4111 1111 1111 1111"}"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with(
                "the SQS body is not a valid `Order`: invalid type: string, expected u32"
            ),
            "{error}"
        );
        assert!(!error.contains("4111"), "{error}");
        let missing = Json::<Order>::decode(&sqs(r#"{"order_id":"o-1"}"#)).unwrap_err();
        assert!(
            missing.to_string().contains("missing field `quantity`"),
            "{missing}"
        );
        let none = Json::<Order>::decode(&SqsMessage::default()).unwrap_err();
        assert_eq!(none.to_string(), "the SQS body is missing");
    }

    #[test]
    fn kinesis_data_is_decoded_json() {
        let mut record = KinesisEventRecord::default();
        *record.kinesis.data = br#"{"order_id":"o-2","quantity":1}"#.to_vec();
        let Json(order) = Json::<Order>::decode(&record).unwrap();
        assert_eq!(order.order_id, "o-2");
    }

    #[test]
    fn eventbridge_detail_and_sns_message_inside_sqs() {
        let body = powertools_testing::events::eventbridge_event(
            "OrderPlaced",
            "shop",
            serde_json::json!({"order_id": "o-3", "quantity": 3}),
        )
        .to_string();
        let EventBridge(order) = EventBridge::<Order>::decode(&sqs(&body)).unwrap();
        assert_eq!(order.quantity, 3);
        let notification =
            powertools_testing::events::sns_notification(r#"{"order_id":"o-4","quantity":4}"#);
        let Sns(order) = Sns::<Order>::decode(&sqs(&notification)).unwrap();
        assert_eq!(order.order_id, "o-4");
        let not_json = Sns::<Order>::decode(&sqs(r#"{"Type":"Notification"}"#)).unwrap_err();
        assert!(
            not_json
                .to_string()
                .starts_with("the SQS body is not a valid `SnsMessage`"),
            "{not_json}"
        );
    }

    #[test]
    fn dynamodb_images_through_serde_dynamo() {
        let event = powertools_testing::events::dynamodb_streams()
            .modify(
                "111",
                serde_json::json!({"order_id": "o-5"}),
                serde_json::json!({"order_id": "o-5", "quantity": 4}),
                serde_json::json!({"order_id": "o-5", "quantity": 5}),
            )
            .build();
        let record: DynamoDbRecord = serde_json::from_value(event["Records"][0].clone()).unwrap();
        let NewImage(new) = NewImage::<Order>::decode(&record).unwrap();
        assert_eq!(new.quantity, 5);
        let change = Change::<Order>::from_record(record.clone()).unwrap();
        assert_eq!(change.event_name, "MODIFY");
        assert_eq!(change.old.unwrap().quantity, 4);
        let (raw, OldImage(old)) =
            <(DynamoDbRecord, OldImage<Order>)>::from_record(record).unwrap();
        assert_eq!(raw.change.sequence_number.as_deref(), Some("111"));
        assert_eq!(old.quantity, 4);
    }

    #[cfg(feature = "apigw")]
    #[test]
    fn api_gateway_bodies_plain_or_base64() {
        use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
        use base64::Engine as _;

        let mut rest = ApiGatewayProxyRequest::default();
        rest.body = Some(r#"{"order_id":"o-6","quantity":6}"#.into());
        assert_eq!(Json::<Order>::decode(&rest).unwrap().0.quantity, 6);
        let mut http = ApiGatewayV2httpRequest::default();
        http.body = Some(
            base64::engine::general_purpose::STANDARD.encode(r#"{"order_id":"o-7","quantity":7}"#),
        );
        http.is_base64_encoded = true;
        assert_eq!(Json::<Order>::decode(&http).unwrap().0.order_id, "o-7");
        http.body = Some("%%%".into());
        assert_eq!(
            Json::<Order>::decode(&http).unwrap_err().to_string(),
            "the request body is not valid base64"
        );
        http.body = None;
        assert_eq!(
            Json::<Order>::decode(&http).unwrap_err().to_string(),
            "the request body is missing"
        );
    }

    #[test]
    fn messages_of_other_shapes_say_nothing_of_the_input() {
        assert_eq!(
            redact("Failed to parse '4111111111111111111111' as an integer"),
            "a value does not fit the type"
        );
        assert_eq!(
            redact("unknown field `hunter2`, expected `order_id` or `quantity` at line 1 column 9"),
            "unknown field, expected `order_id` or `quantity` at line 1 column 9"
        );
        assert_eq!(
            redact("missing field `quantity` at line 1 column 18"),
            "missing field `quantity` at line 1 column 18"
        );
        assert_eq!(
            redact("custom: secret-token"),
            "a value does not fit the type"
        );
    }

    #[test]
    fn an_unparsable_dynamodb_number_is_not_quoted() {
        let record: DynamoDbRecord = serde_json::from_value(serde_json::json!({
            "awsRegion": "eu-west-1", "eventID": "1", "eventName": "INSERT", "eventSource": "aws:dynamodb",
            "dynamodb": {
                "Keys": {"order_id": {"S": "o-9"}},
                "NewImage": {"order_id": {"S": "o-9"}, "quantity": {"N": "4111111111111111111111"}},
                "SequenceNumber": "9", "SizeBytes": 26, "StreamViewType": "NEW_IMAGE"
            }
        }))
        .unwrap();
        let error = NewImage::<Order>::decode(&record).unwrap_err().to_string();
        assert!(!error.contains("4111"), "{error}");
        assert!(
            error.starts_with("the NewImage is not a valid `Order`"),
            "{error}"
        );
    }

    #[test]
    fn type_names_lose_their_paths() {
        assert_eq!(short_type_name::<Vec<Order>>(), "Vec<Order>");
        assert_eq!(
            short_type_name::<Option<(u8, String)>>(),
            "Option<(u8, String)>"
        );
    }

    proptest! {
        /// Whatever the body, decoding returns (never panics), and a string value in it never
        /// reaches the reason.
        #[test]
        fn a_hostile_body_never_panics_nor_leaks(secret in "[A-Za-z0-9 ]{12,40}", noise in ".{0,200}") {
            let bodies = [
                format!(r#"{{"order_id":"o","quantity":"{secret}"}}"#),
                format!(r#"{{"order_id":1,"quantity":"{secret}"}}"#),
                format!(r#"["{secret}"]"#),
                format!(r#""{secret}""#),
                noise.clone(),
            ];
            for body in &bodies {
                let result = Json::<Order>::decode(&sqs(body));
                let _ = Sns::<Order>::decode(&sqs(body));
                let _ = EventBridge::<Order>::decode(&sqs(body));
                if let Err(error) = result {
                    prop_assert!(!error.to_string().contains(&secret), "{}", error);
                }
            }
        }
    }
}
