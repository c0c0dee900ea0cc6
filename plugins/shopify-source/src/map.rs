//! Shopify resources (order with its embedded refunds, refund, customer) to the contract's events.
//! Money is a decimal string in major units, converted by the order's currency exponent; marketing
//! consent comes from `email_marketing_consent` and `sms_marketing_consent`; a line's category is
//! its product's `product_type`, which order lines do not carry: the caller reads it from
//! `products.json` for the ids [`ShopifyOrder::products_wanted`] names and passes it in as [`Categories`].

use rapport_sdk::money::{parse_money, sum, times};
use rapport_sdk::time::parse_field;
use rapport_sdk::v0_3::prelude::*;
use rapport_sdk::watermark::PageItem;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Product types by product id, for lines that name a product but no type; a product absent here
/// (unknown, or with an empty `product_type`) gives its lines no category.
pub type Categories = BTreeMap<u64, String>;

/// A Shopify order as this connector reads it (the orders stream decodes its pages straight into
/// these; see `rapport_sdk::items`).
#[derive(Deserialize)]
pub struct ShopifyOrder {
    id: u64,
    currency: String,
    created_at: String,
    processed_at: Option<String>,
    updated_at: String,
    cancelled_at: Option<String>,
    financial_status: Option<String>,
    source_name: Option<String>,
    location_id: Option<u64>,
    email: Option<String>,
    phone: Option<String>,
    customer: Option<ShopifyCustomer>,
    #[serde(default)]
    line_items: Vec<ShopifyLine>,
    total_line_items_price: Option<String>,
    subtotal_price: Option<String>,
    total_tax: Option<String>,
    total_discounts: Option<String>,
    total_price: String,
    #[serde(default)]
    refunds: Vec<ShopifyRefund>,
}

#[derive(Deserialize)]
struct ShopifyLine {
    product_id: Option<u64>,
    sku: Option<String>,
    title: Option<String>,
    name: Option<String>,
    product_type: Option<String>,
    quantity: i64,
    price: String,
    total_discount: Option<String>,
}

/// A Shopify refund: embedded in its order, or the body of a `refunds/create` webhook.
#[derive(Deserialize)]
pub struct ShopifyRefund {
    id: u64,
    order_id: u64,
    created_at: String,
    note: Option<String>,
    #[serde(default)]
    refund_line_items: Vec<RefundLine>,
    #[serde(default)]
    transactions: Vec<Transaction>,
}

#[derive(Deserialize)]
struct RefundLine {
    quantity: i64,
    line_item: ShopifyLine,
    subtotal: Option<String>,
}

#[derive(Deserialize)]
struct Transaction {
    kind: Option<String>,
    status: Option<String>,
    amount: String,
    currency: Option<String>,
}

#[derive(Deserialize)]
struct ShopifyCustomer {
    id: u64,
    email: Option<String>,
    phone: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
    email_marketing_consent: Option<MarketingConsent>,
    sms_marketing_consent: Option<MarketingConsent>,
}

#[derive(Deserialize)]
struct MarketingConsent {
    state: Option<String>,
    opt_in_level: Option<String>,
    consent_updated_at: Option<String>,
}

impl ShopifyOrder {
    /// The products whose type the order's lines need, sold or returned in its embedded refunds
    /// (see [`products_wanted`]).
    pub fn products_wanted(&self) -> BTreeSet<u64> {
        let returned = self.refunds.iter().flat_map(ShopifyRefund::lines);
        products_wanted(self.line_items.iter().chain(returned))
    }
}

impl PageItem for ShopifyOrder {
    fn id(&self) -> String {
        self.id.to_string()
    }

    fn updated_at(&self) -> Option<&str> {
        Some(&self.updated_at)
    }
}

impl ShopifyRefund {
    /// The products whose type the refund's lines need (see [`products_wanted`]).
    pub fn products_wanted(&self) -> BTreeSet<u64> {
        products_wanted(self.lines())
    }

    /// The lines given back, as their order sold them.
    fn lines(&self) -> impl Iterator<Item = &ShopifyLine> {
        self.refund_line_items.iter().map(|l| &l.line_item)
    }
}

/// The products whose type `lines` need: the `product_id` of every line that carries no
/// `product_type` of its own.
fn products_wanted<'a>(lines: impl Iterator<Item = &'a ShopifyLine>) -> BTreeSet<u64> {
    lines
        .filter(|l| nonblank(l.product_type.as_deref()).is_none())
        .filter_map(|l| l.product_id)
        .collect()
}

