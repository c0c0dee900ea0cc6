//! Shopify's list endpoints through the host: the first request of a query carries its filters,
//! later pages only `limit` and the `page_info` from the previous answer's `Link: <…>; rel="next"`
//! header (Shopify refuses a `page_info` request that repeats a filter). Errors map by status; a
//! 429 waits for Shopify's `Retry-After` seconds (fractions allowed).

use rapport_sdk::config::require_url;
use rapport_sdk::http::{self, Response};
use rapport_sdk::types::ConnectorError;
use rapport_sdk::url;
use rapport_sdk::watermark::Page;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::BTreeMap;

/// The first page of `resource` ("orders" or "customers") updated at or after `since`. Orders are
/// asked for in every status: by default Shopify lists only open ones.
pub fn first_page<T: DeserializeOwned>(
    resource: &str,
    limit: u32,
    since: Option<&str>,
) -> Result<Page<T>, ConnectorError> {
    let mut query = vec![("limit", limit.to_string())];
    if resource == "orders" {
        query.push(("status", "any".to_owned()));
    }
    query.extend(since.map(|s| ("updated_at_min", s.to_owned())));
    list(resource, &url::query(&query))
}

/// The page of `resource` that `page_info` (as found in the Link header, already URL-encoded)
/// points at: only `limit` may accompany it.
pub fn next_page<T: DeserializeOwned>(
    resource: &str,
    limit: u32,
    page_info: &str,
) -> Result<Page<T>, ConnectorError> {
    list(resource, &format!("limit={limit}&page_info={page_info}"))
}

/// The products with these ids, each with only `id`, `product_type` and `updated_at` (at most
/// [`crate::products::IDS_PER_REQUEST`] ids, so one page holds them all). A product Shopify no
/// longer has is simply absent.
pub fn products(ids: &[u64]) -> Result<Vec<Value>, ConnectorError> {
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    let query = url::query(&[
        ("ids", ids.join(",")),
        ("fields", "id,product_type,updated_at".to_owned()),
        ("limit", crate::products::IDS_PER_REQUEST.to_string()),
    ]);
    Ok(list("products", &query)?.items)
}

/// `GET {api_base}/{resource}.json?{query}` (`query` already encoded): the page of `resource`,
/// each record read as `T` (a `Value`, or JSON text that the orders stream decodes one by one).
fn list<T: DeserializeOwned>(resource: &str, query: &str) -> Result<Page<T>, ConnectorError> {
    let base = require_url("api_base")?;
    let url = format!("{}/{resource}.json?{query}", base.trim_end_matches('/'));
    let response = http::get(&url)?.success()?;
    let next = next_page_info(&response);
    let mut body: BTreeMap<String, Box<RawValue>> = response.json()?;
    let listed = body
        .remove(resource)
        .map(|list| serde_json::from_str(list.get()));
    match listed {
        Some(Ok(items)) => Ok(Page { items, next }),
        Some(Err(e)) => Err(ConnectorError::Invalid(format!(
            "Shopify's answer to {resource}.json has no `{resource}` list ({e})"
        ))),
        None => Err(ConnectorError::Invalid(format!(
            "Shopify's answer to {resource}.json has no `{resource}` list"
        ))),
    }
}

/// The `page_info` of the `rel="next"` link, if the answer has one.
fn next_page_info(response: &Response) -> Option<String> {
    response.header("link")?.split(',').find_map(|link| {
        let (target, params) = link.split_once(';')?;
        if !params.split(';').any(|p| p.trim() == "rel=\"next\"") {
            return None;
        }
        let url = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let (_, query) = url.split_once('?')?;
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("page_info="))
            .filter(|token| {
                !token.is_empty()
                    && token
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b))
            })
            .map(str::to_owned)
    })
}
