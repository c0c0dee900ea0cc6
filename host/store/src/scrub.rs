//! One person's rows, table by table: finding the profiles a reference names (`rapport forget`,
//! `rapport identity`), reading what the store holds of a person, and the statements that scrub
//! them. What forgetting removes is `rapport_core::governance::erasure`'s plan; the forget service
//! runs these statements as the plan says, in one transaction.

use super::rows;
use super::{Store, StoreError, Tx};
use rapport_core::governance::erasure::ScrubbedEvent;
use rapport_core::model::{Identity, Payload};
use sqlx::Row;
use std::collections::{BTreeSet, HashMap};

/// How a person to forget is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonRef {
    /// A normalised identifier linked to their profile.
    Identity(Identity),
    /// Their profile's key (`p-…`), as sinks received it.
    ProfileKey(String),
    /// Their profile's row id.
    ProfileId(i64),
    /// Their loyalty number, normalised (upper case, single spaces): a loyalty identity, or the
    /// profile's loyalty account, compared without regard to case.
    Loyalty(String),
}

/// A stored profile found for a [`PersonRef`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FoundProfile {
    pub id: i64,
    pub key: String,
    /// Identifiers still linked to it (none once it has been forgotten).
    pub identities: usize,
}

/// An event as stored: its payload, and the JSON text it was read from.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: i64,
    pub payload: Payload,
    text: String,
}

/// Raw input kept for the operator, searched for mentions of a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeptInput {
    /// Input a source could not use (`rejected_inputs`).
    Rejected,
    /// Malformed webhook deliveries kept verbatim (`webhook_inbox`).
    Webhooks,
}

impl KeptInput {
    /// The table, and the two columns that may hold what the person wrote.
    fn columns(self) -> (&'static str, [&'static str; 2]) {
        match self {
            KeptInput::Rejected => ("rejected_inputs", ["locator", "reason"]),
            KeptInput::Webhooks => ("webhook_inbox", ["headers", "body"]),
        }
    }
}

impl Store {
    /// The profiles any of `refs` names, each once.
    pub async fn find_profiles(&self, refs: &[PersonRef]) -> Result<Vec<FoundProfile>, StoreError> {
        let mut found = BTreeSet::new();
        for r in refs {
            let query = match r {
                PersonRef::Identity(identity) => sqlx::query(
                    "SELECT p.id, p.key FROM profiles p JOIN identities i ON i.profile_id = p.id
                     WHERE i.kind = $1 AND i.value = $2",
                )
                .bind(identity.kind.as_str())
                .bind(identity.value.as_str()),
                PersonRef::ProfileKey(key) => {
                    sqlx::query("SELECT id, key FROM profiles WHERE key = $1").bind(key.as_str())
                }
                PersonRef::ProfileId(id) => {
                    sqlx::query("SELECT id, key FROM profiles WHERE id = $1").bind(*id)
                }
                PersonRef::Loyalty(number) => sqlx::query(
                    "SELECT id, key FROM profiles WHERE UPPER(loyalty_account) = $1
                     UNION SELECT p.id, p.key FROM profiles p JOIN identities i ON i.profile_id = p.id
                     WHERE i.kind = 'loyalty_id' AND i.value = $2",
                )
                .bind(number.as_str())
                .bind(number.as_str()),
            };
            for row in query.fetch_all(&self.pool).await? {
                let id: i64 = row.try_get("id")?;
                let identities: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM identities WHERE profile_id = $1")
                        .bind(id)
                        .fetch_one(&self.pool)
                        .await?;
                found.insert(FoundProfile {
                    id,
                    key: row.try_get("key")?,
                    identities: identities as usize,
                });
            }
        }
        Ok(found.into_iter().collect())
    }
}

/// The key of profile `profile_id`.
pub async fn profile_key(tx: &mut Tx<'_>, profile_id: i64) -> Result<String, StoreError> {
    sqlx::query_scalar("SELECT key FROM profiles WHERE id = $1")
        .bind(profile_id)
        .fetch_optional(&mut *tx.inner)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("profile {profile_id} does not exist")))
}

