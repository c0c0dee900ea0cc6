//! Profiles: linking identities to people, keeping their latest consents, and reading the snapshot a
//! sink receives.

use super::{Store, StoreError};
use crate::model::{Channel, ConsentState, Customer, Identity, IdentityKind, Money, Purpose};
use sqlx::{Any, Row, Transaction};

/// Finds the profile one of `identities` already belongs to, or creates one; records the identities
/// not yet linked, the names given, and consents newer than what is stored. Returns the profile id.
pub(super) async fn resolve(
    tx: &mut Transaction<'_, Any>,
    identities: &[Identity],
    customer: &Customer,
    now: i64,
) -> Result<i64, StoreError> {
    let mut existing: Option<i64> = None;
    for identity in identities {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT profile_id FROM identities WHERE kind = $1 AND value = $2")
                .bind(identity.kind.as_str())
                .bind(&identity.value)
                .fetch_optional(&mut **tx)
                .await?;
        existing = match (existing, found) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let profile_id = match existing {
        Some(id) => {
            sqlx::query(
                "UPDATE profiles SET given_name = COALESCE($1, given_name),
                                     family_name = COALESCE($2, family_name), updated_at = $3
                 WHERE id = $4",
            )
            .bind(customer.given_name.as_deref())
            .bind(customer.family_name.as_deref())
            .bind(now)
            .bind(id)
            .execute(&mut **tx)
            .await?;
            id
        }
        None => {
            sqlx::query_scalar(
                "INSERT INTO profiles (key, given_name, family_name, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $4) RETURNING id",
            )
            .bind(new_profile_key())
            .bind(customer.given_name.as_deref())
            .bind(customer.family_name.as_deref())
            .bind(now)
            .fetch_one(&mut **tx)
            .await?
        }
    };
    for identity in identities {
        sqlx::query(
            "INSERT INTO identities (kind, value, profile_id, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (kind, value) DO NOTHING",
        )
        .bind(identity.kind.as_str())
        .bind(&identity.value)
        .bind(profile_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    for consent in &customer.consents {
        sqlx::query(
            "INSERT INTO consents (profile_id, channel, purpose, state, at, source)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (profile_id, channel, purpose) DO UPDATE
             SET state = excluded.state, at = excluded.at, source = excluded.source
             WHERE excluded.at >= consents.at",
        )
        .bind(profile_id)
        .bind(enum_str(&consent.channel))
        .bind(enum_str(&consent.purpose))
        .bind(enum_str(&consent.state))
        .bind(consent.at.timestamp_millis())
        .bind(&consent.source)
        .execute(&mut **tx)
        .await?;
    }
    Ok(profile_id)
}

fn new_profile_key() -> String {
    format!("p-{}", hex::encode(rand::random::<[u8; 10]>()))
}

/// The snake_case name serde gives a unit enum variant.
fn enum_str<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .expect("unit enum serialises to a string")
}

fn parse_enum<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|_| StoreError::Corrupt(format!("{column} has unknown value {text:?}")))
}

/// A stored consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConsent {
    pub channel: Channel,
    pub purpose: Purpose,
    pub state: ConsentState,
    pub at: i64,
    pub source: String,
}

/// What the host knows of a person, as a sink may receive it.
#[derive(Debug, Clone)]
pub struct ProfileSnapshot {
    pub id: i64,
    pub key: String,
    pub identities: Vec<Identity>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub consents: Vec<StoredConsent>,
    pub orders_count: i64,
    pub refunds_count: i64,
    /// Lifetime spend in the currency the person spent most in (orders minus refunds).
    pub net_spent: Option<Money>,
    pub first_order_at: Option<i64>,
    pub last_order_at: Option<i64>,
}

impl Store {
    /// The current snapshot of a profile.
    pub async fn profile_snapshot(&self, profile_id: i64) -> Result<ProfileSnapshot, StoreError> {
        let row = sqlx::query("SELECT key, given_name, family_name FROM profiles WHERE id = $1")
            .bind(profile_id)
            .fetch_one(&self.pool)
            .await?;
        let identities = sqlx::query("SELECT kind, value FROM identities WHERE profile_id = $1 ORDER BY created_at, kind, value")
            .bind(profile_id)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                let kind = IdentityKind::parse(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("identity kind {kind:?}")))?;
                Ok(Identity {
                    kind,
                    value: r.try_get("value")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let consents = sqlx::query("SELECT channel, purpose, state, at, source FROM consents WHERE profile_id = $1 ORDER BY channel, purpose")
            .bind(profile_id)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| {
                Ok(StoredConsent {
                    channel: parse_enum("consents.channel", &r.try_get::<String, _>("channel")?)?,
                    purpose: parse_enum("consents.purpose", &r.try_get::<String, _>("purpose")?)?,
                    state: parse_enum("consents.state", &r.try_get::<String, _>("state")?)?,
                    at: r.try_get("at")?,
                    source: r.try_get("source")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Each vendor object counts once, as its latest version says: an order seen again after an
        // update, or a refund seen by both webhook and poll, is not counted twice.
        let totals = sqlx::query(
            "SELECT e.kind, e.currency, COUNT(*) AS n,
                    CAST(COALESCE(SUM(e.amount_minor), 0) AS BIGINT) AS total,
                    MIN(e.occurred_at) AS first_at, MAX(e.occurred_at) AS last_at
             FROM events e
             WHERE e.profile_id = $1 AND e.kind IN ('order', 'refund')
               AND e.id = (SELECT MAX(l.id) FROM events l
                           WHERE l.source_id = e.source_id AND l.kind = e.kind
                             AND l.object_id = e.object_id)
             GROUP BY e.kind, e.currency",
        )
        .bind(profile_id)
        .fetch_all(&self.pool)
        .await?;
        let mut snapshot = ProfileSnapshot {
            id: profile_id,
            key: row.try_get("key")?,
            identities,
            given_name: row.try_get("given_name")?,
            family_name: row.try_get("family_name")?,
            consents,
            orders_count: 0,
            refunds_count: 0,
            net_spent: None,
            first_order_at: None,
            last_order_at: None,
        };
        let mut spend: Vec<(String, i64)> = Vec::new();
        for r in totals {
            let kind: String = r.try_get("kind")?;
            let currency: Option<String> = r.try_get("currency")?;
            let n: i64 = r.try_get("n")?;
            let total: i64 = r.try_get("total")?;
            let sign = if kind == "order" { 1 } else { -1 };
            if kind == "order" {
                snapshot.orders_count += n;
                let first: i64 = r.try_get("first_at")?;
                let last: i64 = r.try_get("last_at")?;
                snapshot.first_order_at =
                    Some(snapshot.first_order_at.map_or(first, |f| f.min(first)));
                snapshot.last_order_at = Some(snapshot.last_order_at.map_or(last, |l| l.max(last)));
            } else {
                snapshot.refunds_count += n;
            }
            if let Some(currency) = currency {
                match spend.iter_mut().find(|(c, _)| *c == currency) {
                    Some((_, sum)) => *sum += sign * total,
                    None => spend.push((currency, sign * total)),
                }
            }
        }
        snapshot.net_spent =
            spend
                .into_iter()
                .max_by_key(|(_, sum)| *sum)
                .and_then(|(currency, minor)| {
                    Some(Money {
                        minor,
                        currency: currency.try_into().ok()?,
                    })
                });
        Ok(snapshot)
    }
}
