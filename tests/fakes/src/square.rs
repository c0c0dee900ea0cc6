//! A stateful Square simulator: orders (with versions and `updated_at`, moving through Square's
//! states, and return orders for goods given back), customers and payment refunds behind the real
//! paths, Bearer auth, Square's `{"errors": [...]}` shape for every failure, order search with
//! Square's rules (at most 10 locations, a date filter whose field must match the sort field,
//! `limit` ≤ 1000, cursors bound to their query), switchable faults, a sample shop in Square's
//! shapes in any currency, and signed webhook notifications.
//!
//! Also, each in its own module: the catalogue (items, variations and categories, every change a
//! new catalogue version, read by batch retrieve: `catalog`), customers merged and deleted as
//! Square does it, with their notifications (`people`), loyalty accounts with their points,
//! search and notifications (`loyalty`), and the list endpoints a generic client reads: locations
//! and customers by `GET` (`listing`).

mod catalog;
mod listing;
mod loyalty;
mod orders;
mod people;

pub use catalog::catalog_item;
pub use listing::square_location;
pub use loyalty::LOYALTY_PROGRAM_ID;
pub use people::Merge;

use crate::faults::FaultPlan;
use crate::server::{serve, Running};
use crate::shop::SampleShop;
use crate::time::rfc3339_millis;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The merchant every notification names.
pub const MERCHANT_ID: &str = "MLSIMULATED01";
/// The header Square signs notifications in.
pub const SIGNATURE_HEADER: &str = "x-square-hmacsha256-signature";

/// One request as the simulator received it.
#[derive(Debug, Clone)]
pub struct SquareRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub square_version: Option<String>,
    /// The JSON body, if there was one.
    pub body: Option<Value>,
}

#[derive(Default)]
struct Data {
    orders: orders::Orders,
    customers: BTreeMap<String, Value>,
    refunds: BTreeMap<String, Value>,
    locations: BTreeMap<String, Value>,
    requests: Vec<SquareRequest>,
    /// Every version of each catalogue object, oldest first.
    catalog: BTreeMap<String, Vec<Value>>,
    /// The catalogue's version: every change takes the next one.
    catalog_version: i64,
    loyalty_accounts: BTreeMap<String, Value>,
    /// What the next `GET /v2/orders/{id}` answers instead of the order as it is.
    lagging: BTreeMap<String, Value>,
    /// Paths answered with a status instead (see [`SquareServer::refuse`]).
    refusals: BTreeMap<String, u16>,
}

struct Shared {
    token: String,
    data: Mutex<Data>,
    faults: FaultPlan,
}

/// The simulator: `POST /v2/orders/search`, `GET /v2/orders/{id}`, `POST /v2/orders/batch-retrieve`,
/// `POST /v2/customers/search`, `GET /v2/customers`, `GET /v2/locations`, `GET /v2/refunds`,
/// `POST /v2/catalog/batch-retrieve`, `POST /v2/loyalty/accounts/search`.
pub struct SquareServer {
    running: Running,
    shared: Arc<Shared>,
}