/// The identities linked to profile `profile_id`, by kind and value.
pub async fn identities_of(tx: &mut Tx<'_>, profile_id: i64) -> Result<Vec<Identity>, StoreError> {
    sqlx::query("SELECT kind, value FROM identities WHERE profile_id = $1 ORDER BY kind, value")
        .bind(profile_id)
        .fetch_all(&mut *tx.inner)
        .await?
        .iter()
        .map(rows::identity)
        .collect()
}

/// The events of profile `profile_id`, oldest first.
pub async fn events_of(tx: &mut Tx<'_>, profile_id: i64) -> Result<Vec<StoredEvent>, StoreError> {
    sqlx::query("SELECT id, payload FROM events WHERE profile_id = $1 ORDER BY id")
        .bind(profile_id)
        .fetch_all(&mut *tx.inner)
        .await?
        .into_iter()
        .map(|row| {
            let id: i64 = row.try_get("id")?;
            let text: String = row.try_get("payload")?;
            let payload = serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("event {id} payload: {e}")))?;
            Ok(StoredEvent { id, payload, text })
        })
        .collect()
}

/// For each sink with one of the profile's work items in flight, when the last such lease ends.
pub async fn in_flight_leases(
    tx: &mut Tx<'_>,
    profile_id: i64,
) -> Result<HashMap<String, i64>, StoreError> {
    sqlx::query(
        "SELECT sink_id, MAX(lease_until) AS lease_end FROM outbox
         WHERE profile_id = $1 AND status = 'inflight' GROUP BY sink_id",
    )
    .bind(profile_id)
    .fetch_all(&mut *tx.inner)
    .await?
    .into_iter()
    .map(|r| Ok((r.try_get("sink_id")?, r.try_get("lease_end")?)))
    .collect()
}

/// Writes `event` as `scrubbed` says (its payload, and its object id if it gets a new one); an event
/// whose payload the scrub left as it was, and whose object id stays, is not written. Returns
/// whether it was.
pub async fn rewrite_event(
    tx: &mut Tx<'_>,
    event: &StoredEvent,
    scrubbed: &ScrubbedEvent,
) -> Result<bool, StoreError> {
    let text = serde_json::to_string(&scrubbed.payload)
        .map_err(|e| StoreError::Corrupt(format!("event {} payload: {e}", event.id)))?;
    if text == event.text && scrubbed.object_id.is_none() {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE events SET payload = $1, object_id = COALESCE($2, object_id) WHERE id = $3",
    )
    .bind(text)
    .bind(scrubbed.object_id.as_deref())
    .bind(event.id)
    .execute(&mut *tx.inner)
    .await?;
    Ok(true)
}

/// Deletes the rows of `kept` that contain one of `mentions`, compared case-insensitively. Returns
/// how many went.
pub async fn delete_mentions(
    tx: &mut Tx<'_>,
    kept: KeptInput,
    mentions: &BTreeSet<String>,
) -> Result<u64, StoreError> {
    let (table, [a, b]) = kept.columns();
    let mut removed = 0;
    for text in mentions {
        let pattern = format!("%{}%", like_escape(&text.to_lowercase()));
        removed += sqlx::query(&format!(
            "DELETE FROM {table}
             WHERE LOWER({a}) LIKE $1 ESCAPE '\\' OR LOWER({b}) LIKE $1 ESCAPE '\\'"
        ))
        .bind(pattern)
        .execute(&mut *tx.inner)
        .await?
        .rows_affected();
    }
    Ok(removed)
}

/// `text` with LIKE's wildcards and the escape character escaped.
fn like_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Deletes the consents in force of profile `profile_id`; returns how many went.
pub async fn delete_consents(tx: &mut Tx<'_>, profile_id: i64) -> Result<u64, StoreError> {
    Ok(sqlx::query("DELETE FROM consents WHERE profile_id = $1")
        .bind(profile_id)
        .execute(&mut *tx.inner)
        .await?
        .rows_affected())
}

/// Deletes every choice in the ledger of profile `profile_id`.
pub async fn delete_ledger(tx: &mut Tx<'_>, profile_id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM consent_ledger WHERE profile_id = $1")
        .bind(profile_id)
        .execute(&mut *tx.inner)
        .await?;
    Ok(())
}

