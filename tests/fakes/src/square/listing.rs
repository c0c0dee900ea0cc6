//! The list endpoints a generic client reads instead of the searches: `GET /v2/locations`
//! (ListLocations: every location, no pages) and `GET /v2/customers` (ListCustomers: `cursor`,
//! `limit` 1–100, `sort_field` DEFAULT or CREATED_AT, `sort_order` ASC by default, `count`), in
//! Square's shapes. Airbyte's Square connector reads both, the locations to find where to search
//! for orders.

use super::{
    bad_request, customers_page, known_parameters, read_cursor, BadRequest, CustomerOrder, Shared,
    SquareServer, MERCHANT_ID,
};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use std::sync::Arc;

const CUSTOMER_PARAMETERS: &[&str] = &["cursor", "limit", "sort_field", "sort_order", "count"];

impl SquareServer {
    /// Stores `location` as given (it needs an `id`).
    pub fn put_location(&self, location: Value) {
        let id = super::text(&location, "id");
        self.data().locations.insert(id, location);
    }

    /// Every location, by id.
    pub fn locations(&self) -> Vec<Value> {
        self.data().locations.values().cloned().collect()
    }
}

/// A sample-shop location as an active physical Square location of the simulated merchant, its
/// money in `currency`.
pub fn square_location(name: &str, currency: &str) -> Value {
    json!({
        "id": super::location_id(name), "name": name, "business_name": "Sample Coffee",
        "status": "ACTIVE", "type": "PHYSICAL", "merchant_id": MERCHANT_ID,
        "timezone": "UTC", "currency": currency, "country": "GB", "language_code": "en-GB",
        "capabilities": ["CREDIT_CARD_PROCESSING"], "created_at": "2020-01-01T09:00:00.000Z",
    })
}

/// `GET /v2/locations`: `{"locations": [...]}`, all of them.
pub(super) async fn list_locations(State(shared): State<Arc<Shared>>) -> Response {
    let data = shared.data.lock().expect("square data");
    let locations: Vec<&Value> = data.locations.values().collect();
    Json(json!({ "locations": locations })).into_response()
}

/// `GET /v2/customers`: one page of customers and the cursor of the next.
pub(super) async fn list_customers(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    list_customers_in(&shared, &params).unwrap_or_else(IntoResponse::into_response)
}

