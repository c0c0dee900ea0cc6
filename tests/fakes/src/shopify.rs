//! A stateful Shopify REST Admin simulator: orders (with their refunds embedded, as Shopify
//! returns them) and customers behind the real paths, `X-Shopify-Access-Token` auth, Shopify's
//! `{"errors": …}` shape for every failure, cursor pagination with `page_info` tokens in the `Link`
//! header (a `page_info` request that repeats a filter is refused, as Shopify does), the leaky-bucket
//! call limit with `X-Shopify-Shop-Api-Call-Limit`, switchable faults, orders moving from unpaid to
//! paid, cancelled or refunded (with the refunded lines), a sample shop in any currency, and signed
//! webhook deliveries. Products (`products.json`, with `ids` and `fields` as Shopify reads them)
//! carry the `product_type` that order lines lack; customers carry email and SMS marketing
//! consent; a deleted customer and the mandatory privacy webhooks (`customers/redact`,
//! `customers/data_request`, `shop/redact`) have their bodies built here, to be signed and posted
//! with [`webhook`].

use crate::faults::FaultPlan;
use crate::server::{serve, Running};
use crate::shop::{Receipt, SampleShop};
use crate::time::{rfc3339_at_offset, rfc3339_millis};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The Admin API version the simulator serves (`/admin/api/2025-01/...`).
pub const API_VERSION: &str = "2025-01";
/// The shop every webhook names.
pub const SHOP_DOMAIN: &str = "rapport-sim.myshopify.com";
/// The shop's id, as the privacy webhooks name it.
pub const SHOP_ID: u64 = 54_838_000_009;
/// Shopify's answer to a missing or wrong access token.
pub const INVALID_TOKEN: &str =
    "[API] Invalid API key or access token (unrecognized login or wrong password)";
/// Shopify's answer when the call limit is exceeded.
pub const RATE_LIMITED: &str = "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.";
/// The shop's time zone offset: Shopify writes times in the shop's zone.
const SHOP_OFFSET_MINUTES: i64 = -4 * 60;
/// The leaky bucket of a standard plan: 40 calls, leaking 2 per second.
const BUCKET_SIZE: f64 = 40.0;
const LEAK_PER_SECOND: f64 = 2.0;
const MAX_LIMIT: usize = 250;
const DEFAULT_LIMIT: usize = 50;
/// The only parameters a `page_info` request may carry besides `page_info`.
const PAGE_PARAMETERS: &[&str] = &["page_info", "limit", "fields"];

/// One request as the simulator received it, and the status it was answered with.
#[derive(Debug, Clone)]
pub struct ShopifyRequest {
    pub path: String,
    /// Query parameters, decoded, in order.
    pub params: Vec<(String, String)>,
    pub status: u16,
}

impl ShopifyRequest {
    /// The value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Data {
    orders: BTreeMap<u64, Value>,
    customers: BTreeMap<u64, Value>,
    products: BTreeMap<u64, Value>,
    /// Statuses the next `products.json` requests are answered with, in Shopify's error shape.
    product_faults: std::collections::VecDeque<u16>,
    requests: Vec<ShopifyRequest>,
    /// The call-limit bucket: its level and when it was last drained.
    bucket: (f64, Instant),
}

struct Shared {
    token: String,
    data: Mutex<Data>,
    faults: FaultPlan,
}

/// The simulator: `GET /admin/api/2025-01/orders.json`, `customers.json` and `products.json`.
pub struct ShopifyServer {
    running: Running,
    shared: Arc<Shared>,
}

