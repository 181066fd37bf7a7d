//! Orders: what a client sends, how it is checked, and what is stored and returned.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

/// What a client sends to `POST /orders`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    /// Who orders.
    pub customer_id: String,
    /// What is ordered.
    pub sku: String,
    /// How many (1 to 100).
    pub quantity: u32,
}

/// An accepted order, as stored and as returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Our id for it.
    pub order_id: String,
    /// Who ordered.
    pub customer_id: String,
    /// What was ordered.
    pub sku: String,
    /// How many.
    pub quantity: u32,
    /// Always `accepted` here.
    pub status: String,
}

impl Order {
    /// A new accepted order with a fresh id.
    pub fn accept(new: NewOrder) -> Self {
        Self {
            order_id: format!("o-{:012x}", powertools_core::random_u64() >> 16),
            customer_id: new.customer_id,
            sku: new.sku,
            quantity: new.quantity,
            status: "accepted".to_owned(),
        }
    }

    /// The order as a DynamoDB item (partition key `id`).
    pub fn to_item(&self) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("id".to_owned(), AttributeValue::S(self.order_id.clone())),
            (
                "customer_id".to_owned(),
                AttributeValue::S(self.customer_id.clone()),
            ),
            ("sku".to_owned(), AttributeValue::S(self.sku.clone())),
            (
                "quantity".to_owned(),
                AttributeValue::N(self.quantity.to_string()),
            ),
            ("status".to_owned(), AttributeValue::S(self.status.clone())),
        ])
    }

    /// Reads an item written by [`Order::to_item`]; `None` if it is not one.
    pub fn from_item(item: &HashMap<String, AttributeValue>) -> Option<Self> {
        let text = |name: &str| item.get(name)?.as_s().ok().cloned();
        Some(Self {
            order_id: text("id")?,
            customer_id: text("customer_id")?,
            sku: text("sku")?,
            quantity: item.get("quantity")?.as_n().ok()?.parse().ok()?,
            status: text("status")?,
        })
    }
}

/// Checks an order request; the error is the HTTP status and the message the client gets.
pub fn parse_order(body: &[u8]) -> Result<NewOrder, (u16, String)> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err((
            400,
            "request body is required: send a JSON order such as {\"customer_id\":\"c-1\",\"sku\":\"BOOK-1984\",\"quantity\":1}".to_owned(),
        ));
    }
    let order: NewOrder = serde_json::from_slice(body)
        .map_err(|e| (400, format!("request body is not a valid order: {e}")))?;
    if order.sku.trim().is_empty() || order.customer_id.trim().is_empty() {
        return Err((422, "customer_id and sku must not be empty".to_owned()));
    }
    if !(1..=100).contains(&order.quantity) {
        return Err((
            422,
            format!("quantity must be between 1 and 100, got {}", order.quantity),
        ));
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_valid_order() {
        let order = parse_order(br#"{"customer_id":"c-1","sku":"A","quantity":3}"#).unwrap();
        assert_eq!(order.quantity, 3);
    }

    #[test]
    fn rejects_bad_orders_with_a_message() {
        let cases: [(&[u8], u16, &str); 6] = [
            (b"", 400, "request body is required"),
            (b"   ", 400, "request body is required"),
            (b"{\"sku\": ", 400, "not a valid order"),
            (
                br#"{"customer_id":"c","sku":"A","quantity":0}"#,
                422,
                "between 1 and 100",
            ),
            (
                br#"{"customer_id":"c","sku":" ","quantity":1}"#,
                422,
                "must not be empty",
            ),
            (
                br#"{"customer_id":"c","sku":"A","quantity":1,"x":1}"#,
                400,
                "unknown field",
            ),
        ];
        for (body, status, text) in cases {
            let (got, message) = parse_order(body).unwrap_err();
            assert_eq!(got, status, "{body:?}");
            assert!(message.contains(text), "{body:?}: {message}");
        }
    }

    #[test]
    fn an_order_reads_back_from_its_item() {
        let order = Order::accept(NewOrder {
            customer_id: "c-1".to_owned(),
            sku: "BOOK-1984".to_owned(),
            quantity: 2,
        });
        assert!(order.order_id.starts_with("o-"));
        assert_eq!(Order::from_item(&order.to_item()), Some(order.clone()));
        let mut item = order.to_item();
        item.remove("sku");
        assert_eq!(Order::from_item(&item), None);
    }
}