impl SquareServer {
    /// Starts an empty Square that accepts `Authorization: Bearer <token>`.
    pub async fn start(token: &str) -> std::io::Result<SquareServer> {
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            data: Mutex::default(),
            faults: FaultPlan::default(),
        });
        let app = Router::new()
            .route("/v2/orders/search", post(search_orders))
            .route("/v2/orders/batch-retrieve", post(batch_retrieve_orders))
            .route("/v2/orders/{id}", get(retrieve_order))
            .route("/v2/customers/search", post(search_customers))
            .route("/v2/customers", get(listing::list_customers))
            .route("/v2/locations", get(listing::list_locations))
            .route("/v2/refunds", get(list_refunds))
            .route("/v2/catalog/batch-retrieve", post(catalog::batch_retrieve))
            .route("/v2/loyalty/accounts/search", post(loyalty::search))
            .fallback(|| async {
                error(
                    StatusCode::NOT_FOUND,
                    "INVALID_REQUEST_ERROR",
                    "NOT_FOUND",
                    "Resource not found.",
                )
            })
            .layer(axum::middleware::from_fn_with_state(shared.clone(), gate))
            .with_state(shared.clone());
        Ok(SquareServer {
            running: serve(app, 0).await?,
            shared,
        })
    }

    /// `http://127.0.0.1:PORT`, the square-source's `api_base`.
    pub fn base_url(&self) -> String {
        self.running.base_url()
    }

    /// Faults for the next requests; statuses are answered in Square's error shape.
    pub fn faults(&self) -> &FaultPlan {
        &self.shared.faults
    }

    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.shared.data.lock().expect("square data")
    }

    /// Every order, by id.
    pub fn orders(&self) -> Vec<Value> {
        self.data().orders.values().cloned().collect()
    }

    /// One order as Square now holds it.
    pub fn order(&self, id: &str) -> Option<Value> {
        self.data().orders.get(id).cloned()
    }

    /// Every customer, by id.
    pub fn customers(&self) -> Vec<Value> {
        self.data().customers.values().cloned().collect()
    }

    /// Every payment refund, by id.
    pub fn refunds(&self) -> Vec<Value> {
        self.data().refunds.values().cloned().collect()
    }

    /// Answers every request to `path` with `status` in Square's error shape from now on (`None`:
    /// serves it again): 403 as for a token without the scope (e.g. `ITEMS_READ` for the
    /// catalogue), 404 as for a seller without the feature (no loyalty programme), 503 as an
    /// outage of that API alone.
    pub fn refuse(&self, path: &str, status: Option<u16>) {
        let mut data = self.data();
        match status {
            Some(status) => data.refusals.insert(path.to_owned(), status),
            None => data.refusals.remove(path),
        };
    }

    /// Every request received, in arrival order (refused ones included).
    pub fn requests(&self) -> Vec<SquareRequest> {
        self.data().requests.clone()
    }

    /// Stores `order` as given (it needs `id`, `location_id`, `version` and the timestamps). As
    /// Square does when a line is rung up from the catalogue, a line whose `catalog_object_id` is
    /// a variation of the catalogue gets the variation's version as its `catalog_version` (unless
    /// it names one).
    pub fn put_order(&self, mut order: Value) {
        let id = text(&order, "id");
        let mut data = self.data();
        if let Some(lines) = order["line_items"].as_array_mut() {
            for line in lines {
                let version = line["catalog_object_id"]
                    .as_str()
                    .and_then(|v| data.catalog.get(v)?.last())
                    .filter(|o| o["type"] == "ITEM_VARIATION")
                    .map(|o| o["version"].clone());
                if let (Some(version), None) = (version, line.get("catalog_version")) {
                    line["catalog_version"] = version;
                }
            }
        }
        data.orders.insert(id, order);
    }

    /// The next `GET /v2/orders/{id}` answers `as_it_was` (an older version of the order, taken
    /// earlier with [`SquareServer::order`]) instead of the order as it is: a read that lags
    /// behind a write, as a webhook handler may see one. Later reads answer the order as it is.
    pub fn lag_next_read(&self, id: &str, as_it_was: Value) {
        self.data().lagging.insert(id.to_owned(), as_it_was);
    }

    /// Changes an order as Square does: `change` edits it, then `version` goes up by one and
    /// `updated_at` becomes `at`.
    pub fn update_order(&self, id: &str, at: &str, change: impl FnOnce(&mut Value)) {
        let mut data = self.data();
        let order = data.orders.get_mut(id).expect("no such order");
        change(order);
        bump(order, at);
    }

    /// Moves an order to `state` as Square does, as a new version (`version` up by one,
    /// `updated_at` = `at`; `created_at` never changes): a DRAFT opens (OPEN); an OPEN order is
    /// paid (COMPLETED: a card tender for the total, nothing due, `closed_at` = `at`, a proposed
    /// shipment done) or cancelled (CANCELED, `closed_at` = `at`), and so can a DRAFT be cancelled.
    /// COMPLETED and CANCELED are terminal, and a draft cannot be paid (the spec's `OrderState`),
    /// so any other move panics.
    pub fn transition(&self, id: &str, state: &str, at: &str) {
        let from = self.order(id).expect("no such order")["state"]
            .as_str()
            .unwrap_or("OPEN")
            .to_owned();
        let allowed = matches!(
            (from.as_str(), state),
            ("DRAFT", "OPEN") | ("OPEN", "COMPLETED") | ("DRAFT" | "OPEN", "CANCELED")
        );
        assert!(
            allowed,
            "Square does not move an order from {from} to {state}: COMPLETED and CANCELED are terminal and a DRAFT cannot be paid"
        );
        let mut data = self.data();
        let order = data.orders.get_mut(id).expect("no such order");
        let currency = order["total_money"]["currency"].clone();
        match (from.as_str(), state) {
            ("DRAFT", "OPEN") => {}
            ("OPEN", "COMPLETED") => {
                let total = order["total_money"].clone();
                order["tenders"] = json!([{
                    "id": format!("T{id}"), "location_id": order["location_id"], "transaction_id": id,
                    "created_at": at, "amount_money": total, "type": "CARD",
                    "payment_id": format!("P{id}"),
                }]);
                if let Some(buyer) = order.get("customer_id").cloned() {
                    order["tenders"][0]["customer_id"] = buyer;
                }
                order["net_amount_due_money"] = json!({"amount": 0, "currency": currency});
                if let Some(shipment) = order.pointer_mut("/fulfillments/0/state") {
                    *shipment = json!("COMPLETED");
                }
                order["closed_at"] = json!(at);
            }
            _ => order["closed_at"] = json!(at),
        }
        order["state"] = json!(state);
        bump(order, at);
    }

    /// Records `r` as Square does (see [`Return`]) and returns the return order.
    pub fn return_lines(&self, r: &Return) -> Value {
        let mut data = self.data();
        let sale = data
            .orders
            .get(r.sale_id)
            .expect("a return of an unknown sale")
            .clone();
        assert_eq!(
            sale["state"], "COMPLETED",
            "only a paid sale can be returned"
        );
        let currency = sale["total_money"]["currency"].as_str().expect("currency");
        let amount = |minor: i64| money(minor, currency);
        let mut value = 0;
        let lines: Vec<Value> = r
            .lines
            .iter()
            .enumerate()
            .map(|(n, &(index, quantity))| {
                let sold = &sale["line_items"][index];
                let sold_quantity: i64 = sold["quantity"]
                    .as_str()
                    .and_then(|q| q.parse().ok())
                    .expect("a whole quantity");
                assert!(i64::from(quantity) <= sold_quantity, "more returned than sold");
                let base = sold["base_price_money"]["amount"].as_i64().expect("price");
                let total = sold["total_money"]["amount"].as_i64().expect("total")
                    * i64::from(quantity)
                    / sold_quantity;
                value += total;
                json!({
                    "uid": format!("{}-L{n}", r.return_order_id),
                    "source_line_item_uid": sold["uid"], "name": sold["name"],
                    "quantity": quantity.to_string(), "catalog_object_id": sold["catalog_object_id"],
                    "variation_name": sold["variation_name"], "item_type": "ITEM",
                    "base_price_money": amount(base),
                    "variation_total_price_money": amount(base * i64::from(quantity)),
                    "gross_return_money": amount(base * i64::from(quantity)),
                    "total_tax_money": amount(0), "total_discount_money": amount(0),
                    "total_money": amount(total),
                })
            })
            .collect();
        let amounts = |total: i64| {
            json!({
                "total_money": amount(total), "tax_money": amount(0),
                "discount_money": amount(0), "tip_money": amount(0),
                "service_charge_money": amount(0),
            })
        };
        let mut order = json!({
            "id": r.return_order_id, "location_id": sale["location_id"], "source": sale["source"],
            "returns": [{
                "uid": format!("{}-R0", r.return_order_id), "source_order_id": r.sale_id,
                "return_line_items": lines, "return_amounts": amounts(value),
            }],
            "return_amounts": amounts(value), "net_amounts": amounts(-value),
            "refunds": [{
                "id": r.refund_id, "location_id": sale["location_id"],
                "transaction_id": r.return_order_id, "tender_id": sale["tenders"][0]["id"],
                "created_at": r.at, "reason": r.reason, "amount_money": amount(value),
                "status": "APPROVED",
            }],
            "created_at": r.at, "updated_at": r.at, "closed_at": r.at, "state": "COMPLETED",
            "version": 1, "total_money": amount(0), "total_tax_money": amount(0),
            "total_discount_money": amount(0), "total_tip_money": amount(0),
            "total_service_charge_money": amount(0), "net_amount_due_money": amount(0),
        });
        if let Some(buyer) = sale.get("customer_id") {
            order["customer_id"] = buyer.clone();
        }
        let refund = json!({
            "id": r.refund_id, "status": "COMPLETED", "location_id": sale["location_id"],
            "amount_money": amount(value), "payment_id": sale["tenders"][0]["payment_id"],
            "order_id": r.return_order_id, "reason": r.reason, "destination_type": "CARD",
            "created_at": r.at, "updated_at": r.at,
        });
        data.orders
            .insert(r.return_order_id.to_owned(), order.clone());
        data.refunds.insert(r.refund_id.to_owned(), refund);
        order
    }

    pub fn put_customer(&self, customer: Value) {
        let id = text(&customer, "id");
        self.data().customers.insert(id, customer);
    }

    /// Records a completed `PaymentRefund` against the sale itself and adds it to the sale's
    /// `refunds`, `return_amounts` and `net_amounts` as a new order version: a refund recorded
    /// without a return order, as the sample shop's refunds are loaded. Square's own POS records a
    /// return as a separate return order instead: see [`SquareServer::return_lines`].
    pub fn refund(&self, refund: Value) {
        let mut data = self.data();
        let order_id = text(&refund, "order_id");
        let at = text(&refund, "updated_at");
        let amount = refund["amount_money"]["amount"].as_i64().unwrap_or(0);
        let order = data
            .orders
            .get_mut(&order_id)
            .expect("refund of an unknown order");
        let currency = order["total_money"]["currency"].clone();
        let order_refund = json!({
            "id": refund["id"], "location_id": order["location_id"],
            "transaction_id": order_id, "tender_id": order["tenders"][0]["id"],
            "created_at": refund["created_at"], "reason": refund["reason"],
            "amount_money": refund["amount_money"], "status": "APPROVED",
        });
        match order["refunds"].as_array_mut() {
            Some(list) => list.push(order_refund),
            None => order["refunds"] = json!([order_refund]),
        }
        let returned = order["return_amounts"]["total_money"]["amount"]
            .as_i64()
            .unwrap_or(0)
            + amount;
        let total = order["total_money"]["amount"].as_i64().unwrap_or(0);
        order["return_amounts"] =
            json!({"total_money": {"amount": returned, "currency": currency}});
        order["net_amounts"]["total_money"] =
            json!({"amount": total - returned, "currency": currency});
        bump(order, &at);
        data.refunds.insert(text(&refund, "id"), refund);
    }

    /// Loads `shop` in Square's shapes: its locations, its customers, each intact sale as a
    /// completed order and each refund receipt as a completed `PaymentRefund` of its sale (see
    /// [`square_order`]).
    pub fn load_shop(&self, shop: &SampleShop) {
        for r in &shop.receipts {
            if !self
                .data()
                .locations
                .contains_key(&location_id(&r.location))
            {
                self.put_location(square_location(&r.location, shop.currency));
            }
        }
        for (i, c) in shop.customers.iter().enumerate() {
            self.put_customer(square_customer(c, i));
        }
        for r in shop.valid_receipts() {
            match &r.refund_of {
                None => self.put_order(square_order(shop, r)),
                Some(order_id) => self.refund(json!({
                    "id": r.id, "status": "COMPLETED", "location_id": location_id(&r.location),
                    "amount_money": money(r.total_cents, shop.currency),
                    "payment_id": format!("P{order_id}"), "order_id": order_id,
                    "reason": "Returned goods", "destination_type": "CARD",
                    "created_at": square_time(&r.date), "updated_at": square_time(&r.date),
                })),
            }
        }
    }

    /// An `order.created` / `order.updated` notification for the order as it now is: like
    /// Square's, it carries the id, version and state only.
    pub fn order_notification(&self, kind: &str, order_id: &str, event_id: &str) -> Value {
        let order = self.order(order_id).expect("no such order");
        let key = kind.replace('.', "_");
        let mut summary = json!({
            "order_id": order_id, "version": order["version"], "location_id": order["location_id"],
            "state": order["state"], "created_at": order["created_at"],
        });
        if kind == "order.updated" {
            summary["updated_at"] = order["updated_at"].clone();
        }
        notification(
            kind,
            event_id,
            &text(&order, "updated_at"),
            "order",
            order_id,
            json!({ key: summary }),
        )
    }

    /// A `refund.created` / `refund.updated` notification carrying the refund.
    pub fn refund_notification(&self, kind: &str, refund_id: &str, event_id: &str) -> Value {
        let refund = self
            .data()
            .refunds
            .get(refund_id)
            .cloned()
            .expect("no such refund");
        notification(
            kind,
            event_id,
            &text(&refund, "updated_at"),
            "refund",
            refund_id,
            json!({ "refund": refund }),
        )
    }

    /// A `customer.created` / `customer.updated` notification carrying the customer.
    pub fn customer_notification(&self, kind: &str, customer_id: &str, event_id: &str) -> Value {
        let customer = self
            .data()
            .customers
            .get(customer_id)
            .cloned()
            .expect("no such customer");
        notification(
            kind,
            event_id,
            &text(&customer, "updated_at"),
            "customer",
            customer_id,
            json!({ "customer": customer }),
        )
    }
}

