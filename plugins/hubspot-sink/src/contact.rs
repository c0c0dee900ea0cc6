//! Contacts: `POST /crm/v3/objects/contacts/batch/upsert` keyed by email (`idProperty: email`),
//! with every property value a string, and the batch answer (200, or 207 with `errors[]` naming
//! the inputs that failed) read back as one outcome per input.

use crate::answer;
use rapport_sdk::amount::major_units;
use rapport_sdk::http::Response;
use rapport_sdk::people::first_identity;
use rapport_sdk::prelude::*;
use rapport_sdk::time::format_timestamp;
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub const UPSERT_PATH: &str = "/crm/v3/objects/contacts/batch/upsert";

/// `{"idProperty":"email","id":<email>,"properties":{…}}`: email, names, phone, the host's
/// profile key as `rapport_profile_key`, and each trait under its own name.
pub fn input(email: &str, p: &Profile) -> Result<Value, String> {
    let mut properties = Map::new();
    let mut set = |name: &str, value: String| {
        properties.insert(name.to_owned(), Value::String(value));
    };
    set("email", email.to_owned());
    set("rapport_profile_key", p.key.clone());
    let named = [
        ("firstname", p.given_name.as_deref()),
        ("lastname", p.family_name.as_deref()),
        ("phone", first_identity(&p.identities, IdentityKind::Phone)),
    ];
    for (name, value) in named {
        if let Some(value) = value {
            set(name, value.to_owned());
        }
    }
    for t in &p.traits {
        set(
            &t.name,
            text(&t.value).map_err(|e| format!("trait {}: {e}", t.name))?,
        );
    }
    Ok(json!({"idProperty": "email", "id": email, "properties": properties}))
}

/// A trait as HubSpot property text: money in major units ("123.45"), times as the ISO date
/// ("2026-10-03") that date properties take.
fn text(value: &TraitValue) -> Result<String, String> {
    Ok(match value {
        TraitValue::Text(s) => s.clone(),
        TraitValue::Integer(n) => n.to_string(),
        TraitValue::Boolean(b) => b.to_string(),
        TraitValue::Money(m) => major_units(m).map_err(|e| e.to_string())?,
        TraitValue::Time(t) => format_timestamp(*t)[..10].to_owned(),
    })
}

/// `{"status":"COMPLETE","results":[…],"numErrors":n,"errors":[…]}`: only the errors matter, so an
/// answer without them (a shadow sink's synthetic `{}`) names no error.
#[derive(Deserialize)]
struct BatchAnswer {
    #[serde(default)]
    errors: Vec<BatchError>,
}

/// `{"status":"error","category","message","context":{"ids":[…]}}`.
#[derive(Deserialize)]
struct BatchError {
    message: String,
    category: Option<String>,
    #[serde(default)]
    context: Map<String, Value>,
}

impl BatchError {
    /// Whether any value of the error's context is (or lists) `email`.
    fn names(&self, email: &str) -> bool {
        let is = |v: &Value| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(email));
        self.context.values().any(|v| match v {
            Value::Array(items) => items.iter().any(is),
            one => is(one),
        })
    }
}

/// One outcome per email from a 200 or 207 answer: rejected with HubSpot's message for each input
/// an error names, ok for the others.
pub fn outcomes(response: &Response, emails: &[&str]) -> Result<Vec<Outcome>, ConnectorError> {
    let answer: BatchAnswer = response.json()?;
    Ok(emails
        .iter()
        .map(
            |email| match answer.errors.iter().find(|e| e.names(email)) {
                Some(e) => Outcome::Rejected(answer::rejection(
                    response.status,
                    &e.message,
                    e.category.as_deref(),
                )),
                None => Outcome::Ok,
            },
        )
        .collect())
}

pub const GDPR_DELETE_PATH: &str = "/crm/v3/objects/contacts/gdpr-delete";

/// HubSpot answers 404 for a contact it does not hold: there is nothing left to erase.
pub fn already_gone(response: &Response) -> bool {
    response.status == 404
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: Value) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }

    #[test]
    fn traits_become_property_text() {
        let money = |minor, currency: &str| {
            TraitValue::Money(Money {
                minor,
                currency: currency.into(),
            })
        };
        assert_eq!(text(&money(12345, "USD")).unwrap(), "123.45");
        assert_eq!(text(&money(500, "JPY")).unwrap(), "500");
        assert_eq!(
            text(&TraitValue::Time(1_791_028_800_000)).unwrap(),
            "2026-10-03"
        );
        assert_eq!(text(&TraitValue::Boolean(true)).unwrap(), "true");
        assert!(text(&money(1, "usd")).is_err());
    }

    #[test]
    fn batch_errors_are_matched_to_their_input() {
        let answer = response(
            207,
            json!({"status": "COMPLETE", "results": [], "numErrors": 1, "errors": [
                {"status": "error", "category": "VALIDATION_ERROR", "message": "bad",
                 "context": {"ids": ["Bob@Example.com"]}},
            ]}),
        );
        assert_eq!(
            outcomes(&answer, &["ada@example.com", "bob@example.com"]).unwrap(),
            vec![
                Outcome::Ok,
                Outcome::Rejected("HubSpot HTTP 207: bad (VALIDATION_ERROR)".into())
            ]
        );
        assert_eq!(
            outcomes(&response(200, json!({})), &["a@b.c"]).unwrap(),
            vec![Outcome::Ok],
            "an answer without errors takes every input"
        );
        assert!(matches!(
            outcomes(&response(200, json!({"errors": "none"})), &["a@b.c"]),
            Err(ConnectorError::Invalid(_))
        ));
    }
}