impl ShopifyServer {
    /// Starts an empty shop that accepts `X-Shopify-Access-Token: <token>`.
    pub async fn start(token: &str) -> std::io::Result<ShopifyServer> {
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            data: Mutex::new(Data {
                orders: BTreeMap::new(),
                customers: BTreeMap::new(),
                products: BTreeMap::new(),
                product_faults: std::collections::VecDeque::new(),
                requests: Vec::new(),
                bucket: (0.0, Instant::now()),
            }),
            faults: FaultPlan::default(),
        });
        let base = format!("/admin/api/{API_VERSION}");
        let app = Router::new()
            .route(&format!("{base}/orders.json"), get(list_orders))
            .route(&format!("{base}/customers.json"), get(list_customers))
            .route(&format!("{base}/products.json"), get(list_products))
            .fallback(|| async { errors(StatusCode::NOT_FOUND, json!("Not Found")) })
            .layer(axum::middleware::from_fn_with_state(shared.clone(), gate))
            .with_state(shared.clone());
        Ok(ShopifyServer {
            running: serve(app, 0).await?,
            shared,
        })
    }

    /// `http://127.0.0.1:PORT/admin/api/2025-01`, the shopify-source's `api_base`.
    pub fn base_url(&self) -> String {
        format!("{}/admin/api/{API_VERSION}", self.running.base_url())
    }

    /// Faults for the next requests; statuses are answered in Shopify's error shape, and a
    /// `Retry-After` in Shopify's fractional form ("2.0").
    pub fn faults(&self) -> &FaultPlan {
        &self.shared.faults
    }

    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.shared.data.lock().expect("shopify data")
    }

    /// Every order, by id.
    pub fn orders(&self) -> Vec<Value> {
        self.data().orders.values().cloned().collect()
    }

    /// One order as Shopify now holds it.
    pub fn order(&self, id: u64) -> Option<Value> {
        self.data().orders.get(&id).cloned()
    }

    /// Every customer, by id.
    pub fn customers(&self) -> Vec<Value> {
        self.data().customers.values().cloned().collect()
    }

    /// The next `count` requests for `products.json` (and only those: [`ShopifyServer::faults`]
    /// takes the next requests of any path) are answered `status` in Shopify's error shape, e.g.
    /// 403 for a token without the `read_products` scope.
    pub fn fail_next_products(&self, count: usize, status: u16) {
        self.data()
            .product_faults
            .extend(std::iter::repeat_n(status, count));
    }

    /// Every product, by id.
    pub fn products(&self) -> Vec<Value> {
        self.data().products.values().cloned().collect()
    }

    /// One product as Shopify now holds it.
    pub fn product(&self, id: u64) -> Option<Value> {
        self.data().products.get(&id).cloned()
    }

    /// Every request received, in arrival order (refused ones included).
    pub fn requests(&self) -> Vec<ShopifyRequest> {
        self.data().requests.clone()
    }

    /// Stores `order` as given (it needs a numeric `id` and `updated_at`).
    pub fn put_order(&self, order: Value) {
        let id = order["id"].as_u64().expect("order id");
        self.data().orders.insert(id, order);
    }

    /// Stores `customer` as given (it needs a numeric `id` and `updated_at`).
    pub fn put_customer(&self, customer: Value) {
        let id = customer["id"].as_u64().expect("customer id");
        self.data().customers.insert(id, customer);
    }

    /// Stores `product` as given (it needs a numeric `id` and `updated_at`).
    pub fn put_product(&self, product: Value) {
        let id = product["id"].as_u64().expect("product id");
        self.data().products.insert(id, product);
    }

    /// Changes a product: `change` edits it, then `updated_at` becomes `at`.
    pub fn update_product(&self, id: u64, at: &str, change: impl FnOnce(&mut Value)) {
        let mut data = self.data();
        let product = data.products.get_mut(&id).expect("no such product");
        change(product);
        product["updated_at"] = json!(at);
    }

    /// Deletes a customer as a merchant would, and returns the body of the `customers/delete`
    /// webhook Shopify then sends. Shopify deletes only customers who have placed no order.
    pub fn delete_customer(&self, id: u64) -> Value {
        let mut data = self.data();
        let placed = data
            .orders
            .values()
            .any(|o| o["customer"]["id"].as_u64() == Some(id));
        assert!(!placed, "Shopify deletes only customers without orders");
        let customer = data.customers.remove(&id).expect("no such customer");
        deleted_customer(&customer)
    }

    /// The body of the `customers/redact` webhook for customer `id`: who they are and their
    /// orders.
    pub fn customers_redact(&self, id: u64) -> Value {
        let (customer, orders) = self.privacy_subject(id);
        json!({
            "shop_id": SHOP_ID, "shop_domain": SHOP_DOMAIN,
            "customer": customer, "orders_to_redact": orders,
        })
    }

    /// The body of the `customers/data_request` webhook `request_id` for customer `id`.
    pub fn customers_data_request(&self, id: u64, request_id: u64) -> Value {
        let (customer, orders) = self.privacy_subject(id);
        json!({
            "shop_id": SHOP_ID, "shop_domain": SHOP_DOMAIN, "orders_requested": orders,
            "customer": customer, "data_request": {"id": request_id},
        })
    }

    /// `{id, email, phone}` of customer `id` and the ids of their orders.
    fn privacy_subject(&self, id: u64) -> (Value, Vec<u64>) {
        let data = self.data();
        let customer = data.customers.get(&id).expect("no such customer");
        let orders = data
            .orders
            .values()
            .filter(|o| o["customer"]["id"].as_u64() == Some(id))
            .filter_map(|o| o["id"].as_u64())
            .collect();
        let subject = json!({
            "id": id, "email": customer["email"], "phone": customer["phone"],
        });
        (subject, orders)
    }

    /// Changes an order as a merchant would: `change` edits it, then `updated_at` becomes `at`.
    pub fn update_order(&self, id: u64, at: &str, change: impl FnOnce(&mut Value)) {
        let mut data = self.data();
        let order = data.orders.get_mut(&id).expect("no such order");
        change(order);
        order["updated_at"] = json!(at);
    }

    /// Changes a customer: `change` edits it, then `updated_at` becomes `at`.
    pub fn update_customer(&self, id: u64, at: &str, change: impl FnOnce(&mut Value)) {
        let mut data = self.data();
        let customer = data.customers.get_mut(&id).expect("no such customer");
        change(customer);
        customer["updated_at"] = json!(at);
    }

    /// Takes payment for an unpaid order (`pending` or `authorized`) as Shopify does:
    /// `financial_status` becomes `paid` and `updated_at` becomes `at`; `created_at` and
    /// `processed_at` stay.
    pub fn pay_order(&self, id: u64, at: &str) {
        self.update_order(id, at, |o| {
            let status = o["financial_status"].as_str().unwrap_or("");
            assert!(
                matches!(status, "pending" | "authorized" | "partially_paid"),
                "order {id} is {status}, not awaiting payment"
            );
            o["financial_status"] = json!("paid");
        });
    }

    /// Cancels an order as Shopify does: `cancelled_at` = `at` with `reason` (`customer`,
    /// `inventory`, `fraud`, `declined`, `staff` or `other`), an authorisation not yet captured is
    /// voided (a paid order keeps `paid` until it is refunded: see [`ShopifyServer::add_refund`]),
    /// and `updated_at` becomes `at`.
    pub fn cancel_order(&self, id: u64, at: &str, reason: &str) {
        self.update_order(id, at, |o| {
            assert!(
                o["cancelled_at"].is_null(),
                "order {id} is already cancelled"
            );
            o["cancelled_at"] = json!(at);
            o["cancel_reason"] = json!(reason);
            if matches!(
                o["financial_status"].as_str(),
                Some("pending" | "authorized")
            ) {
                o["financial_status"] = json!("voided");
            }
        });
    }

    /// Records `refund` on its order as Shopify does: appended to the order's `refunds`, the
    /// financial status becomes `partially_refunded` (or `refunded` when everything is given back)
    /// and `updated_at` becomes the refund's `created_at`.
    pub fn add_refund(&self, refund: Value) {
        let order_id = refund["order_id"].as_u64().expect("refund order_id");
        let at = refund["created_at"].clone();
        let mut data = self.data();
        let order = data
            .orders
            .get_mut(&order_id)
            .expect("refund of an unknown order");
        let refunds = order["refunds"].as_array_mut().expect("order refunds");
        refunds.push(refund);
        let currency = order["currency"].as_str().unwrap_or("USD").to_owned();
        let returned: i64 = order["refunds"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["transactions"].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t["amount"].as_str().and_then(|a| parse_minor(a, &currency)))
            .sum();
        let total = order["total_price"]
            .as_str()
            .and_then(|a| parse_minor(a, &currency))
            .unwrap_or(0);
        order["financial_status"] = json!(if returned >= total {
            "refunded"
        } else {
            "partially_refunded"
        });
        order["updated_at"] = at;
    }

    /// Loads `shop` in Shopify's shapes with all money in `currency`: its customers, one product
    /// for each SKU sold (its `product_type` the sample line's category), each intact
    /// sale as a paid order (in-store sales from the POS at their location, online sales from the
    /// web store) and each refund receipt as a refund of its sale. Sample-shop cents become minor
    /// units by [`minor_units`].
    pub fn load_shop(&self, shop: &SampleShop, currency: &str) {
        let customers: Vec<Value> = shop
            .customers
            .iter()
            .enumerate()
            .map(|(i, c)| shopify_customer(shop, i, c, currency))
            .collect();
        for c in &customers {
            self.put_customer(c.clone());
        }
        let mut catalogue = BTreeMap::new();
        for l in shop.valid_receipts().flat_map(|r| &r.lines) {
            catalogue
                .entry(l.sku.clone())
                .or_insert_with(|| shopify_product(l, currency, &l.category, PRODUCTS_UPDATED_AT));
        }
        for product in catalogue.into_values() {
            self.put_product(product);
        }
        for r in shop.valid_receipts() {
            match &r.refund_of {
                None => {
                    let buyer = r.customer.map(|i| customers[i].clone());
                    self.put_order(shopify_order(r, buyer, currency));
                }
                Some(sale) => self.add_refund(shopify_refund(r, sale, currency)),
            }
        }
    }
}