fn list_customers_in(shared: &Shared, params: &[(String, String)]) -> Result<Response, BadRequest> {
    let param = known_parameters(params, CUSTOMER_PARAMETERS)?;
    let limit = match param("limit").map(str::parse::<i64>) {
        None => 100,
        Some(Ok(n)) if n < 1 => {
            return Err(bad_request(
                "VALUE_TOO_LOW",
                "limit must be at least 1.",
                "limit",
            ))
        }
        Some(Ok(n)) if n > 100 => {
            return Err(bad_request(
                "VALUE_TOO_HIGH",
                "limit must be at most 100.",
                "limit",
            ))
        }
        Some(Ok(n)) => n as usize,
        Some(Err(_)) => {
            return Err(bad_request(
                "EXPECTED_INTEGER",
                "limit must be an integer.",
                "limit",
            ))
        }
    };
    let field = param("sort_field").unwrap_or("DEFAULT");
    if !matches!(field, "DEFAULT" | "CREATED_AT") {
        return Err(bad_request(
            "INVALID_ENUM_VALUE",
            &format!("sort_field {field} is not a CustomerSortField."),
            "sort_field",
        ));
    }
    let descending = match param("sort_order").unwrap_or("ASC") {
        "ASC" => false,
        "DESC" => true,
        other => {
            return Err(bad_request(
                "INVALID_ENUM_VALUE",
                &format!("sort_order {other} is not ASC or DESC."),
                "sort_order",
            ))
        }
    };
    let count = match param("count").unwrap_or("false") {
        "true" => true,
        "false" => false,
        _ => {
            return Err(bad_request(
                "EXPECTED_BOOLEAN",
                "count must be true or false.",
                "count",
            ))
        }
    };
    let fingerprinted = json!({"list": {"sort_field": field, "sort_order": descending}});
    let offset = read_cursor(param("cursor"), &fingerprinted)?;
    let order = CustomerOrder {
        by_creation: field == "CREATED_AT",
        descending,
    };
    let (mut answer, total): (Map<String, Value>, usize) =
        customers_page(shared, |_| Ok(true), order, (offset, limit), &fingerprinted)?;
    if count {
        answer.insert("count".into(), json!(total));
    }
    Ok(Json(Value::Object(answer)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shop::{SampleShop, Shape};

    const TOKEN: &str = "t";

    async fn get(square: &SquareServer, path_and_query: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .get(format!("{}{path_and_query}", square.base_url()))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        (answer.status().as_u16(), answer.json().await.unwrap())
    }

    fn shop(shape: Shape) -> SampleShop {
        SampleShop::generate_shaped(5, &shape, 0)
    }

    #[tokio::test]
    async fn locations_lists_every_location_the_shop_sells_at() {
        let square = SquareServer::start(TOKEN).await.unwrap();
        square.load_shop(&shop(Shape::four_weeks(20)));
        let (status, answer) = get(&square, "/v2/locations", None).await;
        assert_eq!(status, 200);
        let ids: Vec<&str> = answer["locations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["LHIGHSTREET", "LMARKETHALL"]);
        assert_eq!(answer["locations"][0]["status"], "ACTIVE");

        let one = SquareServer::start(TOKEN).await.unwrap();
        one.load_shop(&shop(Shape {
            locations: 1,
            ..Shape::four_weeks(20)
        }));
        assert_eq!(one.locations().len(), 1);
    }

    #[tokio::test]
    async fn customers_pages_through_every_customer_in_creation_order() {
        let square = SquareServer::start(TOKEN).await.unwrap();
        let shop = shop(Shape {
            customers: 250,
            ..Shape::four_weeks(30)
        });
        square.load_shop(&shop);
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let after = cursor.map_or(String::new(), |c| format!("&cursor={c}"));
            let (status, answer) = get(
                &square,
                &format!("/v2/customers?sort_field=CREATED_AT&sort_order=ASC&limit=100{after}"),
                None,
            )
            .await;
            assert_eq!(status, 200, "{answer}");
            pages += 1;
            seen.extend(
                answer["customers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["id"].as_str().unwrap().to_owned()),
            );
            match answer["cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let expected: Vec<String> = shop.customers.iter().map(|c| c.id.clone()).collect();
        assert_eq!((pages, seen), (3, expected));

        let (_, counted) = get(&square, "/v2/customers?count=true&limit=1", None).await;
        assert_eq!(counted["count"], 250);
        assert_eq!(counted["customers"].as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn customers_refuses_what_square_refuses() {
        let square = SquareServer::start(TOKEN).await.unwrap();
        for (query, code) in [
            ("limit=101", "VALUE_TOO_HIGH"),
            ("limit=0", "VALUE_TOO_LOW"),
            ("sort_field=NAME", "INVALID_ENUM_VALUE"),
            ("begin_time=2026-01-01T00:00:00Z", "UNKNOWN_QUERY_PARAMETER"),
            ("cursor=bm90LW91cnM", "INVALID_CURSOR"),
        ] {
            let (status, answer) = get(&square, &format!("/v2/customers?{query}"), None).await;
            assert_eq!(
                (status, answer["errors"][0]["code"].as_str()),
                (400, Some(code)),
                "{query}"
            );
        }
    }

    #[tokio::test]
    async fn refunds_read_their_parameters_from_a_json_body_on_a_get() {
        let square = SquareServer::start(TOKEN).await.unwrap();
        let shop = shop(Shape {
            refund_one_in: 2,
            ..Shape::four_weeks(120)
        });
        square.load_shop(&shop);
        let refunds = square.refunds();
        assert!(refunds.len() > 20, "{} refunds", refunds.len());
        let middle = refunds.len() / 2;
        let mut by_time: Vec<&str> = refunds
            .iter()
            .map(|r| r["created_at"].as_str().unwrap())
            .collect();
        by_time.sort_unstable();
        let split = by_time[middle];
        let window = |cursor: Option<&str>| {
            json!({"sort_order": "ASC", "sort_field": "CREATED_AT", "limit": 10,
                   "begin_time": split, "end_time": "2030-01-01T00:00:00.000000Z", "cursor": cursor})
        };
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let (status, answer) =
                get(&square, "/v2/refunds", Some(window(cursor.as_deref()))).await;
            assert_eq!(status, 200, "{answer}");
            let page = answer["refunds"].as_array().unwrap();
            assert!(page.len() <= 10);
            seen.extend(
                page.iter()
                    .map(|r| r["created_at"].as_str().unwrap().to_owned()),
            );
            match answer["cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let expected: Vec<String> = by_time[middle..].iter().map(|t| t.to_string()).collect();
        assert_eq!(seen, expected, "the window, oldest first, page by page");

        let (status, answer) = get(&square, "/v2/refunds", Some(json!({"query": {}}))).await;
        assert_eq!(
            (status, answer["errors"][0]["code"].as_str()),
            (400, Some("INVALID_VALUE"))
        );
        let (status, answer) = get(&square, "/v2/refunds", Some(json!({"limt": 5}))).await;
        assert_eq!(
            (status, answer["errors"][0]["code"].as_str()),
            (400, Some("UNKNOWN_QUERY_PARAMETER"))
        );
    }
}
