//! Square Loyalty: accounts of the shop's one programme, with their points. An account is enrolled
//! by phone (its `mapping`), optionally linked to a customer; points are adjusted up (earned: the
//! balance and the lifetime points grow) or down (redeemed or corrected: only the balance falls,
//! and it may go negative). `POST /v2/loyalty/accounts/search` lists them by creation time, all of
//! them or those of some phones or customers (never both), and the `loyalty.account.*`
//! notifications carry the account as it is.

use super::{bad_request, notification, object_body, paginate, read_cursor, sort_by_time, text};
use super::{BadRequest, Shared, SquareServer};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The simulated shop's loyalty programme.
pub const LOYALTY_PROGRAM_ID: &str = "LPSIMULATED01";
/// Square's most phones or customers in one search.
const MAX_QUERY_IDS: usize = 30;

impl SquareServer {
    /// Enrols the phone `phone` (E.164) in the programme at `at` as account `id`, linked to
    /// `customer` if given; returns the account (no points yet).
    pub fn create_loyalty_account(
        &self,
        id: &str,
        phone: &str,
        customer: Option<&str>,
        at: &str,
    ) -> Value {
        let mut account = json!({
            "id": id, "program_id": LOYALTY_PROGRAM_ID, "balance": 0, "lifetime_points": 0,
            "enrolled_at": at, "created_at": at, "updated_at": at,
            "mapping": {"id": format!("{id}-MAP"), "created_at": at, "phone_number": phone},
        });
        if let Some(customer) = customer {
            account["customer_id"] = json!(customer);
        }
        self.data()
            .loyalty_accounts
            .insert(id.to_owned(), account.clone());
        account
    }

    /// Adjusts account `id` by `points` at `at`: points earned (positive) add to the balance and
    /// to the lifetime points; points taken away (negative) lower the balance only, below zero if
    /// need be. Returns the account as it now is.
    pub fn adjust_loyalty_points(&self, id: &str, points: i64, at: &str) -> Value {
        let mut data = self.data();
        let account = data
            .loyalty_accounts
            .get_mut(id)
            .unwrap_or_else(|| panic!("no loyalty account {id}"));
        let balance = account["balance"].as_i64().unwrap_or(0) + points;
        account["balance"] = json!(balance);
        if points > 0 {
            let lifetime = account["lifetime_points"].as_i64().unwrap_or(0) + points;
            account["lifetime_points"] = json!(lifetime);
        }
        account["updated_at"] = json!(at);
        account.clone()
    }

    /// Every loyalty account, by id.
    pub fn loyalty_accounts(&self) -> Vec<Value> {
        self.data().loyalty_accounts.values().cloned().collect()
    }

    /// A `loyalty.account.created` / `loyalty.account.updated` notification carrying the account
    /// as it now is.
    pub fn loyalty_notification(&self, kind: &str, id: &str, event_id: &str) -> Value {
        let account = self
            .data()
            .loyalty_accounts
            .get(id)
            .cloned()
            .unwrap_or_else(|| panic!("no loyalty account {id}"));
        notification(
            kind,
            event_id,
            &text(&account, "updated_at"),
            "loyalty_account",
            id,
            json!({ "loyalty_account": account }),
        )
    }
}

pub(super) async fn search(
    State(shared): State<Arc<Shared>>,
    bytes: axum::body::Bytes,
) -> Response {
    search_in(&shared, &bytes).unwrap_or_else(IntoResponse::into_response)
}