/// A webhook notification envelope.
pub fn notification(
    kind: &str,
    event_id: &str,
    created_at: &str,
    data_type: &str,
    id: &str,
    object: Value,
) -> Value {
    json!({
        "merchant_id": MERCHANT_ID, "type": kind, "event_id": event_id, "created_at": created_at,
        "data": {"type": data_type, "id": id, "object": object},
    })
}

/// Square's signature: base64(HMAC-SHA256(key, notification URL + body)).
pub fn sign(signature_key: &str, notification_url: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(signature_key.as_bytes()).expect("any key length");
    mac.update(notification_url.as_bytes());
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The headers and body Square would post for `notification` to `notification_url`.
pub fn signed_delivery(
    signature_key: &str,
    notification_url: &str,
    notification: &Value,
) -> (Vec<(String, String)>, Vec<u8>) {
    let body = serde_json::to_vec(notification).expect("json");
    let headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("user-agent".to_owned(), "Square Connect v2".to_owned()),
        (
            SIGNATURE_HEADER.to_owned(),
            sign(signature_key, notification_url, &body),
        ),
    ];
    (headers, body)
}

/// Posts a delivery to `url` (plain `http://host:port/path`, e.g. the host's
/// `/webhooks/<source id>`), as Square's sender does; returns the status and body of the answer.
pub async fn deliver(
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let invalid = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("not an http:// URL: {url}"),
        )
    };
    let rest = url.strip_prefix("http://").ok_or_else(invalid)?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut request = format!(
        "POST {} HTTP/1.1\r\nhost: {authority}\r\ncontent-length: {}\r\nconnection: close\r\n",
        if path.is_empty() { "/" } else { path },
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(authority).await?;
    stream.write_all(request.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "no HTTP status line")
        })?;
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

/// Square's id for a sample-shop location name: "High Street" → "LHIGHSTREET".
pub fn location_id(name: &str) -> String {
    let letters: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("L{}", letters.to_ascii_uppercase())
}

/// A sample-shop time ("2026-10-01T09:00:00Z") as Square writes it ("2026-10-01T09:00:00.000Z").
pub fn square_time(rfc3339: &str) -> String {
    rfc3339.replace('Z', ".000Z")
}

fn money(amount: i64, currency: &str) -> Value {
    json!({"amount": amount, "currency": currency})
}

/// A sale of the sample shop as a completed Square order, version 1: online sales come from
/// "Square Online" with a shipment, in-store sales from "Square Point of Sale"; the receipt's
/// customer is the order's `customer_id` and the card tender's.
pub fn square_order(shop: &SampleShop, r: &crate::shop::Receipt) -> Value {
    let customer = r.customer.map(|c| shop.customers[c].id.as_str());
    sale_order(r, shop.currency, customer)
}

