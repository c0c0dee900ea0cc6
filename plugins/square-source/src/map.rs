//! Square objects (`Order`, `PaymentRefund`, `Customer`) to the contract's events. Square money is
//! `{amount, currency}` in minor units already; line quantities are decimal strings.
//!
//! Returns. Square never edits a sale when goods come back: every refund made at the POS, itemised
//! or a custom amount, creates a *return order* whose `returns[]` each name the sale
//! (`source_order_id`) and list the lines given back, whose `refunds[]` list the money paid back,
//! and which has `line_items` of its own only when it is an exchange. Each return is one refund,
//! `<return order id>:<return uid>`, whichever way it is read: in the order search, through an
//! order notification, or through the `PaymentRefund` that paid it (whose `order_id` is the return
//! order, fetched and read the same way). So the host sees one refund object, under one event id,
//! however many paths report it. A `PaymentRefund` whose order carries no return (money given
//! back against the sale itself) is a refund of its own id.
//!
//! Categories. A line names the catalogue item variation it sold (`catalog_object_id`) at the
//! catalogue version it was sold at (`catalog_version`); the category of each line is looked up
//! in the [`Categories`] the caller resolved beforehand (see `catalog`), so mapping stays pure.

use crate::catalog::Categories;
use rapport_sdk::money::{from_minor, parse_decimal, sum, times};
use rapport_sdk::time::parse_field;
use rapport_sdk::v0_3::prelude::*;
use rapport_sdk::watermark::PageItem;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct SquareMoney {
    amount: Option<i64>,
    currency: Option<String>,
}

#[derive(Deserialize, Default)]
struct Named {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Fulfillment {
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct Tender {
    customer_id: Option<String>,
}

#[derive(Deserialize)]
struct SquareLine {
    name: Option<String>,
    variation_name: Option<String>,
    catalog_object_id: Option<String>,
    catalog_version: Option<i64>,
    quantity: String,
    base_price_money: Option<SquareMoney>,
    total_money: Option<SquareMoney>,
}

/// One return of a return order: the sale it refers to and the lines given back.
#[derive(Deserialize)]
struct SquareReturn {
    uid: Option<String>,
    source_order_id: Option<String>,
    return_line_items: Option<Vec<SquareLine>>,
    return_amounts: Option<Amounts>,
}

#[derive(Deserialize)]
struct Amounts {
    total_money: Option<SquareMoney>,
}

/// A refund as an order lists it (its `reason` is the return's).
#[derive(Deserialize)]
struct OrderRefund {
    reason: Option<String>,
}

/// A Square `Order` as this connector reads it (the orders stream decodes its pages straight into
/// these; see `rapport_sdk::items`).
#[derive(Deserialize)]
pub struct SquareOrder {
    id: String,
    location_id: Option<String>,
    source: Option<Named>,
    customer_id: Option<String>,
    line_items: Option<Vec<SquareLine>>,
    fulfillments: Option<Vec<Fulfillment>>,
    tenders: Option<Vec<Tender>>,
    state: Option<String>,
    version: Option<i64>,
    created_at: String,
    updated_at: String,
    closed_at: Option<String>,
    returns: Option<Vec<SquareReturn>>,
    refunds: Option<Vec<OrderRefund>>,
    total_money: SquareMoney,
    total_tax_money: Option<SquareMoney>,
    total_discount_money: Option<SquareMoney>,
    total_tip_money: Option<SquareMoney>,
    total_service_charge_money: Option<SquareMoney>,
}

#[derive(Deserialize)]
struct PaymentRefund {
    id: String,
    status: Option<String>,
    amount_money: SquareMoney,
    order_id: Option<String>,
    reason: Option<String>,
    created_at: String,
}

impl SquareOrder {
    /// The location the order belongs to, if it names one.
    pub fn location(&self) -> Option<&str> {
        self.location_id.as_deref()
    }

    /// The catalogue objects (item variation id, catalogue version) of the lines the order sold
    /// or took back.
    pub fn catalog_objects(&self) -> impl Iterator<Item = (&str, Option<i64>)> {
        let returned =
            (self.returns.iter().flatten()).flat_map(|r| r.return_line_items.iter().flatten());
        (self.line_items.iter().flatten())
            .chain(returned)
            .filter_map(|l| Some((l.catalog_object_id.as_deref()?, l.catalog_version)))
    }
}

impl PageItem for SquareOrder {
    fn id(&self) -> String {
        self.id.clone()
    }