fn search_in(shared: &Shared, bytes: &[u8]) -> Result<Response, BadRequest> {
    let body = object_body(bytes)?;
    let limit = match body.get("limit") {
        None => 30,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=200) => n as usize,
            _ => {
                return Err(bad_request(
                    "INVALID_VALUE",
                    "limit must be an integer from 1 to 200.",
                    "limit",
                ))
            }
        },
    };
    let query = body.get("query").cloned().unwrap_or(Value::Null);
    let strings = |field: &str, inner: Option<&str>| -> Result<Option<Vec<String>>, BadRequest> {
        let Some(list) = query.get(field).filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let list = list.as_array().ok_or_else(|| {
            bad_request("EXPECTED_ARRAY", &format!("{field} must be a list."), field)
        })?;
        if list.len() > MAX_QUERY_IDS {
            return Err(bad_request(
                "ARRAY_LENGTH_TOO_LONG",
                &format!("{field} may hold at most {MAX_QUERY_IDS} entries."),
                field,
            ));
        }
        let values = list
            .iter()
            .map(|v| inner.map_or(v, |name| &v[name]).as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| {
                bad_request(
                    "EXPECTED_STRING",
                    &format!("{field} holds a non-string."),
                    field,
                )
            })?;
        Ok(Some(values))
    };
    let phones = strings("mappings", Some("phone_number"))?;
    let customers = strings("customer_ids", None)?;
    if phones.is_some() && customers.is_some() {
        return Err(bad_request(
            "INVALID_REQUEST",
            "mappings cannot be combined with customer_ids.",
            "query",
        ));
    }
    let fingerprinted = json!({"query": query});
    let offset = read_cursor(body.get("cursor").and_then(Value::as_str), &fingerprinted)?;
    let data = shared.data.lock().expect("square data");
    let mut matching: Vec<&Value> = data
        .loyalty_accounts
        .values()
        .filter(|a| {
            phones.as_ref().is_none_or(|p| {
                a["mapping"]["phone_number"]
                    .as_str()
                    .is_some_and(|n| p.iter().any(|x| x == n))
            }) && customers.as_ref().is_none_or(|c| {
                a["customer_id"]
                    .as_str()
                    .is_some_and(|id| c.iter().any(|x| x == id))
            })
        })
        .collect();
    sort_by_time(&mut matching, "created_at", false);
    let (page, next) = paginate(&matching, offset, limit, &fingerprinted);
    drop(data);
    let mut answer = Map::new();
    if !page.is_empty() {
        answer.insert("loyalty_accounts".into(), json!(page));
    }
    if let Some(next) = next {
        answer.insert("cursor".into(), json!(next));
    }
    Ok(Json(Value::Object(answer)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(square: &SquareServer, body: Value) -> (u16, Value) {
        let response = search_in(&square.shared, body.to_string().as_bytes())
            .unwrap_or_else(IntoResponse::into_response);
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn points_earned_count_for_life_and_points_taken_only_for_the_balance() {
        let square = SquareServer::start("t").await.unwrap();
        square.create_loyalty_account("L1", "+15550101", Some("C1"), "2026-10-01T09:00:00Z");
        square.adjust_loyalty_points("L1", 100, "2026-10-01T10:00:00Z");
        let account = square.adjust_loyalty_points("L1", -130, "2026-10-01T11:00:00Z");
        assert_eq!(
            (
                &account["balance"],
                &account["lifetime_points"],
                &account["updated_at"]
            ),
            (&json!(-30), &json!(100), &json!("2026-10-01T11:00:00Z"))
        );
        assert_eq!(account["created_at"], "2026-10-01T09:00:00Z");
        let note = square.loyalty_notification("loyalty.account.updated", "L1", "e1");
        assert_eq!(note["data"]["type"], "loyalty_account");
        assert_eq!(note["data"]["object"]["loyalty_account"], account);
    }

    #[tokio::test]
    async fn the_search_lists_by_creation_and_filters_by_phone_or_customer_never_both() {
        let square = SquareServer::start("t").await.unwrap();
        square.create_loyalty_account("L2", "+15550102", None, "2026-10-01T09:05:00Z");
        square.create_loyalty_account("L1", "+15550101", Some("C1"), "2026-10-01T09:00:00Z");
        square.create_loyalty_account("L3", "+15550103", Some("C3"), "2026-10-01T09:10:00Z");
        let ids = |body: &Value| -> Vec<String> {
            body["loyalty_accounts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| text(a, "id"))
                .collect()
        };
        let (_, first) = answer(&square, json!({"limit": 2})).await;
        assert_eq!(ids(&first), ["L1", "L2"]);
        let (_, rest) = answer(&square, json!({"limit": 2, "cursor": first["cursor"]})).await;
        assert_eq!(ids(&rest), ["L3"]);
        assert!(rest.get("cursor").is_none());
        let (_, phone) = answer(
            &square,
            json!({"query": {"mappings": [{"phone_number": "+15550102"}]}}),
        )
        .await;
        assert_eq!(ids(&phone), ["L2"]);
        let (_, customer) = answer(&square, json!({"query": {"customer_ids": ["C3"]}})).await;
        assert_eq!(ids(&customer), ["L3"]);
        let (status, _) = answer(
            &square,
            json!({"query": {"customer_ids": ["C3"], "mappings": []}}),
        )
        .await;
        assert_eq!(status, 400);
        let (status, _) = answer(&square, json!({"limit": 201})).await;
        assert_eq!(status, 400);
    }
}