/// A receipt as a completed Square order, version 1, with its money in `currency` (the receipt's
/// cents are taken as minor units of it, as Square counts them: ¥ for JPY, fils for KWD) and
/// `customer` as its buyer: created, paid and closed at the receipt's time.
pub fn sale_order(r: &crate::shop::Receipt, currency: &str, customer: Option<&str>) -> Value {
    let at = square_time(&r.date);
    let lines: Vec<Value> = r
        .lines
        .iter()
        .enumerate()
        .map(|(n, l)| {
            let gross = l.unit_cents * i64::from(l.quantity);
            json!({
                "uid": format!("{}-{n}", r.id), "name": l.product, "quantity": l.quantity.to_string(),
                "catalog_object_id": l.sku, "variation_name": "Regular", "item_type": "ITEM",
                "base_price_money": money(l.unit_cents, currency),
                "variation_total_price_money": money(gross, currency),
                "gross_sales_money": money(gross, currency),
                "total_tax_money": money(0, currency), "total_discount_money": money(0, currency),
                "total_money": money(gross, currency),
            })
        })
        .collect();
    let mut tender = json!({
        "id": format!("T{}", r.id), "location_id": location_id(&r.location), "transaction_id": r.id,
        "created_at": at, "amount_money": money(r.total_cents, currency), "type": "CARD",
        "payment_id": format!("P{}", r.id),
    });
    let mut order = json!({
        "id": r.id, "location_id": location_id(&r.location),
        "source": {"name": if r.online { "Square Online" } else { "Square Point of Sale" }},
        "line_items": lines, "tenders": [],
        "net_amounts": {
            "total_money": money(r.total_cents, currency), "tax_money": money(r.tax_cents, currency),
            "discount_money": money(r.discount_cents, currency), "tip_money": money(0, currency),
            "service_charge_money": money(0, currency),
        },
        "created_at": at, "updated_at": at, "closed_at": at, "state": "COMPLETED", "version": 1,
        "total_money": money(r.total_cents, currency), "total_tax_money": money(r.tax_cents, currency),
        "total_discount_money": money(r.discount_cents, currency),
        "total_tip_money": money(0, currency), "total_service_charge_money": money(0, currency),
        "net_amount_due_money": money(0, currency),
    });
    if let Some(id) = customer {
        order["customer_id"] = json!(id);
        tender["customer_id"] = json!(id);
    }
    order["tenders"] = json!([tender]);
    if r.online {
        order["fulfillments"] =
            json!([{"uid": format!("{}-ship", r.id), "type": "SHIPMENT", "state": "COMPLETED"}]);
    }
    order
}

/// A receipt as an unpaid Square order in `state` ("DRAFT" or "OPEN"), version 1, created at the
/// receipt's time: no tender, no `closed_at`, the whole total still due, and an online order's
/// shipment only proposed. [`SquareServer::transition`] moves it on.
pub fn unpaid_order(
    r: &crate::shop::Receipt,
    currency: &str,
    customer: Option<&str>,
    state: &str,
) -> Value {
    assert!(
        matches!(state, "DRAFT" | "OPEN"),
        "an unpaid order is DRAFT or OPEN, not {state}"
    );
    let mut order = sale_order(r, currency, customer);
    let object = order.as_object_mut().expect("an order is an object");
    object.remove("closed_at");
    object.remove("tenders");
    object.insert("state".into(), json!(state));
    object.insert(
        "net_amount_due_money".into(),
        money(r.total_cents, currency),
    );
    if let Some(shipment) = order.pointer_mut("/fulfillments/0/state") {
        *shipment = json!("PROPOSED");
    }
    order
}

/// A return of lines of a sale, as Square records one: a new *return order* (the sale itself is
/// not changed) whose one `returns[]` entry names the sale and lists the lines given back, and a
/// completed `PaymentRefund` of the sale's card payment for their value, whose `order_id` is the
/// return order. See [`SquareServer::return_lines`].
#[derive(Debug, Clone)]
pub struct Return<'a> {
    /// The sale the goods came from.
    pub sale_id: &'a str,
    /// The id of the return order Square creates.
    pub return_order_id: &'a str,
    /// The id of the `PaymentRefund` that pays the return.
    pub refund_id: &'a str,
    /// When it happened (`created_at`, `closed_at` and `updated_at` of the return order).
    pub at: &'a str,
    /// `(index in the sale's line_items, quantity given back)` for each line returned.
    pub lines: &'a [(usize, u32)],
    pub reason: &'a str,
}

/// A sample-shop customer as a Square customer; one who refused marketing has unsubscribed from
/// email. Customers were created a month before the sales, a minute apart.
pub fn square_customer(c: &crate::shop::Customer, index: usize) -> Value {
    let (given, family) = c.name.split_once(' ').unwrap_or((&c.name, ""));
    let at = format!(
        "2026-09-01T10:{:02}:{:02}.000Z",
        index / 60 % 60,
        index % 60
    );
    let mut customer = json!({
        "id": c.id, "created_at": at, "updated_at": at, "given_name": given,
        "family_name": family, "email_address": c.email,
        "preferences": {"email_unsubscribed": c.marketing_opt_in == Some(false)},
        "creation_source": "DIRECTORY", "version": 0,
    });
    if let Some(phone) = &c.phone {
        customer["phone_number"] = json!(phone);
    }
    customer
}

fn bump(object: &mut Value, at: &str) {
    let version = object["version"].as_i64().unwrap_or(0) + 1;
    object["version"] = json!(version);
    object["updated_at"] = json!(at);
}

fn text(object: &Value, field: &str) -> String {
    object[field]
        .as_str()
        .unwrap_or_else(|| panic!("`{field}` missing in {object}"))
        .to_owned()
}

// ---- HTTP ----

/// Square's error answer.
fn error(status: StatusCode, category: &str, code: &str, detail: &str) -> Response {
    (
        status,
        Json(json!({"errors": [{"category": category, "code": code, "detail": detail}]})),
    )
        .into_response()
}

/// A refused request, in Square's error shape: `INVALID_REQUEST_ERROR` with a code and the field.
#[derive(Debug)]
struct BadRequest(Value);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, Json(self.0)).into_response()
    }
}

/// Refuses a parameter outside `known` as Square does, naming it; else a lookup of a parameter's
/// value by name.
fn known_parameters<'a>(
    params: &'a [(String, String)],
    known: &[&str],
) -> Result<impl Fn(&str) -> Option<&'a str>, BadRequest> {
    if let Some((name, _)) = params.iter().find(|(n, _)| !known.contains(&n.as_str())) {
        return Err(bad_request(
            "UNKNOWN_QUERY_PARAMETER",
            &format!("Unknown query parameter `{name}`."),
            name,
        ));
    }
    Ok(move |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    })
}

