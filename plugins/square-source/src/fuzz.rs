//! Property tests over arbitrary input: whatever Square sends (orders, refunds, customers, loyalty
//! accounts, birthdays), the mappers answer with events or a reason, never a panic. Run with
//! `cargo test -p square-source fuzz` (`PROPTEST_CASES=100000` for a longer run).

use crate::catalog::Categories;
use crate::{map, people};
use proptest::prelude::*;
use rapport_sdk::fuzz::{mutated, vendor_json};
use serde_json::json;
use serde_json::Value;

const FIELDS: &[&str] = &[
    "id",
    "version",
    "state",
    "created_at",
    "updated_at",
    "closed_at",
    "location_id",
    "customer_id",
    "line_items",
    "name",
    "quantity",
    "base_price_money",
    "gross_sales_money",
    "total_money",
    "total_tax_money",
    "total_discount_money",
    "amount",
    "currency",
    "returns",
    "return_line_items",
    "source_order_id",
    "uid",
    "catalog_object_id",
    "catalog_version",
    "variation_total_price_money",
    "tenders",
    "refunds",
    "net_amounts",
    "source",
    "status",
    "order_id",
    "amount_money",
    "reason",
    "given_name",
    "family_name",
    "email_address",
    "phone_number",
    "birthday",
    "preferences",
    "email_unsubscribed",
    "balance",
    "lifetime_points",
    "mapping",
    "program_id",
    "enrolled_at",
    "creation_source",
    "variation_name",
    "item_type",
];

const TEXTS: &[&str] = &[
    "2026-10-01T09:00:00.000Z",
    "2026-10-01T09:00:00Z",
    "COMPLETED",
    "OPEN",
    "CANCELED",
    "DRAFT",
    "USD",
    "JPY",
    "KWD",
    "1",
    "1.5",
    "-2",
    "0000-12-10",
    "1990-02-29",
    "1990-02-30",
    "ada@example.com",
    "+442079460123",
    "",
    "L1",
];

fn json() -> impl Strategy<Value = Value> {
    vendor_json(FIELDS, TEXTS)
}

/// An order as Square's Orders API returns one: two lines, a return of one of them, a customer.
fn order_example() -> Value {
    let usd = |amount: i64| json!({"amount": amount, "currency": "USD"});
    json!({
        "id": "SQ-1", "location_id": "L1", "customer_id": "C-1", "state": "COMPLETED",
        "version": 3, "created_at": "2026-10-01T09:00:00.000Z",
        "updated_at": "2026-10-01T09:05:00.000Z", "closed_at": "2026-10-01T09:01:00.000Z",
        "source": {"name": "Square Point of Sale"},
        "line_items": [
            {"uid": "a", "name": "Latte", "quantity": "2", "catalog_object_id": "V-1",
             "catalog_version": 7, "base_price_money": usd(450),
             "variation_total_price_money": usd(900), "gross_sales_money": usd(900),
             "total_money": usd(900), "total_tax_money": usd(0), "total_discount_money": usd(0)},
            {"uid": "b", "name": "Mug", "quantity": "1.5", "base_price_money": usd(1800),
             "total_money": usd(2700), "total_tax_money": usd(0), "total_discount_money": usd(0)},
        ],
        "returns": [{"uid": "r", "source_order_id": "SQ-0", "return_line_items": [
            {"uid": "rl", "name": "Mug", "quantity": "1", "base_price_money": usd(1800),
             "total_money": usd(1800), "source_line_item_uid": "b"}]}],
        "total_money": usd(3600), "total_tax_money": usd(0), "total_discount_money": usd(0),
        "net_amounts": {"total_money": usd(1800)},
        "tenders": [{"id": "T-1", "type": "CARD", "amount_money": usd(3600)}],
    })
}

/// A customer as Square's Customers API returns one.
fn customer_example() -> Value {
    json!({
        "id": "C-1", "given_name": "Ada", "family_name": "Lovelace",
        "email_address": "ada@example.com", "phone_number": "+442079460123",
        "birthday": "0000-12-10", "created_at": "2026-09-01T10:00:00.000Z",
        "updated_at": "2026-09-01T10:00:00.000Z", "version": 2,
        "preferences": {"email_unsubscribed": false}, "creation_source": "DIRECTORY",
    })
}

/// A loyalty account as Square's Loyalty API returns one.
fn loyalty_example() -> Value {
    json!({
        "id": "LA-1", "program_id": "P-1", "balance": 80, "lifetime_points": 450,
        "customer_id": "C-1", "enrolled_at": "2026-09-01T10:00:00Z",
        "created_at": "2026-09-01T10:00:00Z", "updated_at": "2026-10-01T10:00:00Z",
        "mapping": {"id": "M-1", "created_at": "2026-09-01T10:00:00Z", "phone_number": "+442079460123"},
    })
}

/// An order as Square writes it, read and mapped as the orders stream does.
fn order(order: Value) -> Result<map::Mapped, String> {
    map::order(map::decode("order", order)?, &Categories::default())
}

#[test]
fn the_examples_the_changes_start_from_map() {
    order(order_example()).expect("the order example maps");
    people::customer(customer_example()).expect("the customer example maps");
    people::loyalty_account(loyalty_example()).expect("the loyalty example maps");
}

proptest! {
    #[test]
    fn a_changed_order_maps_or_says_why(order in mutated(order_example(), json().boxed())) {
        let _ = self::order(order);
    }

    #[test]
    fn a_changed_customer_or_account_maps_or_says_why(
        customer in mutated(customer_example(), json().boxed()),
        account in mutated(loyalty_example(), json().boxed()),
    ) {
        let _ = people::customer(customer);
        let _ = people::loyalty_account(account);
    }

    #[test]
    fn any_order_maps_or_says_why(order in json()) {
        let _ = self::order(order);
    }

    #[test]
    fn any_refund_maps_or_says_why(refund in json(), order in prop::option::of(json())) {
        let order = order.map(|o| map::decode("order", o));
        let order = order.as_ref().map(|o| o.as_ref().map_err(String::as_str));
        let _ = map::payment_refund(refund, order, &Categories::default());
    }

    #[test]
    fn any_customer_or_loyalty_account_maps_or_says_why(value in json()) {
        let _ = people::customer(value.clone());
        let _ = people::loyalty_account(value.clone());
        let _ = people::merged(value, vec!["C-1".into()]);
    }

    #[test]
    fn any_birthday_text_is_a_birthday_or_a_reason(text in ".{0,24}|[0-9]{4}-[0-9]{2}-[0-9]{2}") {
        if let Err(reason) = rapport_sdk::birthday::parse(&text) {
            prop_assert!(!reason.is_empty());
        }
    }
}
