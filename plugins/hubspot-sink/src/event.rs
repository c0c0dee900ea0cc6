//! Activities as custom event occurrences: `POST /events/v3/send` with the portal's event name,
//! the person's email, the time, the activity's properties and value, and the activity's
//! idempotency key as `uuid`, which HubSpot accepts once.

use rapport_sdk::amount::major_units;
use rapport_sdk::http::Response;
use rapport_sdk::people::first_identity;
use rapport_sdk::prelude::*;
use rapport_sdk::time::format_timestamp;
use serde_json::{json, Map, Value};

pub const SEND_PATH: &str = "/events/v3/send";

/// `{"eventName","email","occurredAt","uuid","properties":{…}}`; the value as `amount` (major
/// units) and `currency`.
pub fn occurrence(a: &Activity, event_name: &str) -> Result<Value, String> {
    let email = first_identity(&a.identities, IdentityKind::Email)
        .ok_or("no email: HubSpot custom events are attached to contacts by email")?;
    let mut properties = Map::new();
    for p in &a.properties {
        let value = property(&p.value).map_err(|e| format!("property {}: {e}", p.name))?;
        properties.insert(p.name.clone(), value);
    }
    if let Some(value) = &a.value {
        properties.insert(
            "amount".into(),
            json!(major_units(value).map_err(|e| e.to_string())?),
        );
        properties.insert("currency".into(), json!(value.currency));
    }
    Ok(json!({
        "eventName": event_name,
        "email": email,
        "occurredAt": format_timestamp(a.occurred_at),
        "uuid": a.idempotency_key,
        "properties": properties,
    }))
}

/// HubSpot event properties are strings or numbers.
fn property(value: &TraitValue) -> Result<Value, String> {
    Ok(match value {
        TraitValue::Text(s) => json!(s),
        TraitValue::Integer(n) => json!(n),
        TraitValue::Boolean(b) => json!(b.to_string()),
        TraitValue::Money(m) => json!(major_units(m).map_err(|e| e.to_string())?),
        TraitValue::Time(t) => json!(format_timestamp(*t)),
    })
}

/// HubSpot refuses an occurrence whose `uuid` it already holds with 409: the activity is recorded.
pub fn already_recorded(response: &Response) -> bool {
    response.status == 409
}