fn bad_request(code: &str, detail: &str, field: &str) -> BadRequest {
    BadRequest(
        json!({"errors": [{"category": "INVALID_REQUEST_ERROR", "code": code, "detail": detail, "field": field}]}),
    )
}

/// An injected status in Square's error shape.
fn render_fault(status: u16) -> (&'static str, String) {
    let (category, code) = match status {
        429 => ("RATE_LIMIT_ERROR", "RATE_LIMITED"),
        401 => ("AUTHENTICATION_ERROR", "UNAUTHORIZED"),
        403 => ("AUTHENTICATION_ERROR", "FORBIDDEN"),
        404 => ("INVALID_REQUEST_ERROR", "NOT_FOUND"),
        502 => ("API_ERROR", "BAD_GATEWAY"),
        503 => ("API_ERROR", "SERVICE_UNAVAILABLE"),
        504 => ("API_ERROR", "GATEWAY_TIMEOUT"),
        500..=599 => ("API_ERROR", "INTERNAL_SERVER_ERROR"),
        _ => ("INVALID_REQUEST_ERROR", "BAD_REQUEST"),
    };
    let body = json!({"errors": [{"category": category, "code": code, "detail": format!("Simulated HTTP {status}.")}]});
    ("application/json", body.to_string())
}

/// Records the request, applies injected faults, then checks the Bearer token and the
/// `Square-Version` format.
async fn gate(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let square_version = header("square-version");
    shared
        .data
        .lock()
        .expect("square data")
        .requests
        .push(SquareRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            square_version: square_version.clone(),
            body: serde_json::from_slice(&bytes).ok(),
        });
    if let Some(fault) = shared.faults.intercept(render_fault).await {
        return fault;
    }
    if header("authorization").as_deref() != Some(&format!("Bearer {}", shared.token)) {
        return error(
            StatusCode::UNAUTHORIZED,
            "AUTHENTICATION_ERROR",
            "UNAUTHORIZED",
            "This request could not be authorized.",
        );
    }
    let refusal = shared
        .data
        .lock()
        .expect("square data")
        .refusals
        .get(parts.uri.path())
        .copied();
    if let Some(status) = refusal {
        let (_, body) = render_fault(status);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
        let body: Value = serde_json::from_str(&body).expect("a rendered fault is JSON");
        return (status, Json(body)).into_response();
    }
    let version_ok = square_version.as_deref().is_none_or(|v| {
        v.len() == 10
            && v.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            })
    });
    if !version_ok {
        return bad_request(
            "INVALID_SQUARE_VERSION_FORMAT",
            "Square-Version must be a date like 2025-01-23.",
            "Square-Version",
        )
        .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// A JSON object body, or Square's 400.
fn object_body(bytes: &[u8]) -> Result<Map<String, Value>, BadRequest> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(bad_request(
            "EXPECTED_JSON_BODY",
            "The body must be a JSON object.",
            "body",
        )),
    }
}