/// Unlinks every identity of profile `profile_id`.
pub async fn delete_identities(tx: &mut Tx<'_>, profile_id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM identities WHERE profile_id = $1")
        .bind(profile_id)
        .execute(&mut *tx.inner)
        .await?;
    Ok(())
}

/// Blanks the names, birthday and loyalty account of profile `profile_id`.
pub async fn clear_names(tx: &mut Tx<'_>, profile_id: i64, now: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE profiles SET given_name = NULL, family_name = NULL, birthday_month = NULL,
                birthday_day = NULL, birthday_year = NULL, loyalty_account = NULL,
                loyalty_balance = NULL, loyalty_lifetime = NULL, updated_at = $1
         WHERE id = $2",
    )
    .bind(now)
    .bind(profile_id)
    .execute(&mut *tx.inner)
    .await?;
    Ok(())
}

/// Blanks the names of the profiles `absorbed` (kept rows of profiles merged away) and deletes the
/// choices left on them, in the ledger and in force.
pub async fn clear_absorbed(tx: &mut Tx<'_>, absorbed: &[i64]) -> Result<(), StoreError> {
    for statement in [
        "UPDATE profiles SET given_name = NULL, family_name = NULL, birthday_month = NULL,
                birthday_day = NULL, birthday_year = NULL, loyalty_account = NULL,
                loyalty_balance = NULL, loyalty_lifetime = NULL
         WHERE id IN {list}",
        "DELETE FROM consent_ledger WHERE profile_id IN {list}",
        "DELETE FROM consents WHERE profile_id IN {list}",
    ] {
        rows::query_ids(&mut tx.inner, statement, &[], absorbed).await?;
    }
    Ok(())
}

/// Deletes what the profiles `people` were waiting for in journeys and the quiet hours they set.
/// Their journey entries and experiment assignments stay: they hold profile ids and outcomes
/// only, and the experiments' counts must not change after the fact.
pub async fn delete_journey_waits_and_wishes(
    tx: &mut Tx<'_>,
    people: &[i64],
) -> Result<(), StoreError> {
    for statement in [
        "DELETE FROM journey_due WHERE profile_id IN {list}",
        "DELETE FROM person_quiet_hours WHERE profile_id IN {list}",
    ] {
        rows::query_ids(&mut tx.inner, statement, &[], people).await?;
    }
    Ok(())
}

/// Cancels every undelivered outbox item of the profile (waiting, in flight, dead or rejected),
/// blanks the vendor messages kept for the rest and deletes the shadow requests that concerned it.
/// Returns how many items were cancelled.
pub async fn cancel_outbox(tx: &mut Tx<'_>, profile_id: i64) -> Result<u64, StoreError> {
    sqlx::query(
        "UPDATE deliveries SET detail = NULL
         WHERE outbox_id IN (SELECT id FROM outbox WHERE profile_id = $1)",
    )
    .bind(profile_id)
    .execute(&mut *tx.inner)
    .await?;
    sqlx::query("UPDATE outbox SET last_error = NULL WHERE profile_id = $1")
        .bind(profile_id)
        .execute(&mut *tx.inner)
        .await?;
    for statement in [
        "DELETE FROM shadow_requests WHERE id IN
             (SELECT request_id FROM shadow_request_people WHERE profile_id = $1)",
        "DELETE FROM shadow_request_people
         WHERE profile_id = $1 OR request_id NOT IN (SELECT id FROM shadow_requests)",
    ] {
        sqlx::query(statement)
            .bind(profile_id)
            .execute(&mut *tx.inner)
            .await?;
    }
    Ok(
        sqlx::query("DELETE FROM outbox WHERE profile_id = $1 AND status <> 'delivered'")
            .bind(profile_id)
            .execute(&mut *tx.inner)
            .await?
            .rows_affected(),
    )
}

#[cfg(test)]
mod tests {
    use super::like_escape;

    #[test]
    fn like_wildcards_are_taken_literally() {
        assert_eq!(like_escape("ana_b%c\\d@x.com"), "ana\\_b\\%c\\\\d@x.com");
        assert_eq!(like_escape("+442079460012"), "+442079460012");
    }
}