    fn updated_at(&self) -> Option<&str> {
        Some(&self.updated_at)
    }
}

/// The location a Square object belongs to, if it names one.
pub fn location(object: &Value) -> Option<&str> {
    object.get("location_id").and_then(Value::as_str)
}

/// What one Square object reports: the event about the object itself (`own`, if it is one the
/// contract has), then the events derived from what it carries (`derived`: the returns of a return
/// order). A notification's event id names `own`; derived events keep their own ids, so the poll
/// path and the webhook path report them as the same events.
#[derive(Debug, Default)]
pub struct Mapped {
    pub own: Option<PosEvent>,
    pub derived: Vec<PosEvent>,
    /// What was wrong in the object without costing its events (a customer's malformed birthday:
    /// the customer is reported without it), as rejected inputs for the operator.
    pub rejected: Vec<RejectedInput>,
}

impl Mapped {
    /// The one event an object is about.
    pub fn own(event: PosEvent) -> Mapped {
        Mapped {
            own: Some(event),
            ..Mapped::default()
        }
    }
}

impl IntoIterator for Mapped {
    type Item = PosEvent;
    type IntoIter = std::iter::Chain<std::option::IntoIter<PosEvent>, std::vec::IntoIter<PosEvent>>;

    fn into_iter(self) -> Self::IntoIter {
        self.own.into_iter().chain(self.derived)
    }
}

/// An order (any version): the order as `order:<id>:v<version>`, so every version Square commits
/// is a new event, unless it is a pure return order (returns and no line items of its own: no
/// sale happened); then one refund for each return it carries, once the return order is
/// completed. Lines take their category from `categories`.
pub fn order(o: SquareOrder, categories: &Categories) -> Result<Mapped, String> {
    let pure_return = o.returns.as_ref().is_some_and(|r| !r.is_empty())
        && o.line_items.as_ref().is_none_or(Vec::is_empty);
    Ok(Mapped {
        own: if pure_return {
            None
        } else {
            Some(order_event(&o, categories)?)
        },
        derived: returns(&o, categories)?,
        rejected: Vec::new(),
    })
}

fn order_event(o: &SquareOrder, categories: &Categories) -> Result<PosEvent, String> {
    let currency = order_currency(o)?;
    let amount = |m: &Option<SquareMoney>, field: &str| -> Result<Money, String> {
        m.as_ref().map_or(Ok(zero(&currency)), |m| money(m, field))
    };
    let total = money(&o.total_money, "total_money")?;
    let tax = amount(&o.total_tax_money, "total_tax_money")?;
    let discount = amount(&o.total_discount_money, "total_discount_money")?;
    let extras = amount(&o.total_tip_money, "total_tip_money")?.minor
        + amount(&o.total_service_charge_money, "total_service_charge_money")?.minor;
    let lines = lines(o.line_items.as_deref(), &currency, "line_items", categories)?;
    let updated_at = parse_field(&o.updated_at, "updated_at")?;
    let version = o
        .version
        .map_or_else(|| o.updated_at.clone(), |v| format!("v{v}"));
    Ok(PosEvent {
        id: format!("order:{}:{version}", o.id),
        occurred_at: updated_at,
        payload: PosPayload::Order(Order {
            id: o.id.clone(),
            customer: buyer(o),
            location: o.location_id.clone(),
            channel: channel(o),
            state: state(o.state.as_deref())?,
            subtotal: Money {
                minor: total.minor - tax.minor + discount.minor - extras,
                currency: currency.clone(),
            },
            lines,
            tax,
            discount,
            total,
            placed_at: placed_at(o)?,
            updated_at,
            version: o.version,
        }),
    })
}

/// Square's order states: an open order (or a draft, which cannot be paid yet) is not a sale yet;
/// COMPLETED (fully paid) and CANCELED are terminal.
fn state(state: Option<&str>) -> Result<OrderState, String> {
    match state {
        None | Some("OPEN" | "DRAFT") => Ok(OrderState::Open),
        Some("COMPLETED") => Ok(OrderState::Completed),
        Some("CANCELED") => Ok(OrderState::Canceled),
        Some(other) => Err(format!(
            "state {other:?} is not a Square order state (OPEN, DRAFT, COMPLETED or CANCELED)"
        )),
    }
}

/// The sale's own time. A completed order was paid when it closed (`closed_at`, when it reached
/// its terminal state), which is when the sale happened at the till, however long it stood open
/// before; any other order is placed when it was created. A cancelled order's `closed_at` is when
/// it was cancelled, no sale time, so it keeps `created_at`. `updated_at` moves on with every
/// later change (a fulfilment, a refund) and is never the sale's time.
fn placed_at(o: &SquareOrder) -> Result<i64, String> {
    match (o.state.as_deref(), &o.closed_at) {
        (Some("COMPLETED"), Some(closed)) => parse_field(closed, "closed_at"),
        _ => parse_field(&o.created_at, "created_at"),
    }
}

/// The refunds of a completed return order, one per return, as `refund:<order id>:<return uid>`
/// at the return order's time. A return's amount is what the goods given back are worth
/// (`return_amounts.total_money`, else the sum of its lines): in an exchange the new goods are
/// the order's own sale, so the customer's net spend is the sale less the return. An unlinked
/// return (no `source_order_id`) is linked to the return order itself.
fn returns(o: &SquareOrder, categories: &Categories) -> Result<Vec<PosEvent>, String> {
    let list = o.returns.as_deref().unwrap_or_default();
    if list.is_empty() || o.state.as_deref() != Some("COMPLETED") {
        return Ok(Vec::new());
    }
    let currency = order_currency(o)?;
    let at = placed_at(o)?;
    let reason = o
        .refunds
        .iter()
        .flatten()
        .find_map(|r| r.reason.clone().filter(|r| !r.trim().is_empty()));
    list.iter()
        .enumerate()
        .map(|(i, r)| {
            let field = format!("returns[{i}]");
            let lines = lines(
                r.return_line_items.as_deref(),
                &currency,
                &format!("{field}.return_line_items"),
                categories,
            )?;
            let amount = match r
                .return_amounts
                .as_ref()
                .and_then(|a| a.total_money.as_ref())
            {
                Some(m) => money(m, &format!("{field}.return_amounts.total_money"))?,
                None => sum(&currency, lines.iter().map(|l| &l.total))
                    .map_err(|e| format!("{field}: {e}"))?,
            };
            let uid = r.uid.clone().unwrap_or_else(|| format!("return-{i}"));
            let id = format!("{}:{uid}", o.id);
            Ok(PosEvent {
                id: format!("refund:{id}"),
                occurred_at: at,
                payload: PosPayload::Refund(Refund {
                    id,
                    order_id: r.source_order_id.clone().unwrap_or_else(|| o.id.clone()),
                    customer: buyer(o),
                    amount,
                    reason: reason.clone(),
                    lines,
                    created_at: at,
                }),
            })
        })
        .collect()
}

/// The order a `PaymentRefund` names, if it gave money back: the return order to read it by.
pub fn refund_order_id(refund: &Value) -> Option<&str> {
    (refund.get("status").and_then(Value::as_str) == Some("COMPLETED"))
        .then(|| refund.get("order_id").and_then(Value::as_str))
        .flatten()
}

/// A `PaymentRefund` with the order it names (`order`: as Square returned it, or why that is not
/// an order; `None` if Square has no such order). Pending, rejected and failed refunds give no
/// money back and report nothing (a later poll or notification sees them complete). A completed refund of a return order reports
/// that order's returns (see the module notes); one recorded against an order without returns is
/// its own refund, `refund:<id>`.
pub fn payment_refund(
    value: Value,
    order: Option<Result<&SquareOrder, &str>>,
    categories: &Categories,
) -> Result<Mapped, String> {
    let r: PaymentRefund = decode("refund", value)?;
    if r.status.as_deref() != Some("COMPLETED") {
        return Ok(Mapped::default());
    }
    let order_id = r
        .order_id
        .ok_or("the refund is not linked to an order (no order_id)")?;
    let order = order.ok_or_else(|| format!("Square has no order {order_id}, which it names"))?;
    let o = order.map_err(|e| format!("its order {order_id}: {e}"))?;
    if o.returns.as_ref().is_some_and(|r| !r.is_empty()) {
        return Ok(Mapped {
            own: None,
            derived: returns(o, categories).map_err(|e| format!("its order {order_id}: {e}"))?,
            rejected: Vec::new(),
        });
    }
    let created_at = parse_field(&r.created_at, "created_at")?;
    Ok(Mapped::own(PosEvent {
        id: format!("refund:{}", r.id),
        occurred_at: created_at,
        payload: PosPayload::Refund(Refund {
            amount: money(&r.amount_money, "amount_money")?,
            id: r.id,
            order_id,
            customer: None,
            reason: r.reason,
            lines: Vec::new(),
            created_at,
        }),
    }))
}

/// Square Point of Sale and Terminal sales are in-store; Square Online and orders shipped,
/// delivered or picked up are online; anything else (an app's own source name) is other.
fn channel(o: &SquareOrder) -> SalesChannel {
    let source = o
        .source
        .as_ref()
        .and_then(|s| s.name.as_deref())
        .unwrap_or("")
        .to_ascii_lowercase();
    let remote_fulfillment = o.fulfillments.iter().flatten().any(|f| {
        matches!(
            f.kind.as_deref(),
            Some("SHIPMENT" | "DELIVERY" | "PICKUP" | "DIGITAL")
        )
    });
    if source.contains("point of sale") || source.contains("terminal") {
        SalesChannel::InStore
    } else if source.contains("online") || remote_fulfillment {
        SalesChannel::Online
    } else {
        SalesChannel::Other
    }
}

/// The buyer: the order's customer, else the customer a tender names.
fn buyer(o: &SquareOrder) -> Option<Customer> {
    let id = o.customer_id.clone().or_else(|| {
        o.tenders
            .iter()
            .flatten()
            .find_map(|t| t.customer_id.clone())
    })?;
    Some(Customer {
        identities: vec![identity(IdentityKind::VendorCustomer, id)],
        given_name: None,
        family_name: None,
        consents: Vec::new(),
        created_at: None,
        birthday: None,
        loyalty: None,
    })
}

fn order_currency(o: &SquareOrder) -> Result<String, String> {
    o.total_money
        .currency
        .clone()
        .ok_or_else(|| "total_money has no currency".to_owned())
}

/// Sold (`line_items`) or returned (`return_line_items`) lines: both have the same fields.
fn lines(
    list: Option<&[SquareLine]>,
    currency: &str,
    field: &str,
    categories: &Categories,
) -> Result<Vec<LineItem>, String> {
    list.unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, l)| line(l, currency, categories).map_err(|e| format!("{field}[{i}]: {e}")))
        .collect()
}