/// A cursor remembers the offset and a fingerprint of the query that produced it.
fn fingerprint(query: &Value) -> String {
    let digest = Sha256::digest(query.to_string().as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn make_cursor(offset: usize, query: &Value) -> String {
    URL_SAFE_NO_PAD.encode(format!("{offset}:{}", fingerprint(query)))
}

/// The offset a cursor resumes at, or Square's 400 if it is not ours or belongs to another query.
fn read_cursor(cursor: Option<&str>, query: &Value) -> Result<usize, BadRequest> {
    let Some(cursor) = cursor else { return Ok(0) };
    let invalid = || bad_request("INVALID_CURSOR", "The cursor is invalid.", "cursor");
    let decoded = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (offset, print) = text.split_once(':').ok_or_else(invalid)?;
    if print != fingerprint(query) {
        return Err(bad_request(
            "INVALID_CURSOR",
            "The cursor was issued for a different query: later pages must resend the same query.",
            "cursor",
        ));
    }
    offset.parse().map_err(|_| invalid())
}

/// Whether `object[field]` lies in the `TimeRange` `range` (start inclusive, end exclusive).
fn in_range(object: &Value, field: &str, range: &Value) -> Result<bool, BadRequest> {
    let at = object[field].as_str().and_then(rfc3339_millis);
    let bound = |name: &str| -> Result<Option<i64>, BadRequest> {
        match range.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_str()
                .and_then(rfc3339_millis)
                .map(Some)
                .ok_or_else(|| {
                    bad_request(
                        "INVALID_TIME",
                        &format!("{name} is not an RFC 3339 time: {v}"),
                        name,
                    )
                }),
        }
    };
    let (start, end) = (bound("start_at")?, bound("end_at")?);
    Ok(at.is_some_and(|t| start.is_none_or(|s| t >= s) && end.is_none_or(|e| t < e)))
}

/// Sorts by the time in `field` (then id), ascending unless `descending`. Each key is read once,
/// so a search over a year of orders stays quick.
fn sort_by_time(items: &mut [&Value], field: &str, descending: bool) {
    items.sort_by_cached_key(|v| {
        (
            v[field].as_str().and_then(rfc3339_millis),
            v["id"].as_str().map(str::to_owned),
        )
    });
    if descending {
        items.reverse();
    }
}

/// One page of `items` from `offset` (copied out), with the next cursor if more remain.
fn paginate(
    items: &[&Value],
    offset: usize,
    limit: usize,
    query: &Value,
) -> (Vec<Value>, Option<String>) {
    let (page, next) = page_of(items.len(), offset, limit, query);
    (items[page].iter().map(|v| (*v).clone()).collect(), next)
}

/// Which of `len` items one page from `offset` holds (none past the end), and the next cursor
/// if more remain.
fn page_of(
    len: usize,
    offset: usize,
    limit: usize,
    query: &Value,
) -> (std::ops::Range<usize>, Option<String>) {
    let end = (offset + limit).min(len);
    let next = (end < len).then(|| make_cursor(end, query));
    (offset.min(end)..end, next)
}

fn limit(body: &Map<String, Value>, default: u64, max: u64) -> Result<usize, BadRequest> {
    match body.get("limit") {
        None => Ok(default as usize),
        Some(v) => match v.as_u64() {
            Some(0) => Err(bad_request(
                "VALUE_TOO_LOW",
                "limit must be at least 1.",
                "limit",
            )),
            Some(n) if n > max => Err(bad_request(
                "VALUE_TOO_HIGH",
                &format!("limit must be at most {max}."),
                "limit",
            )),
            Some(n) => Ok(n as usize),
            None => Err(bad_request(
                "EXPECTED_INTEGER",
                "limit must be an integer.",
                "limit",
            )),
        },
    }
}

async fn search_orders(State(shared): State<Arc<Shared>>, bytes: axum::body::Bytes) -> Response {
    search_orders_in(&shared, &bytes).unwrap_or_else(IntoResponse::into_response)
}

fn search_orders_in(shared: &Shared, bytes: &[u8]) -> Result<Response, BadRequest> {
    let body = object_body(bytes)?;
    let locations: Vec<String> = match body.get("location_ids") {
        Some(Value::Array(ids)) => ids
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    if locations.is_empty() {
        return Err(bad_request(
            "ARRAY_LENGTH_TOO_SHORT",
            "location_ids must name at least one location.",
            "location_ids",
        ));
    }
    if locations.len() > 10 {
        return Err(bad_request(
            "ARRAY_LENGTH_TOO_LONG",
            "location_ids may name at most 10 locations.",
            "location_ids",
        ));
    }
    let limit = limit(&body, 500, 1000)?;
    let query = body.get("query").cloned().unwrap_or(Value::Null);
    let dates = &query["filter"]["date_time_filter"];
    let filters: Vec<(&str, &Value)> = ["created_at", "updated_at", "closed_at"]
        .into_iter()
        .filter_map(|f| dates.get(f).filter(|v| !v.is_null()).map(|v| (f, v)))
        .collect();
    if filters.len() > 1 {
        return Err(bad_request(
            "INVALID_VALUE",
            "date_time_filter may filter on one timestamp field only.",
            "query.filter.date_time_filter",
        ));
    }
    let sort_field = query["sort"]["sort_field"].as_str().unwrap_or("CREATED_AT");
    if !matches!(sort_field, "CREATED_AT" | "UPDATED_AT" | "CLOSED_AT") {
        return Err(bad_request(
            "INVALID_ENUM_VALUE",
            &format!("sort_field {sort_field} is not a SearchOrdersSortField."),
            "query.sort.sort_field",
        ));
    }
    let sort_key = sort_field.to_ascii_lowercase();
    if let Some((field, _)) = filters.first() {
        if *field != sort_key {
            return Err(bad_request(
                "INVALID_VALUE",
                &format!(
                    "The sort_field {sort_field} must match the date_time_filter field {field}."
                ),
                "query.sort.sort_field",
            ));
        }
    }
    let descending = query["sort"]["sort_order"].as_str().unwrap_or("DESC") == "DESC";
    let states: Option<Vec<&str>> = query["filter"]["state_filter"]["states"]
        .as_array()
        .map(|s| s.iter().filter_map(Value::as_str).collect());
    let fingerprinted = json!({"location_ids": locations, "query": query, "return_entries": body.get("return_entries")});
    let offset = read_cursor(body.get("cursor").and_then(Value::as_str), &fingerprinted)?;
    let mut data = shared.data.lock().expect("square data");
    let ids = data.orders.matching(&fingerprinted.to_string(), |orders| {
        let mut matching = Vec::new();
        for order in orders.values() {
            let located = order["location_id"]
                .as_str()
                .is_some_and(|l| locations.iter().any(|x| x == l));
            let stated = states
                .as_ref()
                .is_none_or(|s| order["state"].as_str().is_some_and(|o| s.contains(&o)));
            let dated = match filters.first() {
                Some((field, range)) => in_range(order, field, range)?,
                None => true,
            };
            if located && stated && dated {
                matching.push(order);
            }
        }
        sort_by_time(&mut matching, &sort_key, descending);
        Ok(matching.iter().map(|o| text(o, "id")).collect())
    })?;
    let (page, next) = page_of(ids.len(), offset, limit, &fingerprinted);
    let page: Vec<Value> = (ids[page].iter())
        .filter_map(|id| data.orders.get(id).cloned())
        .collect();
    drop(data);
    let mut answer = Map::new();
    if !page.is_empty() {
        if body.get("return_entries") == Some(&Value::Bool(true)) {
            let entries: Vec<Value> = page
                .iter()
                .map(|o| json!({"order_id": o["id"], "version": o["version"], "location_id": o["location_id"]}))
                .collect();
            answer.insert("order_entries".into(), json!(entries));
        } else {
            answer.insert("orders".into(), json!(page));
        }
    }
    if let Some(next) = next {
        answer.insert("cursor".into(), json!(next));
    }
    Ok(Json(Value::Object(answer)).into_response())
}

async fn retrieve_order(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let mut data = shared.data.lock().expect("square data");
    let lagging = data.lagging.remove(&id);
    match lagging.as_ref().or(data.orders.get(&id)) {
        Some(order) => Json(json!({"order": order})).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "INVALID_REQUEST_ERROR",
            "NOT_FOUND",
            &format!("Order with id `{id}` not found."),
        ),
    }
}

async fn batch_retrieve_orders(
    State(shared): State<Arc<Shared>>,
    bytes: axum::body::Bytes,
) -> Response {
    let body = match object_body(&bytes) {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    let Some(ids) = body.get("order_ids").and_then(Value::as_array) else {
        return bad_request(
            "MISSING_REQUIRED_PARAMETER",
            "Field must be set.",
            "order_ids",
        )
        .into_response();
    };
    if ids.is_empty() || ids.len() > 100 {
        return bad_request(
            "INVALID_ARRAY_VALUE",
            "order_ids must hold 1 to 100 ids.",
            "order_ids",
        )
        .into_response();
    }
    let location = body.get("location_id").and_then(Value::as_str);
    let data = shared.data.lock().expect("square data");
    let orders: Vec<Value> = ids
        .iter()
        .filter_map(|id| data.orders.get(id.as_str()?))
        .filter(|o| location.is_none_or(|l| o["location_id"] == l))
        .cloned()
        .collect();
    Json(json!({"orders": orders})).into_response()
}

async fn search_customers(State(shared): State<Arc<Shared>>, bytes: axum::body::Bytes) -> Response {
    search_customers_in(&shared, &bytes).unwrap_or_else(IntoResponse::into_response)
}

fn search_customers_in(shared: &Shared, bytes: &[u8]) -> Result<Response, BadRequest> {
    let body = object_body(bytes)?;
    let limit = limit(&body, 100, 100)?;
    let query = body.get("query").cloned().unwrap_or(Value::Null);
    let field = query["sort"]["field"].as_str().unwrap_or("DEFAULT");
    if !matches!(field, "DEFAULT" | "CREATED_AT") {
        return Err(bad_request(
            "INVALID_ENUM_VALUE",
            &format!("sort field {field} is not a CustomerSortField."),
            "query.sort.field",
        ));
    }
    let descending = query["sort"]["order"].as_str() == Some("DESC");
    let fingerprinted = json!({"query": query});
    let offset = read_cursor(body.get("cursor").and_then(Value::as_str), &fingerprinted)?;
    let keep = |customer: &Value| {
        let mut keep = true;
        for time in ["created_at", "updated_at"] {
            if let Some(range) = query["filter"].get(time).filter(|r| !r.is_null()) {
                keep &= in_range(customer, time, range)?;
            }
        }
        Ok(keep)
    };
    let order = CustomerOrder {
        by_creation: field == "CREATED_AT",
        descending,
    };
    let (answer, _) = customers_page(shared, keep, order, (offset, limit), &fingerprinted)?;
    Ok(Json(Value::Object(answer)).into_response())
}

/// How customers are listed: by creation time, or by name (Square's `DEFAULT`); ascending unless
/// `descending`.
#[derive(Debug, Clone, Copy)]
struct CustomerOrder {
    by_creation: bool,
    descending: bool,
}

/// The customers `keep` lets through, in `order`, as Square answers a search or a list: one
/// page of `limit` from `offset` = `(offset, limit)`, and the cursor of the next (bound to
/// `fingerprinted`); and how many there are in all.
fn customers_page(
    shared: &Shared,
    mut keep: impl FnMut(&Value) -> Result<bool, BadRequest>,
    order: CustomerOrder,
    (offset, limit): (usize, usize),
    fingerprinted: &Value,
) -> Result<(Map<String, Value>, usize), BadRequest> {
    let data = shared.data.lock().expect("square data");
    let mut matching = Vec::new();
    for customer in data.customers.values() {
        if keep(customer)? {
            matching.push(customer);
        }
    }
    if order.by_creation {
        sort_by_time(&mut matching, "created_at", order.descending);
    } else {
        let name = |c: &Value| {
            format!(
                "{}{}",
                c["given_name"].as_str().unwrap_or(""),
                c["family_name"].as_str().unwrap_or("")
            )
        };
        matching.sort_by_cached_key(|c| (name(c), c["id"].as_str().map(str::to_owned)));
        if order.descending {
            matching.reverse();
        }
    }
    let (page, next) = paginate(&matching, offset, limit, fingerprinted);
    let total = matching.len();
    drop(data);
    let mut answer = Map::new();
    if !page.is_empty() {
        answer.insert("customers".into(), json!(page));
    }
    if let Some(next) = next {
        answer.insert("cursor".into(), json!(next));
    }
    Ok((answer, total))
}

const REFUND_PARAMETERS: &[&str] = &[
    "begin_time",
    "end_time",
    "sort_order",
    "cursor",
    "location_id",
    "status",
    "source_type",
    "limit",
    "updated_at_begin_time",
    "updated_at_end_time",
    "sort_field",
];

async fn list_refunds(
    State(shared): State<Arc<Shared>>,
    Query(mut params): Query<Vec<(String, String)>>,
    bytes: axum::body::Bytes,
) -> Response {
    body_parameters(&bytes)
        .and_then(|body| {
            params.extend(body);
            list_refunds_in(&shared, params)
        })
        .unwrap_or_else(IntoResponse::into_response)
}

/// The fields of a GET's JSON body, read as query parameters after those of the URL (which win
/// where both name one): some clients (Airbyte's Square connector) send a list's parameters so.
/// No body, no parameters; scalars are taken as their text, nulls left out.
fn body_parameters(bytes: &[u8]) -> Result<Vec<(String, String)>, BadRequest> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let mut params = Vec::new();
    for (name, value) in object_body(bytes)? {
        let text = match value {
            Value::Null => continue,
            Value::String(text) => text,
            Value::Number(_) | Value::Bool(_) => value.to_string(),
            _ => {
                return Err(bad_request(
                    "INVALID_VALUE",
                    &format!("{name} must be a string, a number or a boolean."),
                    &name,
                ))
            }
        };
        params.push((name, text));
    }
    Ok(params)
}

fn list_refunds_in(shared: &Shared, params: Vec<(String, String)>) -> Result<Response, BadRequest> {
    let param = known_parameters(&params, REFUND_PARAMETERS)?;
    let limit = match param("limit") {
        None => 100,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| bad_request("EXPECTED_INTEGER", "limit must be an integer.", "limit"))?
            .clamp(1, 100),
    };
    let sort_field = param("sort_field").unwrap_or("CREATED_AT");
    if !matches!(sort_field, "CREATED_AT" | "UPDATED_AT") {
        return Err(bad_request(
            "INVALID_ENUM_VALUE",
            &format!("sort_field {sort_field} is not CREATED_AT or UPDATED_AT."),
            "sort_field",
        ));
    }
    let descending = param("sort_order").unwrap_or("DESC") != "ASC";
    let created = json!({"start_at": param("begin_time"), "end_at": param("end_time")});
    let updated =
        json!({"start_at": param("updated_at_begin_time"), "end_at": param("updated_at_end_time")});
    let mut fingerprinted: Vec<&(String, String)> = params
        .iter()
        .filter(|(n, _)| n != "cursor" && n != "limit")
        .collect();
    fingerprinted.sort();
    let fingerprinted = json!(fingerprinted);
    let offset = read_cursor(param("cursor"), &fingerprinted)?;
    let data = shared.data.lock().expect("square data");
    let mut matching = Vec::new();
    for refund in data.refunds.values() {
        let located = param("location_id").is_none_or(|l| refund["location_id"] == l);
        let stated = param("status").is_none_or(|s| refund["status"] == s);
        if located
            && stated
            && in_range(refund, "created_at", &created)?
            && in_range(refund, "updated_at", &updated)?
        {
            matching.push(refund);
        }
    }
    sort_by_time(&mut matching, &sort_field.to_ascii_lowercase(), descending);
    let (page, next) = paginate(&matching, offset, limit, &fingerprinted);
    drop(data);
    let mut answer = Map::new();
    if !page.is_empty() {
        answer.insert("refunds".into(), json!(page));
    }
    if let Some(next) = next {
        answer.insert("cursor".into(), json!(next));
    }
    Ok(Json(Value::Object(answer)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shop::{Line, Receipt};

    fn receipt() -> Receipt {
        let line = |sku: &str, product: &str, quantity, unit_cents| Line {
            sku: sku.into(),
            product: product.into(),
            category: "coffee".into(),
            quantity,
            unit_cents,
        };
        Receipt {
            id: "S1".into(),
            refund_of: None,
            at: 1_790_845_200,
            date: "2026-10-01T09:00:00Z".into(),
            location: "High Street".into(),
            online: false,
            customer: None,
            lines: vec![
                line("BEAN-ETH-250", "Ethiopia", 2, 1450),
                line("MUG", "Mug", 1, 1800),
            ],
            tax_cents: 376,
            discount_cents: 0,
            total_cents: 5076,
            file_lines: Vec::new(),
            malformed: None,
        }
    }

    async fn server() -> SquareServer {
        SquareServer::start("t").await.unwrap()
    }

    #[tokio::test]
    async fn orders_move_through_squares_states_as_new_versions() {
        let square = server().await;
        square.put_order(unpaid_order(&receipt(), "KWD", Some("C1"), "DRAFT"));
        let created = "2026-10-01T09:00:00.000Z";
        let steps = [
            ("OPEN", "2026-10-01T09:01:00.000Z"),
            ("COMPLETED", "2026-10-01T09:05:00.000Z"),
        ];
        for (n, (state, at)) in steps.into_iter().enumerate() {
            square.transition("S1", state, at);
            let o = square.order("S1").unwrap();
            assert_eq!(o["state"], state);
            assert_eq!(o["version"], json!(n + 2));
            assert_eq!(
                (o["created_at"].as_str(), o["updated_at"].as_str()),
                (Some(created), Some(at))
            );
        }
        let paid = square.order("S1").unwrap();
        assert_eq!(paid["closed_at"], "2026-10-01T09:05:00.000Z");
        assert_eq!(
            paid["tenders"][0]["amount_money"],
            json!({"amount": 5076, "currency": "KWD"})
        );
        assert_eq!(paid["tenders"][0]["customer_id"], "C1");
        assert_eq!(paid["net_amount_due_money"]["amount"], 0);
        let terminal = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            square.transition("S1", "CANCELED", "2026-10-01T10:00:00.000Z")
        }));
        assert!(terminal.is_err(), "COMPLETED is terminal");

        square.put_order(unpaid_order(&receipt(), "JPY", None, "OPEN"));
        square.transition("S1", "CANCELED", "2026-10-01T09:30:00.000Z");
        let cancelled = square.order("S1").unwrap();
        assert_eq!(
            (cancelled["state"].as_str(), cancelled["version"].as_i64()),
            (Some("CANCELED"), Some(2))
        );
        assert_eq!(cancelled["closed_at"], "2026-10-01T09:30:00.000Z");
        assert!(cancelled.get("tenders").is_none());
    }

    #[tokio::test]
    async fn a_return_is_a_return_order_and_a_refund_of_it() {
        let square = server().await;
        square.put_order(sale_order(&receipt(), "USD", Some("C1")));
        let sale = square.order("S1").unwrap();
        let back = square.return_lines(&Return {
            sale_id: "S1",
            return_order_id: "RET1",
            refund_id: "RF1",
            at: "2026-10-04T12:00:00.000Z",
            lines: &[(1, 1)],
            reason: "Chipped",
        });
        assert_eq!(square.order("S1").unwrap(), sale, "the sale is not changed");
        assert_eq!(back["returns"][0]["source_order_id"], "S1");
        let line = &back["returns"][0]["return_line_items"][0];
        assert_eq!(
            (
                line["catalog_object_id"].as_str(),
                line["quantity"].as_str()
            ),
            (Some("MUG"), Some("1"))
        );
        assert_eq!(line["source_line_item_uid"], "S1-1");
        assert_eq!(
            line["total_money"],
            json!({"amount": 1800, "currency": "USD"})
        );
        assert_eq!(back["return_amounts"]["total_money"]["amount"], 1800);
        assert_eq!(back["net_amounts"]["total_money"]["amount"], -1800);
        assert_eq!(back["customer_id"], "C1");
        assert!(back.get("line_items").is_none());
        let refund = &square.refunds()[0];
        assert_eq!(
            (refund["order_id"].as_str(), refund["payment_id"].as_str()),
            (Some("RET1"), Some("PS1"))
        );
        assert_eq!(refund["amount_money"]["amount"], 1800);
        assert_eq!(back["refunds"][0]["id"], "RF1");
    }

    #[tokio::test]
    async fn filter_and_sort_outside_query_are_ignored_as_square_ignores_them() {
        let square = server().await;
        let shop = SampleShop::generate(3, 40, 0);
        square.load_shop(&shop);
        let body = json!({
            "location_ids": ["LHIGHSTREET"], "limit": 5,
            "filter": {"date_time_filter": {"updated_at": {"start_at": "2030-01-01T00:00:00Z"}}},
            "sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"},
        });
        let (got, cursor) = search_page(&square, &body).await;
        let mut newest: Vec<(&str, &str)> = shop
            .valid_receipts()
            .filter(|r| r.refund_of.is_none() && r.location == "High Street")
            .map(|r| (r.date.as_str(), r.id.as_str()))
            .collect();
        newest.sort_unstable();
        let newest: Vec<&str> = newest.iter().rev().take(5).map(|(_, id)| *id).collect();
        assert_eq!(got, newest, "the newest by creation, as with no query");
        assert!(cursor.is_some());
    }

    /// The ids of one search page and its cursor.
    async fn search_page(square: &SquareServer, body: &Value) -> (Vec<String>, Option<String>) {
        let response = search_orders_in(&square.shared, body.to_string().as_bytes()).unwrap();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let answer: Value = serde_json::from_slice(&bytes).unwrap();
        let ids = (answer["orders"].as_array().into_iter().flatten())
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect();
        (ids, answer["cursor"].as_str().map(str::to_owned))
    }

    #[tokio::test]
    async fn a_search_pages_in_order_and_sees_orders_changed_between_its_pages() {
        let square = server().await;
        let shop = SampleShop::generate(4, 30, 0);
        square.load_shop(&shop);
        let mut by_update: Vec<(String, String)> = (square.orders().iter())
            .filter(|o| o["location_id"] == "LHIGHSTREET")
            .map(|o| (text(o, "updated_at"), text(o, "id")))
            .collect();
        by_update.sort_unstable();
        assert!(by_update.len() > 6, "enough orders to page through");
        let query = json!({"sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"}});
        let first = json!({"location_ids": ["LHIGHSTREET"], "limit": 3, "query": query});
        let (page, cursor) = search_page(&square, &first).await;
        let oldest: Vec<&str> = by_update
            .iter()
            .take(3)
            .map(|(_, id)| id.as_str())
            .collect();
        assert_eq!(page, oldest);
        let (again, _) = search_page(&square, &first).await;
        assert_eq!(again, oldest, "the same search answers the same page");
        // The fourth-oldest order changes: it becomes the newest, so the next page skips it.
        let moved = by_update[3].1.clone();
        square.update_order(&moved, "2030-01-01T00:00:00.000Z", |_| {});
        let mut next = first.clone();
        next["cursor"] = json!(cursor.expect("more pages"));
        let (page, _) = search_page(&square, &next).await;
        let expected: Vec<&str> = by_update[4..7].iter().map(|(_, id)| id.as_str()).collect();
        assert_eq!(page, expected);
        let newest = json!({"location_ids": ["LHIGHSTREET"], "limit": 1,
            "query": {"sort": {"sort_field": "UPDATED_AT", "sort_order": "DESC"}}});
        assert_eq!(search_page(&square, &newest).await.0, vec![moved]);
    }

    #[test]
    fn the_signature_matches_the_vendor_test_vector() {
        let body = br#"{"event_id":"e1","type":"order.created"}"#;
        assert_eq!(
            sign(
                "test-signature-key",
                "https://example.com/hooks/square",
                body
            ),
            "uysxa6YdKpqdzC14hpEX/5tPjVZAga+esUwscUDXHvE="
        );
    }
}