/// An order as an event with id `order:<id>:<updated_at>`, followed by one `refund:<id>` event for
/// each refund embedded in it.
pub fn order_with_refunds(
    o: ShopifyOrder,
    categories: &Categories,
) -> Result<Vec<PosEvent>, String> {
    let mut events = Vec::with_capacity(1 + o.refunds.len());
    events.push(order_event(&o, categories)?);
    for (i, r) in o.refunds.iter().enumerate() {
        let buyer = order_customer(&o)?;
        events.push(
            refund_event(r, Some(&o.currency), buyer, categories)
                .map_err(|e| format!("refunds[{i}]: {e}"))?,
        );
    }
    Ok(events)
}

/// A bare refund (a `refunds/create` webhook body) as a refund event linked to its order.
pub fn refund(refund: &ShopifyRefund, categories: &Categories) -> Result<PosEvent, String> {
    refund_event(refund, None, None, categories)
}

/// A customer as an event with id `customer:<id>:<updated_at>`.
pub fn customer_event(value: Value) -> Result<Vec<PosEvent>, String> {
    let c: ShopifyCustomer = decode("customer", value)?;
    let updated = c
        .updated_at
        .clone()
        .ok_or("the customer has no updated_at")?;
    let at = parse_field(&updated, "updated_at")?;
    Ok(vec![PosEvent {
        id: format!("customer:{}:{updated}", c.id),
        occurred_at: at,
        payload: PosPayload::Customer(customer(&c, None, None, at)?),
    }])
}

