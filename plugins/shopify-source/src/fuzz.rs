//! Property tests over arbitrary input: whatever Shopify sends (orders with refunds, refunds,
//! customers, privacy and deletion webhooks), the mappers answer with events or a reason, never a
//! panic. Run with `cargo test -p shopify-source fuzz` (`PROPTEST_CASES=100000` for a longer run).

use crate::map::{self, Categories, ShopifyOrder, ShopifyRefund};
use crate::privacy::{self, Delivery};
use proptest::prelude::*;
use rapport_sdk::fuzz::{mutated, vendor_json};
use rapport_sdk::v0_3::types::PosEvent;
use serde_json::Value;

const FIELDS: &[&str] = &[
    "id",
    "order_id",
    "created_at",
    "updated_at",
    "processed_at",
    "cancelled_at",
    "closed_at",
    "financial_status",
    "fulfillment_status",
    "currency",
    "total_price",
    "subtotal_price",
    "total_tax",
    "total_discounts",
    "line_items",
    "refunds",
    "refund_line_items",
    "line_item",
    "line_item_id",
    "quantity",
    "price",
    "subtotal",
    "total_tax",
    "title",
    "sku",
    "product_id",
    "variant_id",
    "customer",
    "email",
    "phone",
    "first_name",
    "last_name",
    "location_id",
    "source_name",
    "transactions",
    "amount",
    "kind",
    "status",
    "note",
    "email_marketing_consent",
    "sms_marketing_consent",
    "state",
    "opt_in_level",
    "consent_updated_at",
    "shop_id",
    "shop_domain",
    "orders_to_redact",
    "orders_requested",
    "data_request",
];

const TEXTS: &[&str] = &[
    "2026-10-05T10:00:00-04:00",
    "2026-10-05T10:00:00Z",
    "paid",
    "refunded",
    "partially_refunded",
    "voided",
    "pending",
    "USD",
    "JPY",
    "KWD",
    "18.00",
    "0.500",
    "-1",
    "subscribed",
    "unsubscribed",
    "not_subscribed",
    "single_opt_in",
    "ana@example.com",
    "+442079460301",
    "",
];

fn json() -> impl Strategy<Value = Value> {
    vendor_json(FIELDS, TEXTS)
}

/// Shopify's own sample documents (the fixtures of its Python client, vendored with the tests).
fn fixture(text: &str, key: &str) -> Value {
    let document: Value = serde_json::from_str(text).expect("a vendored fixture is JSON");
    document[key].clone()
}

fn order_example() -> Value {
    fixture(
        include_str!("../../../tests/fakes/specs/shopify/order.json"),
        "order",
    )
}

fn refund_example() -> Value {
    fixture(
        include_str!("../../../tests/fakes/specs/shopify/refund.json"),
        "refund",
    )
}

fn customer_example() -> Value {
    fixture(
        include_str!("../../../tests/fakes/specs/shopify/customer.json"),
        "customer",
    )
}

/// An order as Shopify writes it, read, looked up and mapped as the orders stream does.
fn order(order: Value) -> Result<Vec<PosEvent>, String> {
    let order: ShopifyOrder = map::decode("order", order)?;
    order.products_wanted();
    map::order_with_refunds(order, &Categories::default())
}

/// A refund as a `refunds/create` webhook carries it, read, looked up and mapped.
fn refund(refund: Value) -> Result<PosEvent, String> {
    let refund: ShopifyRefund = map::decode("refund", refund)?;
    refund.products_wanted();
    map::refund(&refund, &Categories::default())
}

#[test]
fn the_examples_the_changes_start_from_map() {
    order(order_example()).expect("the order fixture maps");
    refund(refund_example()).expect("the refund fixture maps");
    map::customer_event(customer_example()).expect("the customer fixture maps");
}

proptest! {
    #[test]
    fn a_changed_order_refund_or_customer_maps_or_says_why(
        order in mutated(order_example(), json().boxed()),
        refund in mutated(refund_example(), json().boxed()),
        customer in mutated(customer_example(), json().boxed()),
    ) {
        let _ = self::order(order);
        let _ = self::refund(refund);
        let _ = map::customer_event(customer);
    }

    #[test]
    fn any_order_or_refund_maps_or_says_why(value in json()) {
        let _ = order(value.clone());
        let _ = refund(value);
    }

    #[test]
    fn any_customer_maps_or_says_why(value in json()) {
        let _ = map::customer_event(value);
    }

    #[test]
    fn any_privacy_or_deletion_webhook_maps_or_says_why(body in json(), id in ".{0,12}") {
        let delivery = Delivery { webhook_id: &id, at: 0 };
        let _ = privacy::customers_redact(&body, delivery);
        let _ = privacy::customers_data_request(&body, delivery);
        let _ = privacy::customer_deleted(&body, delivery);
    }
}