/// Shopify's numeric id for a sample-shop id: sales "R000012" → 5100000000012, refunds
/// "F000012" → 5200000000012, customers "C00003" → 7100000000003.
pub fn shopify_id(sample_id: &str) -> u64 {
    let (prefix, digits) = sample_id.split_at(1);
    let base = match prefix {
        "R" => 5_100_000_000_000,
        "F" => 5_200_000_000_000,
        "C" => 7_100_000_000_000,
        other => panic!("no Shopify id for sample-shop prefix {other:?}"),
    };
    base + digits.parse::<u64>().expect("sample-shop id digits")
}

/// When the sample shop's products were last changed.
const PRODUCTS_UPDATED_AT: &str = "2026-08-01T10:00:00-04:00";

/// Shopify's product id for a SKU (each SKU is one product of one variant here): 8000000000
/// plus a hash of the SKU, the same in every order.
pub fn product_id(sku: &str) -> u64 {
    8_000_000_000 + sku_hash(sku)
}

/// Shopify's variant id for a SKU.
pub fn variant_id(sku: &str) -> u64 {
    40_000_000_000 + sku_hash(sku)
}

/// FNV-1a of `sku`, below 10⁹.
fn sku_hash(sku: &str) -> u64 {
    let hash = sku.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    hash % 1_000_000_000
}

/// A product as Shopify's REST Admin API writes one (`GET products.json`): one variant, `sku`
/// and price from `line`, of type `product_type` ("" when the merchant set none), created and
/// last updated at `at`. Store it with [`ShopifyServer::put_product`].
pub fn shopify_product(
    line: &crate::shop::Line,
    currency: &str,
    product_type: &str,
    at: &str,
) -> Value {
    let id = product_id(&line.sku);
    let variant = variant_id(&line.sku);
    let handle: String = line
        .product
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect();
    json!({
        "id": id, "title": line.product, "body_html": format!("<p>{}</p>", line.product),
        "vendor": "Rapport Roasters", "product_type": product_type, "created_at": at,
        "handle": handle, "updated_at": at, "published_at": at, "template_suffix": null,
        "published_scope": "global", "tags": "", "status": "active",
        "admin_graphql_api_id": format!("gid://shopify/Product/{id}"),
        "variants": [{
            "id": variant, "product_id": id, "title": "Default Title",
            "price": decimal(minor_units(line.unit_cents, currency), currency), "sku": line.sku,
            "position": 1, "inventory_policy": "deny", "compare_at_price": null,
            "fulfillment_service": "manual", "inventory_management": "shopify",
            "option1": "Default Title", "option2": null, "option3": null,
            "created_at": at, "updated_at": at, "taxable": true, "barcode": null, "grams": 250,
            "weight": 250.0, "weight_unit": "g", "inventory_item_id": variant + 1,
            "inventory_quantity": 100, "requires_shipping": true,
            "admin_graphql_api_id": format!("gid://shopify/ProductVariant/{variant}"),
        }],
        "options": [{"id": id + 1, "product_id": id, "name": "Title", "position": 1, "values": ["Default Title"]}],
        "images": [], "image": null,
    })
}

/// The body of a `customers/delete` webhook for `customer` (as it was): Shopify sends little more
/// than the id once a customer is gone (shape from Shopify's webhook example payload, unverified
/// against a primary source: the connector relies on `id` alone).
pub fn deleted_customer(customer: &Value) -> Value {
    let id = customer["id"].as_u64().expect("customer id");
    json!({
        "id": id, "phone": null, "addresses": [], "tax_exemptions": [],
        "email_marketing_consent": null, "sms_marketing_consent": null,
        "admin_graphql_api_id": format!("gid://shopify/Customer/{id}"),
    })
}

/// The body of the `shop/redact` webhook, sent 48 hours after the shop uninstalled the app.
pub fn shop_redact() -> Value {
    json!({"shop_id": SHOP_ID, "shop_domain": SHOP_DOMAIN})
}

/// A customer's `sms_marketing_consent` (or `email_marketing_consent`, without
/// `consent_collected_from`): `state` (`subscribed`, `unsubscribed`, `not_subscribed`, `pending`,
/// `redacted`) with `opt_in_level` at `at` (null when no choice was ever recorded).
pub fn sms_marketing_consent(state: &str, opt_in_level: &str, at: Option<&str>) -> Value {
    json!({
        "state": state, "opt_in_level": opt_in_level, "consent_updated_at": at,
        "consent_collected_from": "SHOPIFY",
    })
}

/// Shopify's location id for a sample-shop location name.
pub fn location_id(name: &str) -> u64 {
    match name {
        "High Street" => 65_000_000_001,
        "Market Hall" => 65_000_000_002,
        other => panic!("unknown sample-shop location {other:?}"),
    }
}