/// A line as Square writes it. Its category lives in Square's catalogue: the one `categories`
/// knows for the variation sold, at the catalogue version it was sold at; a line without a
/// catalogue object (a custom amount) has none.
fn line(l: &SquareLine, currency: &str, categories: &Categories) -> Result<LineItem, String> {
    let quantity = parse_decimal(&l.quantity).map_err(|e| e.to_string())?;
    let unit_price = l
        .base_price_money
        .as_ref()
        .map_or(Ok(zero(currency)), |m| money(m, "base_price_money"))?;
    let total = match &l.total_money {
        Some(m) => money(m, "total_money")?,
        None => times(&unit_price, &quantity).map_err(|e| e.to_string())?,
    };
    Ok(LineItem {
        sku: l.catalog_object_id.clone(),
        product: l
            .name
            .clone()
            .or_else(|| l.variation_name.clone())
            .unwrap_or_else(|| "Custom amount".into()),
        category: l
            .catalog_object_id
            .as_deref()
            .and_then(|id| categories.of(id, l.catalog_version)),
        quantity,
        unit_price,
        total,
    })
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(what: &str, value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| format!("not a Square {what}: {e}"))
}

fn money(m: &SquareMoney, field: &str) -> Result<Money, String> {
    match (m.amount, &m.currency) {
        (Some(minor), Some(currency)) => {
            from_minor(minor, currency).map_err(|e| format!("{field}: {e}"))
        }
        _ => Err(format!("{field} needs both amount and currency")),
    }
}