fn order_event(o: &ShopifyOrder, categories: &Categories) -> Result<PosEvent, String> {
    let cur = o.currency.as_str();
    let total = money(Some(&o.total_price), cur, "total_price")?;
    let tax = money(o.total_tax.as_deref(), cur, "total_tax")?;
    let discount = money(o.total_discounts.as_deref(), cur, "total_discounts")?;
    let subtotal = match &o.total_line_items_price {
        Some(gross) => money(Some(gross), cur, "total_line_items_price")?,
        None => {
            let net = money(o.subtotal_price.as_deref(), cur, "subtotal_price")?;
            Money {
                minor: net.minor + discount.minor,
                ..net
            }
        }
    };
    let lines = o
        .line_items
        .iter()
        .enumerate()
        .map(|(i, l)| {
            line(l, l.quantity, None, cur, categories).map_err(|e| format!("line_items[{i}]: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let updated_at = parse_field(&o.updated_at, "updated_at")?;
    // The sale's own time: when the order was processed (for a POS sale taken offline, the time at
    // the till, which may be before Shopify created it), else when it was created; never
    // `updated_at`, which moves with every later payment, fulfilment, refund or cancellation.
    let (placed, placed_field) = match &o.processed_at {
        Some(processed) => (processed.as_str(), "processed_at"),
        None => (o.created_at.as_str(), "created_at"),
    };
    Ok(PosEvent {
        id: format!("order:{}:{}", o.id, o.updated_at),
        occurred_at: updated_at,
        payload: PosPayload::Order(Order {
            id: o.id.to_string(),
            customer: order_customer(o)?,
            location: o.location_id.map(|l| l.to_string()),
            channel: if o.source_name.as_deref() == Some("pos") {
                SalesChannel::InStore
            } else {
                SalesChannel::Online
            },
            state: state(o),
            lines,
            subtotal,
            tax,
            discount,
            total,
            placed_at: parse_field(placed, placed_field)?,
            updated_at,
            // Shopify has no order version: the host orders versions by `updated_at`.
            version: None,
        }),
    })
}

/// An order's state. Cancelled (`cancelled_at`) wins over everything. Otherwise the money decides:
/// an order that was paid (`paid`, `partially_paid`, and `partially_refunded` or `refunded`, which
/// a sale must have been to be refunded) is a completed sale; `pending` and `authorized` are not
/// paid yet, so open; `voided` means the authorisation was given up and no money will come, so
/// cancelled. `closed_at` is deliberately ignored: it says the order was archived, which a merchant
/// may do to an unpaid order too (the sample `order.json` is `authorized` and Shopify's
/// `orders.json` sample is `partially_refunded`, both with `closed_at: null`); POS sales are
/// archived at once but also arrive `paid`, so they are completed by the same rule.
fn state(o: &ShopifyOrder) -> OrderState {
    if o.cancelled_at.is_some() {
        return OrderState::Canceled;
    }
    match o.financial_status.as_deref() {
        Some("paid" | "partially_paid" | "partially_refunded" | "refunded") => {
            OrderState::Completed
        }
        Some("voided") => OrderState::Canceled,
        _ => OrderState::Open,
    }
}

/// A refund given back through successful `refund` transactions, in the transactions' currency
/// (else the order's), with the returned lines.
fn refund_event(
    r: &ShopifyRefund,
    order_currency: Option<&str>,
    buyer: Option<Customer>,
    categories: &Categories,
) -> Result<PosEvent, String> {
    let currency = r
        .transactions
        .iter()
        .find_map(|t| t.currency.as_deref())
        .or(order_currency)
        .ok_or("no transaction names the refund's currency")?;
    let given_back = r
        .transactions
        .iter()
        .enumerate()
        .filter(|(_, t)| {
            t.kind.as_deref() == Some("refund") && t.status.as_deref() == Some("success")
        })
        .map(|(i, t)| {
            money(
                Some(&t.amount),
                currency,
                &format!("transactions[{i}].amount"),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let amount = sum(currency, &given_back).map_err(|e| format!("transactions: {e}"))?;
    let lines = r
        .refund_line_items
        .iter()
        .enumerate()
        .map(|(i, l)| {
            line(
                &l.line_item,
                l.quantity,
                l.subtotal.as_deref(),
                currency,
                categories,
            )
            .map_err(|e| format!("refund_line_items[{i}]: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let created_at = parse_field(&r.created_at, "created_at")?;
    Ok(PosEvent {
        id: format!("refund:{}", r.id),
        occurred_at: created_at,
        payload: PosPayload::Refund(Refund {
            id: r.id.to_string(),
            order_id: r.order_id.to_string(),
            customer: buyer,
            amount,
            reason: r.note.clone().filter(|n| !n.trim().is_empty()),
            lines,
            created_at,
        }),
    })
}

/// The buyer: the order's customer, completed by the order's own email and phone; a guest
/// checkout with only an email or phone is a customer known by those.
fn order_customer(o: &ShopifyOrder) -> Result<Option<Customer>, String> {
    let fallback = parse_field(&o.updated_at, "updated_at")?;
    match &o.customer {
        Some(c) => customer(c, o.email.as_deref(), o.phone.as_deref(), fallback).map(Some),
        None => {
            let identities: Vec<Identity> = [
                (IdentityKind::Email, &o.email),
                (IdentityKind::Phone, &o.phone),
            ]
            .into_iter()
            .filter_map(|(kind, v)| nonblank(v.as_deref()).map(|value| Identity { kind, value }))
            .collect();
            Ok((!identities.is_empty()).then_some(Customer {
                identities,
                given_name: None,
                family_name: None,
                consents: Vec::new(),
                created_at: None,
                birthday: None,
                loyalty: None,
            }))
        }
    }
}

fn customer(
    c: &ShopifyCustomer,
    email: Option<&str>,
    phone: Option<&str>,
    fallback_at: i64,
) -> Result<Customer, String> {
    let mut identities = vec![Identity {
        kind: IdentityKind::VendorCustomer,
        value: c.id.to_string(),
    }];
    let email = nonblank(c.email.as_deref()).or_else(|| nonblank(email));
    let phone = nonblank(c.phone.as_deref()).or_else(|| nonblank(phone));
    identities.extend(email.map(|value| Identity {
        kind: IdentityKind::Email,
        value,
    }));
    identities.extend(phone.map(|value| Identity {
        kind: IdentityKind::Phone,
        value,
    }));
    let at = match &c.updated_at {
        Some(t) => parse_field(t, "customer.updated_at")?,
        None => fallback_at,
    };
    let mut consents = Vec::new();
    for (channel, field, given) in [
        (
            Channel::Email,
            "email_marketing_consent",
            &c.email_marketing_consent,
        ),
        (
            Channel::Sms,
            "sms_marketing_consent",
            &c.sms_marketing_consent,
        ),
    ] {
        if let Some(given) = given {
            consents.extend(consent(channel, field, given, at)?);
        }
    }
    Ok(Customer {
        identities,
        given_name: nonblank(c.first_name.as_deref()),
        family_name: nonblank(c.last_name.as_deref()),
        consents,
        created_at: c
            .created_at
            .as_deref()
            .map(|t| parse_field(t, "customer.created_at"))
            .transpose()?,
        birthday: None,
        loyalty: None,
    })
}

/// `subscribed` is a granted marketing consent; `unsubscribed` is a revoked one, and so is
/// `redacted` (Shopify erased the person's data: whatever they had agreed to is gone, and a grant
/// the host knew must not outlive it). `not_subscribed` (never asked), `pending` (double opt-in not
/// yet confirmed) and `invalid` record no choice, so the host keeps what it knew. The
/// same rule holds for email and SMS; the consent's time is `consent_updated_at` (else the
/// customer's `updated_at`) and its source names the field and the opt-in level:
/// `shopify-sms_marketing_consent:single_opt_in`.
fn consent(
    channel: Channel,
    field: &str,
    given: &MarketingConsent,
    fallback_at: i64,
) -> Result<Option<Consent>, String> {
    let state = match given.state.as_deref() {
        Some("subscribed") => ConsentState::Granted,
        Some("unsubscribed" | "redacted") => ConsentState::Revoked,
        _ => return Ok(None),
    };
    let at = match &given.consent_updated_at {
        Some(t) => parse_field(t, &format!("{field}.consent_updated_at"))?,
        None => fallback_at,
    };
    let level = given.opt_in_level.as_deref().unwrap_or("unknown");
    Ok(Some(Consent {
        channel,
        purpose: Purpose::Marketing,
        state,
        at,
        source: format!("shopify-{field}:{level}"),
    }))
}

/// A line: `quantity` units at `price`, totalling `total` when Shopify gives it (refund lines),
/// else price × quantity less the line's discount. Its category is the line's own
/// `product_type` if it has one, else its product's from `categories`.
fn line(
    l: &ShopifyLine,
    quantity: i64,
    total: Option<&str>,
    currency: &str,
    categories: &Categories,
) -> Result<LineItem, String> {
    let unit_price = money(Some(&l.price), currency, "price")?;
    let quantity = Decimal {
        units: quantity,
        scale: 0,
    };
    let total = match total {
        Some(t) => money(Some(t), currency, "subtotal")?,
        None => {
            let gross = times(&unit_price, &quantity).map_err(|e| e.to_string())?;
            let discount = money(l.total_discount.as_deref(), currency, "total_discount")?;
            Money {
                minor: gross.minor - discount.minor,
                ..gross
            }
        }
    };
    Ok(LineItem {
        sku: nonblank(l.sku.as_deref()),
        product: nonblank(l.title.as_deref())
            .or_else(|| nonblank(l.name.as_deref()))
            .unwrap_or_else(|| "Custom item".into()),
        category: nonblank(l.product_type.as_deref()).or_else(|| {
            l.product_id
                .and_then(|id| categories.get(&id))
                .and_then(|t| nonblank(Some(t)))
        }),
        quantity,
        unit_price,
        total,
    })
}

/// `amount` (absent means zero) in `currency`'s minor units.
fn money(amount: Option<&str>, currency: &str, field: &str) -> Result<Money, String> {
    parse_money(amount.unwrap_or("0"), currency).map_err(|e| format!("{field}: {e}"))
}

/// `value` as Shopify's `what` ("order"), or why it is not one.
pub fn decode<T: for<'de> Deserialize<'de>>(what: &str, value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| format!("not a Shopify {what}: {e}"))
}

fn nonblank(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// [`super::order_with_refunds`] of an order as Shopify writes it.
    fn order_with_refunds(value: Value, categories: &Categories) -> Result<Vec<PosEvent>, String> {
        super::order_with_refunds(decode("order", value)?, categories)
    }

    fn line(product_id: Option<u64>, product_type: Option<&str>, sku: &str) -> Value {
        json!({
            "product_id": product_id, "product_type": product_type, "sku": sku, "title": sku,
            "quantity": 1, "price": "10.00", "total_discount": "0.00",
        })
    }

    fn order(lines: Vec<Value>, refunds: Vec<Value>) -> Value {
        json!({
            "id": 1001, "currency": "USD", "created_at": "2026-10-05T06:00:00-04:00",
            "processed_at": null, "updated_at": "2026-10-05T06:10:00-04:00", "cancelled_at": null,
            "financial_status": "paid", "source_name": "web", "location_id": null,
            "email": null, "phone": null, "customer": null, "line_items": lines,
            "total_price": "20.00", "refunds": refunds,
        })
    }

    fn refund_of(line_item: Value) -> Value {
        json!({
            "id": 77, "order_id": 1001, "created_at": "2026-10-06T09:00:00-04:00", "note": null,
            "refund_line_items": [{"quantity": 1, "subtotal": "10.00", "line_item": line_item}],
            "transactions": [
                {"kind": "refund", "status": "success", "amount": "10.00", "currency": "USD"}
            ],
        })
    }

    #[test]
    fn the_products_wanted_are_those_of_lines_without_a_type() {
        let o = order(
            vec![
                line(Some(8), None, "BEAN"),
                line(Some(9), Some("Tea"), "SENCHA"),
                line(None, None, "CUSTOM"),
                line(Some(8), Some(" "), "BEAN-2"),
            ],
            vec![refund_of(line(Some(12), None, "MUG"))],
        );
        let o: ShopifyOrder = decode("order", o).unwrap();
        assert_eq!(o.products_wanted(), BTreeSet::from([8, 12]));
        let bare: ShopifyRefund =
            decode("refund", refund_of(line(Some(13), None, "GRINDER"))).unwrap();
        assert_eq!(bare.products_wanted(), BTreeSet::from([13]));
    }

    #[test]
    fn lines_take_their_products_type_as_category() {
        let o = order(
            vec![
                line(Some(8), None, "BEAN"),
                line(Some(9), Some("Tea"), "SENCHA"),
                line(Some(10), None, "UNTYPED"),
                line(None, None, "CUSTOM"),
            ],
            vec![refund_of(line(Some(8), None, "BEAN"))],
        );
        let categories = Categories::from([
            (8, "Coffee beans".to_owned()),
            (9, "Not used: the line has its own".to_owned()),
        ]);
        let events = order_with_refunds(o, &categories).unwrap();
        let PosPayload::Order(sold) = &events[0].payload else {
            panic!("not an order")
        };
        let kinds: Vec<Option<&str>> = sold.lines.iter().map(|l| l.category.as_deref()).collect();
        assert_eq!(kinds, [Some("Coffee beans"), Some("Tea"), None, None]);
        assert_eq!(sold.version, None, "Shopify has no order version");
        let PosPayload::Refund(returned) = &events[1].payload else {
            panic!("not a refund")
        };
        assert_eq!(returned.lines[0].category.as_deref(), Some("Coffee beans"));
    }

    #[test]
    fn sms_consent_follows_the_email_rule() {
        let customer = |state: &str| {
            json!({
                "id": 7, "phone": "+442079460001", "updated_at": "2026-09-01T06:00:00-04:00",
                "sms_marketing_consent": {
                    "state": state, "opt_in_level": "single_opt_in",
                    "consent_updated_at": "2026-09-02T06:00:00-04:00",
                    "consent_collected_from": "SHOPIFY",
                },
            })
        };
        let consents = |state: &str| {
            let events = customer_event(customer(state)).unwrap();
            let PosPayload::Customer(c) = &events[0].payload else {
                panic!("not a customer")
            };
            c.consents.clone()
        };
        let granted = consents("subscribed");
        assert_eq!(
            granted,
            vec![Consent {
                channel: Channel::Sms,
                purpose: Purpose::Marketing,
                state: ConsentState::Granted,
                // 2026-09-02T10:00:00Z
                at: 1_788_343_200_000,
                source: "shopify-sms_marketing_consent:single_opt_in".into(),
            }]
        );
        assert_eq!(consents("unsubscribed")[0].state, ConsentState::Revoked);
        assert_eq!(consents("redacted")[0].state, ConsentState::Revoked);
        for no_choice in ["not_subscribed", "pending", "invalid"] {
            assert!(consents(no_choice).is_empty(), "{no_choice}");
        }
    }

    #[test]
    fn a_page_of_orders_is_read_order_by_order_and_a_malformed_one_is_rejected_by_its_id() {
        use rapport_sdk::items;
        use rapport_sdk::watermark::{Page, Watermark};
        use serde_json::value::RawValue;
        let good = order(vec![line(Some(8), None, "BEAN")], Vec::new());
        let mut bad = good.clone();
        bad["id"] = json!(1002);
        bad["total_price"] = json!(20);
        let raw = |v: &Value| RawValue::from_string(v.to_string()).unwrap();
        let page = Page {
            items: vec![raw(&good), raw(&bad)],
            next: None,
        };
        let page = items::decode_page::<ShopifyOrder>(page, "Shopify order");
        let batch: Batch = Watermark::default().batch("orders", page, |order| {
            super::order_with_refunds(order?, &Categories::new())
        });
        let ids: Vec<&str> = batch.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["order:1001:2026-10-05T06:10:00-04:00"]);
        assert_eq!(batch.rejected.len(), 1);
        assert_eq!(batch.rejected[0].locator, "orders page item 1 (id 1002)");
        assert!(
            (batch.rejected[0].reason)
                .starts_with("not a Shopify order: invalid type: integer `20`, expected a string"),
            "{}",
            batch.rejected[0].reason
        );
    }
}