/// The number of decimal places of `currency` (JPY 0, KWD 3, others 2).
pub fn exponent(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" => 0,
        "KWD" | "BHD" | "JOD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// Sample-shop cents as minor units of `currency`: the same digits in 2- and 0-decimal currencies
/// (1450 cents → ¥1450), three times as many in 3-decimal ones so the third decimal is used
/// (375 cents → 1.125 KWD).
pub fn minor_units(cents: i64, currency: &str) -> i64 {
    if exponent(currency) == 3 {
        cents * 3
    } else {
        cents
    }
}

/// `minor` units of `currency` as Shopify writes money: a decimal string in major units.
pub fn decimal(minor: i64, currency: &str) -> String {
    let places = exponent(currency) as usize;
    let digits = format!("{:0>width$}", minor.unsigned_abs(), width = places + 1);
    let (int, frac) = digits.split_at(digits.len() - places);
    let sign = if minor < 0 { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// A decimal amount in major units as minor units of `currency` ("1500.00" JPY is 1500, "1.5"
/// KWD is 1500); `None` if it is not one or is more precise than the currency.
fn parse_minor(amount: &str, currency: &str) -> Option<i64> {
    let places = exponent(currency) as usize;
    let (int, frac) = amount.split_once('.').unwrap_or((amount, ""));
    let (kept, dropped) = frac.split_at(frac.len().min(places));
    if dropped.bytes().any(|b| b != b'0') {
        return None;
    }
    format!("{int}{kept:0<places$}").parse().ok()
}

/// A sample-shop UTC time ("2026-10-01T09:00:00Z") as Shopify writes it, in the shop's zone
/// ("2026-10-01T05:00:00-04:00").
pub fn shop_time(utc: &str) -> String {
    format_time(millis(utc).expect("sample-shop time"))
}

/// `ms` since the epoch in the shop's zone.
pub fn format_time(ms: i64) -> String {
    rfc3339_at_offset(ms.div_euclid(1000), SHOP_OFFSET_MINUTES)
}

/// Milliseconds of an ISO 8601 time as Shopify accepts it (`YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`,
/// `T` and `Z` in upper case only).
pub fn millis(value: &str) -> Option<i64> {
    if value.as_bytes().get(10) != Some(&b'T') || value.ends_with('z') {
        return None;
    }
    rfc3339_millis(value)
}

fn money_set(minor: i64, currency: &str) -> Value {
    let amount = decimal(minor, currency);
    json!({
        "shop_money": {"amount": amount, "currency_code": currency},
        "presentment_money": {"amount": amount, "currency_code": currency},
    })
}

fn marketing_consent(opt_in: Option<bool>, at: &str) -> Value {
    match opt_in {
        Some(true) => {
            json!({"state": "subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": at})
        }
        Some(false) => {
            json!({"state": "unsubscribed", "opt_in_level": "single_opt_in", "consent_updated_at": at})
        }
        None => {
            json!({"state": "not_subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": null})
        }
    }
}

/// A sample-shop customer as a Shopify customer, created a month before the sales, a minute
/// apart. Their marketing choice is their email consent and, when they have a phone, their SMS
/// consent; a customer with no choice is `not_subscribed`.
pub fn shopify_customer(
    shop: &SampleShop,
    index: usize,
    c: &crate::shop::Customer,
    currency: &str,
) -> Value {
    let (first, last) = c.name.split_once(' ').unwrap_or((&c.name, ""));
    let at = shop_time(&format!(
        "2026-09-01T10:{:02}:{:02}Z",
        index / 60 % 60,
        index % 60
    ));
    let id = shopify_id(&c.id);
    let sales: Vec<&Receipt> = shop
        .valid_receipts()
        .filter(|r| r.customer == Some(index) && r.refund_of.is_none())
        .collect();
    let spent: i64 = sales
        .iter()
        .map(|r| minor_units(r.total_cents, currency))
        .sum();
    let last_order = sales.last();
    json!({
        "id": id, "email": c.email, "created_at": at, "updated_at": at,
        "first_name": first, "last_name": last, "orders_count": sales.len(), "state": "enabled",
        "total_spent": decimal(spent, currency),
        "last_order_id": last_order.map(|r| shopify_id(&r.id)),
        "last_order_name": last_order.map(|r| format!("#{}", 1000 + order_number(r))),
        "note": null, "verified_email": true, "multipass_identifier": null, "tax_exempt": false,
        "tags": "", "currency": currency, "phone": c.phone.as_ref().map(|p| p.replace(' ', "")),
        "addresses": [], "tax_exemptions": [],
        "email_marketing_consent": marketing_consent(c.marketing_opt_in, &at),
        "sms_marketing_consent": c.phone.as_ref().map(|_| {
            let mut consent = marketing_consent(c.marketing_opt_in, &at);
            consent["consent_collected_from"] = json!("SHOPIFY");
            consent
        }),
        "admin_graphql_api_id": format!("gid://shopify/Customer/{id}"),
    })
}

fn order_number(r: &Receipt) -> u64 {
    shopify_id(&r.id) % 1_000_000
}

fn line_item(receipt: &str, n: usize, l: &crate::shop::Line, currency: &str) -> Value {
    let id = shopify_id(receipt) * 10 + n as u64;
    json!({
        "id": id, "admin_graphql_api_id": format!("gid://shopify/LineItem/{id}"),
        "variant_id": variant_id(&l.sku), "product_id": product_id(&l.sku),
        "title": l.product, "name": l.product, "variant_title": "", "sku": l.sku,
        "vendor": "Rapport Roasters", "quantity": l.quantity,
        "price": decimal(minor_units(l.unit_cents, currency), currency),
        "price_set": money_set(minor_units(l.unit_cents, currency), currency),
        "grams": 250, "requires_shipping": true, "taxable": true, "gift_card": false,
        "fulfillment_service": "manual", "fulfillment_status": null, "fulfillable_quantity": 0,
        "properties": [], "product_exists": true, "total_discount": decimal(0, currency),
        "total_discount_set": money_set(0, currency), "tax_lines": [], "discount_allocations": [],
    })
}

/// A sale of the sample shop as a paid Shopify order.
pub fn shopify_order(r: &Receipt, customer: Option<Value>, currency: &str) -> Value {
    let id = shopify_id(&r.id);
    let at = shop_time(&r.date);
    let minor = |cents: i64| minor_units(cents, currency);
    let gross: i64 = r
        .lines
        .iter()
        .map(|l| l.unit_cents * i64::from(l.quantity))
        .sum();
    let lines: Vec<Value> = r
        .lines
        .iter()
        .enumerate()
        .map(|(n, l)| line_item(&r.id, n, l, currency))
        .collect();
    let email = customer
        .as_ref()
        .map(|c| c["email"].clone())
        .unwrap_or(Value::Null);
    let number = order_number(r);
    let mut order = json!({
        "id": id, "admin_graphql_api_id": format!("gid://shopify/Order/{id}"),
        "name": format!("#{}", 1000 + number), "number": number, "order_number": 1000 + number,
        "email": email, "contact_email": email, "phone": null,
        "created_at": at, "processed_at": at, "updated_at": at, "closed_at": at,
        "cancelled_at": null, "cancel_reason": null, "confirmed": true, "test": false,
        "currency": currency, "presentment_currency": currency,
        "financial_status": "paid", "fulfillment_status": if r.online { Value::Null } else { json!("fulfilled") },
        "source_name": if r.online { "web" } else { "pos" },
        "location_id": if r.online { Value::Null } else { json!(location_id(&r.location)) },
        "buyer_accepts_marketing": false, "taxes_included": false, "tags": "", "note": null,
        "token": format!("{id:x}"), "total_weight": 0,
        "customer": customer,
    });
    let amounts = json!({
        "total_line_items_price": decimal(minor(gross), currency),
        "total_line_items_price_set": money_set(minor(gross), currency),
        "subtotal_price": decimal(minor(gross - r.discount_cents), currency),
        "subtotal_price_set": money_set(minor(gross - r.discount_cents), currency),
        "total_discounts": decimal(minor(r.discount_cents), currency),
        "total_discounts_set": money_set(minor(r.discount_cents), currency),
        "total_tax": decimal(minor(r.tax_cents), currency),
        "total_tax_set": money_set(minor(r.tax_cents), currency),
        "total_price": decimal(minor(r.total_cents), currency),
        "total_price_set": money_set(minor(r.total_cents), currency),
        "total_shipping_price_set": money_set(0, currency),
        "discount_codes": if r.discount_cents > 0 {
            json!([{"code": "WELCOME", "amount": decimal(minor(r.discount_cents), currency), "type": "fixed_amount"}])
        } else {
            json!([])
        },
        "tax_lines": [{"price": decimal(minor(r.tax_cents), currency), "rate": 0.08, "title": "VAT"}],
        "payment_gateway_names": [if r.online { "shopify_payments" } else { "cash" }],
        "line_items": lines, "shipping_lines": [], "fulfillments": [], "refunds": [],
    });
    for (name, value) in amounts.as_object().expect("object") {
        order[name] = value.clone();
    }
    order
}

/// A sale not paid yet: the order of [`shopify_order`] with `financial_status` `pending` (e.g. a
/// manual payment method) or `authorized` (a card authorised, not captured), not fulfilled and not
/// closed. [`ShopifyServer::pay_order`] and [`ShopifyServer::cancel_order`] move it on.
pub fn unpaid_order(
    r: &Receipt,
    customer: Option<Value>,
    currency: &str,
    financial_status: &str,
) -> Value {
    assert!(
        matches!(financial_status, "pending" | "authorized"),
        "an unpaid order is pending or authorized, not {financial_status}"
    );
    let mut order = shopify_order(r, customer, currency);
    order["financial_status"] = json!(financial_status);
    order["fulfillment_status"] = Value::Null;
    order["closed_at"] = Value::Null;
    order
}

/// A refund of some lines of `order` (as the simulator holds it) at `at`, as Shopify writes one:
/// a `refund_line_items` entry for each `(index in line_items, quantity)` with the line item
/// itself and its `subtotal` (price × quantity less the line's discount, pro rata), and one
/// successful `refund` transaction giving back their sum. Record it with
/// [`ShopifyServer::add_refund`].
pub fn refund_lines(order: &Value, refund_id: u64, at: &str, lines: &[(usize, i64)]) -> Value {
    let order_id = order["id"].as_u64().expect("order id");
    let currency = order["currency"].as_str().expect("order currency");
    let minor = |field: &Value| {
        field
            .as_str()
            .and_then(|a| parse_minor(a, currency))
            .expect("a decimal amount")
    };
    let mut given_back = 0;
    let items: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(n, &(index, quantity))| {
            let item = &order["line_items"][index];
            let sold = item["quantity"].as_i64().expect("line quantity");
            assert!(quantity <= sold, "more refunded than sold");
            let subtotal = minor(&item["price"]) * quantity
                - minor(&item["total_discount"]) * quantity / sold;
            given_back += subtotal;
            json!({
                "id": refund_id * 10 + n as u64, "quantity": quantity, "line_item_id": item["id"],
                "location_id": order["location_id"], "restock_type": "return",
                "subtotal": decimal(subtotal, currency), "subtotal_set": money_set(subtotal, currency),
                "total_tax": decimal(0, currency), "total_tax_set": money_set(0, currency),
                "line_item": item,
            })
        })
        .collect();
    json!({
        "id": refund_id, "admin_graphql_api_id": format!("gid://shopify/Refund/{refund_id}"),
        "order_id": order_id, "created_at": at, "processed_at": at, "note": "Returned goods",
        "restock": true, "user_id": 799_407_056, "refund_line_items": items,
        "order_adjustments": [],
        "transactions": [{
            "id": refund_id + 1, "order_id": order_id, "kind": "refund",
            "gateway": order["payment_gateway_names"][0], "status": "success", "message": null,
            "created_at": at, "test": false, "authorization": format!("refund-{refund_id}"),
            "amount": decimal(given_back, currency), "currency": currency, "location_id": null,
            "user_id": null, "parent_id": order_id + 1, "device_id": null, "receipt": {},
            "error_code": null, "source_name": order["source_name"],
        }],
    })
}

/// A refund receipt as a Shopify refund of its sale: the returned line and one successful
/// `refund` transaction for the amount.
pub fn shopify_refund(r: &Receipt, sale: &str, currency: &str) -> Value {
    let id = shopify_id(&r.id);
    let order_id = shopify_id(sale);
    let at = shop_time(&r.date);
    let amount = decimal(minor_units(r.total_cents, currency), currency);
    let lines: Vec<Value> = r
        .lines
        .iter()
        .enumerate()
        .map(|(n, l)| {
            let total = minor_units(l.unit_cents * i64::from(l.quantity), currency);
            json!({
                "id": id * 10 + n as u64, "quantity": l.quantity, "line_item_id": order_id * 10 + n as u64,
                "location_id": if r.online { Value::Null } else { json!(location_id(&r.location)) },
                "restock_type": "return", "subtotal": decimal(total, currency),
                "subtotal_set": money_set(total, currency), "total_tax": decimal(0, currency),
                "total_tax_set": money_set(0, currency), "line_item": line_item(sale, n, l, currency),
            })
        })
        .collect();
    json!({
        "id": id, "admin_graphql_api_id": format!("gid://shopify/Refund/{id}"), "order_id": order_id,
        "created_at": at, "processed_at": at, "note": "Returned goods", "restock": true,
        "user_id": 799_407_056, "refund_line_items": lines, "order_adjustments": [],
        "transactions": [{
            "id": id + 1, "order_id": order_id, "kind": "refund", "gateway": "shopify_payments",
            "status": "success", "message": null, "created_at": at, "test": false,
            "authorization": format!("refund-{id}"), "amount": amount, "currency": currency,
            "location_id": null, "user_id": null, "parent_id": order_id + 1, "device_id": null,
            "receipt": {}, "error_code": null, "source_name": if r.online { "web" } else { "pos" },
        }],
    })
}

/// Shopify's webhook signature: base64(HMAC-SHA256(app client secret, raw body)).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The headers and body Shopify would post for `topic` with `resource` (the bare resource) as
/// delivery `webhook_id`, signed with `secret`.
pub fn webhook(
    secret: &str,
    topic: &str,
    webhook_id: &str,
    resource: &Value,
) -> (Vec<(String, String)>, Vec<u8>) {
    let body = serde_json::to_vec(resource).expect("json");
    let triggered = resource["updated_at"]
        .as_str()
        .or(resource["created_at"].as_str())
        .unwrap_or("2026-10-01T05:00:00-04:00");
    let headers = [
        ("Content-Type", "application/json".to_owned()),
        ("X-Shopify-Topic", topic.to_owned()),
        ("X-Shopify-Hmac-Sha256", sign(secret, &body)),
        ("X-Shopify-Shop-Domain", SHOP_DOMAIN.to_owned()),
        ("X-Shopify-API-Version", API_VERSION.to_owned()),
        ("X-Shopify-Webhook-Id", webhook_id.to_owned()),
        ("X-Shopify-Event-Id", format!("evt-{webhook_id}")),
        ("X-Shopify-Triggered-At", triggered.to_owned()),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v))
    .collect();
    (headers, body)
}

// ---- HTTP ----

/// Shopify's error answer: `{"errors": <string or object>}`.
fn errors(status: StatusCode, errors: Value) -> Response {
    (status, Json(json!({ "errors": errors }))).into_response()
}

/// An injected status in Shopify's error shape.
fn render_fault(status: u16) -> (&'static str, String) {
    let message = match status {
        429 => RATE_LIMITED,
        401 => INVALID_TOKEN,
        403 => "[API] This action requires merchant approval for read_orders scope.",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Bad Request",
    };
    (
        "application/json; charset=utf-8",
        json!({ "errors": message }).to_string(),
    )
}

/// Applies injected faults, checks the access token and the call limit, records the request, and
/// adds `X-Shopify-Shop-Api-Call-Limit` to what gets through.
async fn gate(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let params = query_pairs(request.uri().query().unwrap_or(""));
    let token = request
        .headers()
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = match shared.faults.intercept(render_fault).await {
        Some(mut fault) => {
            let seconds = fault
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if let Some(seconds) = seconds {
                let fractional = HeaderValue::from_str(&format!("{seconds}.0")).expect("header");
                fault.headers_mut().insert("retry-after", fractional);
            }
            fault
        }
        None if token.as_deref() != Some(shared.token.as_str()) => {
            errors(StatusCode::UNAUTHORIZED, json!(INVALID_TOKEN))
        }
        None => match take_call(&shared) {
            Err(wait) => {
                let mut limited = errors(StatusCode::TOO_MANY_REQUESTS, json!(RATE_LIMITED));
                let value = HeaderValue::from_str(&format!("{wait:.1}")).expect("header");
                limited.headers_mut().insert("retry-after", value);
                limited
            }
            Ok(level) => {
                let mut answer = next.run(request).await;
                let value =
                    HeaderValue::from_str(&format!("{level}/{BUCKET_SIZE}")).expect("header");
                answer
                    .headers_mut()
                    .insert("x-shopify-shop-api-call-limit", value);
                answer
            }
        },
    };
    shared
        .data
        .lock()
        .expect("shopify data")
        .requests
        .push(ShopifyRequest {
            path,
            params,
            status: response.status().as_u16(),
        });
    response
}

/// Takes one call from the leaky bucket: the new level, or the seconds until a call fits.
fn take_call(shared: &Shared) -> Result<u32, f64> {
    let mut data = shared.data.lock().expect("shopify data");
    let (level, since) = data.bucket;
    let now = Instant::now();
    let drained = (level - since.elapsed().as_secs_f64() * LEAK_PER_SECOND).max(0.0);
    if drained + 1.0 > BUCKET_SIZE {
        data.bucket = (drained, now);
        return Err((drained + 1.0 - BUCKET_SIZE) / LEAK_PER_SECOND);
    }
    data.bucket = (drained + 1.0, now);
    Ok((drained + 1.0).ceil() as u32)
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| value.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a listing filters on, carried inside its `page_info` tokens, as Shopify's are.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
struct Token {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    updated_at_min: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    updated_at_max: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    created_at_min: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    created_at_max: Option<String>,
    /// Products only: the comma-separated ids asked for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    ids: Option<String>,
    /// The sort key (`updated_at` ms, id) of the record the page starts after (next) or before
    /// (previous); absent on the first page.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    last_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    last_value: Option<i64>,
    #[serde(default)]
    direction: String,
}

const FILTERS: &[&str] = &[
    "status",
    "ids",
    "updated_at_min",
    "updated_at_max",
    "created_at_min",
    "created_at_max",
];

async fn list_orders(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    list(&shared, "orders", &request)
}

async fn list_customers(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    list(&shared, "customers", &request)
}

async fn list_products(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let fault = shared
        .data
        .lock()
        .expect("shopify data")
        .product_faults
        .pop_front();
    match fault {
        Some(403) => errors(
            StatusCode::FORBIDDEN,
            json!("[API] This action requires merchant approval for read_products scope."),
        ),
        Some(status) => {
            let (_, body) = render_fault(status);
            let body: Value = serde_json::from_str(&body).expect("a fault body");
            (StatusCode::from_u16(status).expect("a status"), Json(body)).into_response()
        }
        None => list(&shared, "products", &request),
    }
}

/// One page of `resource`: orders and customers sorted by `updated_at` then id, products by id,
/// ascending. `fields` keeps only the named properties of each record.
fn list(shared: &Shared, resource: &str, request: &Request) -> Response {
    let params = query_pairs(request.uri().query().unwrap_or(""));
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let limit = match param("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => match v.parse::<usize>() {
            Ok(n @ 1..=MAX_LIMIT) => n,
            _ => {
                return errors(
                    StatusCode::BAD_REQUEST,
                    json!({"limit": format!("Limit must be a number from 1 to {MAX_LIMIT}.")}),
                )
            }
        },
    };
    let token = match param("page_info") {
        Some(page_info) => {
            if let Some((name, _)) = params
                .iter()
                .find(|(n, _)| !PAGE_PARAMETERS.contains(&n.as_str()))
            {
                return errors(
                    StatusCode::BAD_REQUEST,
                    json!({ name.clone(): format!("{name} cannot be passed when page_info is present. See https://shopify.dev/api/usage/pagination-rest for more information.") }),
                );
            }
            let decoded = URL_SAFE_NO_PAD
                .decode(page_info.as_bytes())
                .ok()
                .and_then(|b| serde_json::from_slice::<Token>(&b).ok())
                .filter(|t| t.last_id.is_some() && matches!(t.direction.as_str(), "next" | "prev"));
            match decoded {
                Some(token) => token,
                None => {
                    return errors(
                        StatusCode::BAD_REQUEST,
                        json!({"page_info": "Invalid value."}),
                    )
                }
            }
        }
        None => {
            let mut token = Token {
                direction: "next".into(),
                ..Token::default()
            };
            for name in FILTERS {
                let value = param(name);
                if name.ends_with("_min") || name.ends_with("_max") {
                    if let Some(v) = &value {
                        if millis(v).is_none() {
                            return errors(
                                StatusCode::BAD_REQUEST,
                                json!({ *name: format!("{name} is not a valid date: {v}") }),
                            );
                        }
                    }
                }
                match *name {
                    "status" if resource == "orders" => token.status = value,
                    "ids" if resource == "products" => token.ids = value,
                    "updated_at_min" => token.updated_at_min = value,
                    "updated_at_max" => token.updated_at_max = value,
                    "created_at_min" => token.created_at_min = value,
                    "created_at_max" => token.created_at_max = value,
                    _ => {}
                }
            }
            token
        }
    };
    let data = shared.data.lock().expect("shopify data");
    let store = match resource {
        "orders" => &data.orders,
        "products" => &data.products,
        _ => &data.customers,
    };
    let key = |v: &Value| {
        let at = match resource {
            "products" => 0,
            _ => v["updated_at"].as_str().and_then(millis).unwrap_or(0),
        };
        (at, v["id"].as_u64().unwrap_or(0))
    };
    // Ids that are not numbers name no product.
    let ids: Option<Vec<u64>> = token.ids.as_deref().map(|ids| {
        ids.split(',')
            .filter_map(|id| id.trim().parse().ok())
            .collect()
    });
    let asked = |v: &Value| {
        ids.as_ref()
            .is_none_or(|ids| v["id"].as_u64().is_some_and(|id| ids.contains(&id)))
    };
    let within = |v: &Value, field: &str, min: &Option<String>, max: &Option<String>| {
        let at = v[field].as_str().and_then(millis);
        let min = min.as_deref().and_then(millis);
        let max = max.as_deref().and_then(millis);
        at.is_some_and(|t| min.is_none_or(|m| t >= m) && max.is_none_or(|m| t <= m))
            || (at.is_none() && min.is_none() && max.is_none())
    };
    let status_ok = |v: &Value| match token.status.as_deref().unwrap_or("open") {
        _ if resource != "orders" => true,
        "any" => true,
        "cancelled" => !v["cancelled_at"].is_null(),
        "closed" => !v["closed_at"].is_null(),
        _ => v["closed_at"].is_null() && v["cancelled_at"].is_null(),
    };
    let mut matching: Vec<&Value> = store
        .values()
        .filter(|v| {
            status_ok(v)
                && asked(v)
                && within(
                    v,
                    "updated_at",
                    &token.updated_at_min,
                    &token.updated_at_max,
                )
                && within(
                    v,
                    "created_at",
                    &token.created_at_min,
                    &token.created_at_max,
                )
        })
        .collect();
    matching.sort_by_key(|v| key(v));
    let anchor = token.last_value.zip(token.last_id);
    let page: Vec<&Value> = match (token.direction.as_str(), anchor) {
        ("prev", Some(anchor)) => {
            let before: Vec<&Value> = matching
                .iter()
                .copied()
                .filter(|v| key(v) < anchor)
                .collect();
            before[before.len().saturating_sub(limit)..].to_vec()
        }
        (_, Some(anchor)) => matching
            .iter()
            .copied()
            .filter(|v| key(v) > anchor)
            .take(limit)
            .collect(),
        (_, None) => matching.iter().copied().take(limit).collect(),
    };
    let host = request
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let link = |direction: &str, at: &Value| {
        let (last_value, last_id) = key(at);
        let next = Token {
            last_id: Some(last_id),
            last_value: Some(last_value),
            direction: direction.into(),
            ..token.clone()
        };
        let encoded = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&next).expect("token"));
        let rel = if direction == "next" {
            "next"
        } else {
            "previous"
        };
        format!("<http://{host}/admin/api/{API_VERSION}/{resource}.json?limit={limit}&page_info={encoded}>; rel=\"{rel}\"")
    };
    let mut links = Vec::new();
    if let (Some(first), true) = (page.first(), anchor.is_some()) {
        if matching.iter().any(|v| key(v) < key(first)) {
            links.push(link("prev", first));
        }
    }
    if let Some(last) = page.last() {
        if matching.iter().any(|v| key(v) > key(last)) {
            links.push(link("next", last));
        }
    }
    let fields: Option<Vec<String>> =
        param("fields").map(|f| f.split(',').map(|n| n.trim().to_owned()).collect());
    let page: Vec<Value> = page
        .into_iter()
        .map(|record| match (&fields, record) {
            (Some(fields), Value::Object(all)) => Value::Object(
                all.iter()
                    .filter(|(name, _)| fields.contains(name))
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect(),
            ),
            (_, record) => record.clone(),
        })
        .collect();
    let body = json!({ resource: page });
    let mut response = Json(body).into_response();
    if !links.is_empty() {
        let value = HeaderValue::from_str(&links.join(", ")).expect("link header");
        response.headers_mut().insert("link", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shop::Line;

    fn receipt() -> Receipt {
        let line = |sku: &str, product: &str, quantity, unit_cents| Line {
            sku: sku.into(),
            product: product.into(),
            category: "coffee".into(),
            quantity,
            unit_cents,
        };
        Receipt {
            id: "R000007".into(),
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

    #[tokio::test]
    async fn orders_are_paid_cancelled_and_refunded_as_new_versions() {
        let shop = ShopifyServer::start("t").await.unwrap();
        let id = shopify_id("R000007");
        shop.put_order(unpaid_order(&receipt(), None, "KWD", "pending"));
        let created = shop.order(id).unwrap()["created_at"].clone();
        shop.pay_order(id, "2026-10-01T05:10:00-04:00");
        let paid = shop.order(id).unwrap();
        assert_eq!(paid["financial_status"], "paid");
        assert_eq!(paid["updated_at"], "2026-10-01T05:10:00-04:00");
        assert_eq!(
            (&paid["created_at"], &paid["processed_at"]),
            (&created, &created)
        );
        assert_eq!(paid["total_price"], "15.228", "5076 × 3 fils");

        let refund = refund_lines(&paid, 77, "2026-10-02T10:00:00-04:00", &[(1, 1)]);
        assert_eq!(refund["refund_line_items"][0]["line_item"]["sku"], "MUG");
        assert_eq!(refund["refund_line_items"][0]["subtotal"], "5.400");
        assert_eq!(refund["transactions"][0]["amount"], "5.400");
        shop.add_refund(refund);
        let refunded = shop.order(id).unwrap();
        assert_eq!(refunded["financial_status"], "partially_refunded");
        assert_eq!(refunded["updated_at"], "2026-10-02T10:00:00-04:00");

        shop.cancel_order(id, "2026-10-03T10:00:00-04:00", "customer");
        let cancelled = shop.order(id).unwrap();
        assert_eq!(cancelled["cancelled_at"], "2026-10-03T10:00:00-04:00");
        assert_eq!(cancelled["financial_status"], "partially_refunded");

        shop.put_order(unpaid_order(&receipt(), None, "JPY", "authorized"));
        shop.cancel_order(id, "2026-10-01T06:00:00-04:00", "declined");
        assert_eq!(shop.order(id).unwrap()["financial_status"], "voided");
    }

    #[tokio::test]
    async fn privacy_bodies_name_the_customer_and_their_orders() {
        let shop = ShopifyServer::start("t").await.unwrap();
        let customer = json!({
            "id": 7, "email": "ana@example.com", "phone": "+442079460001",
            "updated_at": "2026-09-01T06:00:00-04:00",
        });
        shop.put_customer(customer.clone());
        let mut order = shopify_order(&receipt(), Some(customer), "USD");
        order["id"] = json!(501);
        shop.put_order(order);
        let redact = shop.customers_redact(7);
        assert_eq!(
            redact,
            json!({
                "shop_id": SHOP_ID, "shop_domain": SHOP_DOMAIN,
                "customer": {"id": 7, "email": "ana@example.com", "phone": "+442079460001"},
                "orders_to_redact": [501],
            })
        );
        let request = shop.customers_data_request(7, 9999);
        assert_eq!(request["data_request"], json!({"id": 9999}));
        assert_eq!(request["orders_requested"], json!([501]));
        assert_eq!(request["customer"], redact["customer"]);
        assert_eq!(
            shop_redact(),
            json!({"shop_id": SHOP_ID, "shop_domain": SHOP_DOMAIN})
        );

        shop.put_customer(json!({"id": 8, "email": "ben@example.com", "updated_at": "x"}));
        let deleted = shop.delete_customer(8);
        assert_eq!(deleted["id"], 8);
        assert!(deleted.get("email").is_none());
        assert_eq!(shop.customers().len(), 1);
    }

    #[test]
    fn a_sku_is_one_product_in_every_order() {
        assert_eq!(product_id("MUG"), product_id("MUG"));
        assert_ne!(product_id("MUG"), product_id("BEAN-ETH-250"));
        let lines = &receipt().lines;
        let first = line_item("R000007", 0, &lines[0], "USD");
        let again = line_item("R000008", 2, &lines[0], "USD");
        assert_eq!(first["product_id"], again["product_id"]);
        let product = shopify_product(&lines[1], "KWD", "homeware", "2026-08-01T10:00:00-04:00");
        assert_eq!(product["id"], json!(product_id("MUG")));
        assert_eq!(product["product_type"], "homeware");
        assert_eq!(
            product["variants"][0]["price"], "5.400",
            "1800 cents × 3 fils"
        );
        assert_eq!(product["variants"][0]["id"], json!(variant_id("MUG")));
    }

    #[test]
    fn times_round_trip_in_the_shop_zone() {
        assert_eq!(
            shop_time("2026-10-01T09:00:00Z"),
            "2026-10-01T05:00:00-04:00"
        );
        assert_eq!(
            shop_time("2026-10-01T02:00:00Z"),
            "2026-09-30T22:00:00-04:00"
        );
        assert_eq!(
            millis("2026-10-01T05:00:00-04:00"),
            millis("2026-10-01T09:00:00Z")
        );
        assert_eq!(millis("yesterday"), None);
    }

    #[test]
    fn money_is_written_by_currency_exponent() {
        assert_eq!(decimal(1250, "USD"), "12.50");
        assert_eq!(decimal(1450, "JPY"), "1450");
        assert_eq!(decimal(1125, "KWD"), "1.125");
        assert_eq!(decimal(5, "KWD"), "0.005");
        assert_eq!(parse_minor("1.125", "KWD"), Some(1125));
        assert_eq!(parse_minor("12.5", "USD"), Some(1250));
        assert_eq!(parse_minor("1500.00", "JPY"), Some(1500));
        assert_eq!(parse_minor("0.50", "JPY"), None);
    }

    #[test]
    fn the_signature_matches_the_vendor_test_vector() {
        let body = br#"{"event_id":"e1","type":"order.created"}"#;
        assert_eq!(
            sign("test-client-secret", body),
            "/MhJVAjo2QOXcXzMbRxNXV3GAdhpp1wH8YLrhpjuY40="
        );
    }
}