fn zero(currency: &str) -> Money {
    Money {
        minor: 0,
        currency: currency.to_owned(),
    }
}

pub(crate) fn identity(kind: IdentityKind, value: String) -> Identity {
    Identity { kind, value }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// [`super::order`] of an order as Square writes it.
    fn order(value: Value, categories: &Categories) -> Result<Mapped, String> {
        super::order(decode("order", value)?, categories)
    }

    fn usd(amount: i64) -> Value {
        json!({"amount": amount, "currency": "USD"})
    }

    /// A completed sale, version 4: two bags (variation V-ETH at catalogue version 7) and a
    /// custom amount; then a return order of one bag.
    fn sale() -> Value {
        json!({
            "id": "O1", "location_id": "L1", "source": {"name": "Square Point of Sale"},
            "customer_id": "C1", "state": "COMPLETED", "version": 4,
            "created_at": "2026-10-05T10:00:00Z", "updated_at": "2026-10-05T10:07:00Z",
            "closed_at": "2026-10-05T10:05:00Z",
            "line_items": [
                {"name": "Ethiopia", "quantity": "2", "catalog_object_id": "V-ETH",
                 "catalog_version": 7, "base_price_money": usd(1450), "total_money": usd(2900)},
                {"name": "Custom amount", "quantity": "1", "base_price_money": usd(100)},
            ],
            "total_money": usd(3000), "total_tax_money": usd(0),
        })
    }

    #[test]
    fn an_order_carries_squares_version_and_its_lines_their_catalogue_category() {
        let categories = Categories::of_pairs([(("V-ETH".into(), Some(7)), "Coffee beans")]);
        let event = order(sale(), &categories).unwrap().own.unwrap();
        assert_eq!(event.id, "order:O1:v4");
        let PosPayload::Order(o) = event.payload else {
            panic!("not an order")
        };
        assert_eq!(o.version, Some(4));
        assert_eq!(o.lines[0].category.as_deref(), Some("Coffee beans"));
        assert_eq!(o.lines[0].sku.as_deref(), Some("V-ETH"));
        assert_eq!(o.lines[1].category, None, "a custom amount has no category");
        assert_eq!(o.lines[1].total.minor, 100);
        let customer = o.customer.unwrap();
        assert_eq!((customer.birthday, customer.loyalty), (None, None));

        // Another catalogue version of the variation is another lookup.
        let mut later = sale();
        later["line_items"][0]["catalog_version"] = json!(8);
        let event = order(later, &categories).unwrap().own.unwrap();
        let PosPayload::Order(o) = event.payload else {
            panic!("not an order")
        };
        assert_eq!(o.lines[0].category, None);
    }

    #[test]
    fn an_order_without_a_version_is_named_by_its_update_time() {
        let mut unversioned = sale();
        unversioned.as_object_mut().unwrap().remove("version");
        let event = order(unversioned, &Categories::none())
            .unwrap()
            .own
            .unwrap();
        assert_eq!(event.id, "order:O1:2026-10-05T10:07:00Z");
        let PosPayload::Order(o) = event.payload else {
            panic!("not an order")
        };
        assert_eq!(o.version, None);
    }

    #[test]
    fn returned_lines_take_their_category_too() {
        let back = json!({
            "id": "R1", "location_id": "L1", "state": "COMPLETED", "version": 1,
            "created_at": "2026-10-06T10:00:00Z", "updated_at": "2026-10-06T10:00:00Z",
            "closed_at": "2026-10-06T10:00:00Z",
            "returns": [{"uid": "R1-0", "source_order_id": "O1", "return_line_items": [
                {"name": "Ethiopia", "quantity": "1", "catalog_object_id": "V-ETH",
                 "catalog_version": 7, "base_price_money": usd(1450), "total_money": usd(1450)},
            ]}],
            "total_money": usd(0),
        });
        let categories = Categories::of_pairs([(("V-ETH".into(), Some(7)), "Coffee beans")]);
        let mapped = order(back, &categories).unwrap();
        assert!(mapped.own.is_none(), "a pure return order is no sale");
        let PosPayload::Refund(refund) = &mapped.derived[0].payload else {
            panic!("not a refund")
        };
        assert_eq!(refund.lines[0].category.as_deref(), Some("Coffee beans"));
        assert_eq!(refund.amount.minor, 1450);
    }
}
