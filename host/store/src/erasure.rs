//! Erasure (the right to be forgotten): the local scrub of one person, done in one transaction that
//! also records the erasure and queues one item per sink, and the per-sink items the erasure worker
//! claims until every sink has confirmed.
//!
//! Where PII lives meanwhile: the person's identifiers are copied into `erasure_identities`, the
//! only place they are left after the scrub, and deleted in the transaction that records the last
//! sink's confirmation. `erasures` and `erasure_sinks` never hold PII: the person is named there by
//! their profile's random key, and sink errors are kept with the identifiers blanked out.

use super::queue::{self, Finish, Queue, Selection};
use super::rows::{self, Value};
use super::{now_ms, Store, StoreError};
use rapport_core::model::{Customer, Identity, IdentityKind, Payload};
use sqlx::{Any, Row, Transaction};
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
}

/// A stored profile found for a [`PersonRef`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FoundProfile {
    pub id: i64,
    pub key: String,
    /// Identifiers still linked to it (none once it has been forgotten).
    pub identities: usize,
}

/// What the local scrub removed, in numbers (never the values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScrubReport {
    pub erasure_id: i64,
    pub profile_key: String,
    pub identities: usize,
    pub consents: u64,
    pub events: usize,
    pub rejected_inputs: u64,
    pub webhooks: u64,
    pub outbox_items: u64,
}

/// Whether a sink has confirmed its part of an erasure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureStatus {
    Pending,
    Confirmed,
}

impl ErasureStatus {
    fn as_str(self) -> &'static str {
        match self {
            ErasureStatus::Pending => "pending",
            ErasureStatus::Confirmed => "confirmed",
        }
    }

    /// A stored status; a part leased to a worker is still pending.
    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            queue::PENDING | queue::INFLIGHT => Ok(ErasureStatus::Pending),
            "confirmed" => Ok(ErasureStatus::Confirmed),
            other => Err(StoreError::Corrupt(format!(
                "erasure_sinks.status {other:?}"
            ))),
        }
    }
}

/// The sinks' parts of erasures as a queue: a sink's parts, named by erasure; confirmed when done,
/// when the error of the last failed attempt goes.
const ERASURES: Queue = Queue {
    table: "erasure_sinks",
    partition: "sink_id",
    key: "erasure_id",
    alias: "e",
    done: "confirmed",
    done_at: Some("confirmed_at"),
    keeps_last_error: false,
};

/// One sink's part of an erasure.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SinkErasure {
    pub sink: String,
    pub status: ErasureStatus,
    pub attempts: i64,
    /// When it is next tried: when it is due, or when the lease of an attempt in progress ends.
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub confirmed_at: Option<i64>,
}

/// One erasure of the log, with each sink's part.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ErasureRecord {
    pub id: i64,
    pub profile_key: String,
    pub requested_at: i64,
    pub completed_at: Option<i64>,
    pub sinks: Vec<SinkErasure>,
}

/// A claimed sink item: whom the sink must forget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureItem {
    pub erasure_id: i64,
    pub sink: String,
    pub attempts: i64,
    pub identities: Vec<Identity>,
}

/// Raw text shorter than this is not searched for in kept input: it would match unrelated rows.
const MIN_MATCH_LEN: usize = 5;

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

    /// Removes one person's PII from every table, in one transaction: their identities and consents,
    /// their names, the customer blocks of their events (amounts and times stay, so figures stay
    /// right), kept input that contains one of their identifiers (`typed` too: the text the operator
    /// gave), and their undelivered outbox items. Records the erasure and queues one item per sink
    /// in `sinks`; a sink with one of the person's items in flight is first asked once that lease
    /// ends, so an update still on its way cannot land after the sink forgot them.
    pub async fn erase_person(
        &self,
        profile_id: i64,
        typed: &str,
        sinks: &[String],
    ) -> Result<ScrubReport, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let key: String = sqlx::query_scalar("SELECT key FROM profiles WHERE id = $1")
            .bind(profile_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("profile {profile_id} does not exist")))?;
        let identities = identities_of(&mut tx, profile_id).await?;
        let mut raw: BTreeSet<String> = identities
            .iter()
            .filter(|i| i.kind != IdentityKind::VendorCustomer)
            .map(|i| i.value.clone())
            .collect();
        raw.insert(typed.to_string());
        let events = scrub_events(&mut tx, profile_id, &mut raw).await?;
        let mut report = ScrubReport {
            profile_key: key.clone(),
            identities: identities.len(),
            events,
            ..ScrubReport::default()
        };
        for (table, columns) in [
            ("rejected_inputs", ["locator", "reason"]),
            ("webhook_inbox", ["headers", "body"]),
        ] {
            let removed = delete_mentions(&mut tx, table, columns, &raw).await?;
            match table {
                "rejected_inputs" => report.rejected_inputs = removed,
                _ => report.webhooks = removed,
            }
        }
        report.consents = sqlx::query("DELETE FROM consents WHERE profile_id = $1")
            .bind(profile_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // The choices a forgotten person made go with them: nothing is left to apply them to.
        sqlx::query("DELETE FROM consent_ledger WHERE profile_id = $1")
            .bind(profile_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM identities WHERE profile_id = $1")
            .bind(profile_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE profiles SET given_name = NULL, family_name = NULL, updated_at = $1
             WHERE id = $2",
        )
        .bind(now)
        .bind(profile_id)
        .execute(&mut *tx)
        .await?;
        // Profiles merged into this one keep their rows (for an unmerge, which the erasure now
        // refuses): their names and the choices left on them (heard through both) go too.
        let absorbed = super::merges::absorbed_by(&mut tx, profile_id).await?;
        for statement in [
            "UPDATE profiles SET given_name = NULL, family_name = NULL WHERE id IN {list}",
            "DELETE FROM consent_ledger WHERE profile_id IN {list}",
            "DELETE FROM consents WHERE profile_id IN {list}",
        ] {
            rows::query_ids(&mut tx, statement, &[], &absorbed).await?;
        }
        let in_flight = in_flight_leases(&mut tx, profile_id).await?;
        report.outbox_items = cancel_outbox(&mut tx, profile_id).await?;
        report.erasure_id = sqlx::query_scalar(
            "INSERT INTO erasures (profile_key, requested_at, completed_at) VALUES ($1, $2, $3)
             RETURNING id",
        )
        .bind(&key)
        .bind(now)
        .bind(sinks.is_empty().then_some(now))
        .fetch_one(&mut *tx)
        .await?;
        if !sinks.is_empty() {
            let kept: Vec<Vec<Value>> = identities
                .iter()
                .map(|i| {
                    vec![
                        report.erasure_id.into(),
                        i.kind.as_str().into(),
                        (&i.value).into(),
                    ]
                })
                .collect();
            rows::insert_values(
                &mut tx,
                "INSERT INTO erasure_identities (erasure_id, kind, value)",
                "",
                &kept,
            )
            .await?;
            let items: Vec<Vec<Value>> = sinks
                .iter()
                .map(|sink| {
                    let first_at = in_flight.get(sink).map_or(now, |lease| now.max(*lease));
                    vec![
                        report.erasure_id.into(),
                        sink.into(),
                        ErasureStatus::Pending.as_str().into(),
                        first_at.into(),
                    ]
                })
                .collect();
            rows::insert_values(
                &mut tx,
                "INSERT INTO erasure_sinks (erasure_id, sink_id, status, next_attempt_at)",
                "",
                &items,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(report)
    }

    /// Claims `sink`'s erasure items that are due (only erasure `only`'s, if given), leasing each
    /// until `now + lease_ms`; an attempt that dies with its process is retried after the lease.
    pub async fn claim_erasures(
        &self,
        sink: &str,
        only: Option<i64>,
        lease_ms: i64,
    ) -> Result<Vec<ErasureItem>, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        queue::release_expired_leases(&mut tx, &ERASURES, sink, now).await?;
        let selection = Selection {
            select: "SELECT e.erasure_id FROM erasure_sinks e
                     WHERE e.sink_id = $1 AND e.status = 'pending' AND e.next_attempt_at <= $2
                       AND ($4 = 0 OR e.erasure_id = $4)
                     ORDER BY e.erasure_id",
            params: &[only.unwrap_or(0).into()],
            returning: "erasure_id, attempts",
        };
        let mut leased = queue::lease(&mut tx, &ERASURES, sink, selection, now, now + lease_ms)
            .await?
            .iter()
            .map(|row| Ok((row.try_get("erasure_id")?, row.try_get("attempts")?)))
            .collect::<Result<Vec<(i64, i64)>, StoreError>>()?;
        leased.sort_unstable();
        let mut claimed = Vec::with_capacity(leased.len());
        for (erasure_id, attempts) in leased {
            let identities = sqlx::query(
                "SELECT kind, value FROM erasure_identities WHERE erasure_id = $1
                 ORDER BY kind, value",
            )
            .bind(erasure_id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(rows::identity)
            .collect::<Result<_, _>>()?;
            claimed.push(ErasureItem {
                erasure_id,
                sink: sink.to_string(),
                attempts,
                identities,
            });
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records that the sink forgot the person. When it was the last sink, the erasure is complete
    /// and the identifiers kept for the sinks are deleted; returns whether that happened.
    pub async fn confirm_erasure(&self, erasure_id: i64, sink: &str) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        queue::finish(&mut tx, &ERASURES, sink, &[erasure_id], Finish::Done, now).await?;
        let unconfirmed: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM erasure_sinks
             WHERE erasure_id = $1 AND status IN ('pending', 'inflight')",
        )
        .bind(erasure_id)
        .fetch_one(&mut *tx)
        .await?;
        if unconfirmed == 0 {
            sqlx::query("DELETE FROM erasure_identities WHERE erasure_id = $1")
                .bind(erasure_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE erasures SET completed_at = $1 WHERE id = $2 AND completed_at IS NULL",
            )
            .bind(now)
            .bind(erasure_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(unconfirmed == 0)
    }

    /// Puts the sink's item back in line for `at`, with why it failed (already free of PII).
    pub async fn retry_erasure(
        &self,
        erasure_id: i64,
        sink: &str,
        at: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        queue::retry(&mut tx, &ERASURES, sink, erasure_id, at, error, true).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Erasure items of `sinks` still pending (an item being tried is pending until it is
    /// confirmed), and when the earliest of them is due (an item being tried, when its lease ends).
    pub async fn erasure_backlog(
        &self,
        sinks: &[String],
    ) -> Result<(i64, Option<i64>), StoreError> {
        let list: Vec<Value> = sinks.iter().map(Value::from).collect();
        let mut conn = self.pool.acquire().await?;
        let mut pending = 0;
        let mut next_at: Option<i64> = None;
        let sql = format!(
            "SELECT COUNT(*) AS n, MIN({}) AS next_at FROM erasure_sinks
             WHERE status IN ('pending', 'inflight') AND sink_id IN {{list}}",
            queue::NEXT_DUE
        );
        for row in rows::query_in(&mut conn, &sql, &[], &list).await? {
            pending += row.try_get::<i64, _>("n")?;
            if let Some(at) = row.try_get::<Option<i64>, _>("next_at")? {
                next_at = Some(next_at.map_or(at, |n| n.min(at)));
            }
        }
        Ok((pending, next_at))
    }

    /// The erasure log, newest first, or one erasure.
    pub async fn erasures(
        &self,
        only: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ErasureRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, profile_key, requested_at, completed_at FROM erasures
             WHERE ($1 = 0 OR id = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(only.unwrap_or(0))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut log = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get("id")?;
            let sinks = sqlx::query(&format!(
                "SELECT sink_id, status, attempts, {} AS next_at, last_error, confirmed_at
                 FROM erasure_sinks WHERE erasure_id = $1 ORDER BY sink_id",
                queue::NEXT_DUE
            ))
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|s| {
                Ok(SinkErasure {
                    sink: s.try_get("sink_id")?,
                    status: ErasureStatus::parse(&s.try_get::<String, _>("status")?)?,
                    attempts: s.try_get("attempts")?,
                    next_attempt_at: s.try_get("next_at")?,
                    last_error: s.try_get("last_error")?,
                    confirmed_at: s.try_get("confirmed_at")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
            log.push(ErasureRecord {
                id,
                profile_key: row.try_get("profile_key")?,
                requested_at: row.try_get("requested_at")?,
                completed_at: row.try_get("completed_at")?,
                sinks,
            });
        }
        Ok(log)
    }

    /// Ids of the erasures of the profile with this key, oldest first.
    pub async fn erasures_of(&self, profile_key: &str) -> Result<Vec<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM erasures WHERE profile_key = $1 ORDER BY id")
                .bind(profile_key)
                .fetch_all(&self.pool)
                .await?,
        )
    }
}

async fn identities_of(
    tx: &mut Transaction<'_, Any>,
    profile_id: i64,
) -> Result<Vec<Identity>, StoreError> {
    sqlx::query("SELECT kind, value FROM identities WHERE profile_id = $1 ORDER BY kind, value")
        .bind(profile_id)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(rows::identity)
        .collect()
}

/// Drops the customer block from every event of the profile (a customer event keeps only when the
/// record was created) and the identifier a customer event's object id was made of; adds the
/// identifiers as the POS wrote them to `raw`. Returns how many events changed.
async fn scrub_events(
    tx: &mut Transaction<'_, Any>,
    profile_id: i64,
    raw: &mut BTreeSet<String>,
) -> Result<usize, StoreError> {
    let events = sqlx::query("SELECT id, payload FROM events WHERE profile_id = $1 ORDER BY id")
        .bind(profile_id)
        .fetch_all(&mut **tx)
        .await?;
    let mut changed = 0;
    for row in events {
        let id: i64 = row.try_get("id")?;
        let text: String = row.try_get("payload")?;
        let mut payload: Payload = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("event {id} payload: {e}")))?;
        if let Some(customer) = payload.customer() {
            raw.extend(
                customer
                    .identities
                    .iter()
                    .filter(|i| i.kind != IdentityKind::VendorCustomer)
                    .map(|i| i.value.trim().to_string()),
            );
        }
        match &mut payload {
            Payload::Order(order) => order.customer = None,
            Payload::Refund(refund) => refund.customer = None,
            Payload::Customer(customer) => {
                *customer = Customer {
                    identities: Vec::new(),
                    given_name: None,
                    family_name: None,
                    consents: Vec::new(),
                    created_at: customer.created_at,
                }
            }
        }
        let scrubbed = serde_json::to_string(&payload)
            .map_err(|e| StoreError::Corrupt(format!("event {id} payload: {e}")))?;
        if scrubbed == text && !matches!(payload, Payload::Customer(_)) {
            continue;
        }
        sqlx::query(
            "UPDATE events SET payload = $1,
                               object_id = CASE WHEN kind = 'customer' THEN $2 ELSE object_id END
             WHERE id = $3",
        )
        .bind(scrubbed)
        .bind(format!("erased:{id}"))
        .bind(id)
        .execute(&mut **tx)
        .await?;
        changed += 1;
    }
    Ok(changed)
}

/// Deletes the rows of `table` (kept raw input) whose `columns` contain one of `raw`, compared
/// case-insensitively. Returns how many went.
async fn delete_mentions(
    tx: &mut Transaction<'_, Any>,
    table: &str,
    columns: [&str; 2],
    raw: &BTreeSet<String>,
) -> Result<u64, StoreError> {
    let [a, b] = columns;
    let mut removed = 0;
    for text in raw.iter().map(|t| t.trim()) {
        if text.chars().count() < MIN_MATCH_LEN {
            continue;
        }
        let pattern = format!("%{}%", like_escape(&text.to_lowercase()));
        removed += sqlx::query(&format!(
            "DELETE FROM {table}
             WHERE LOWER({a}) LIKE $1 ESCAPE '\\' OR LOWER({b}) LIKE $1 ESCAPE '\\'"
        ))
        .bind(pattern)
        .execute(&mut **tx)
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

/// For each sink with one of the profile's items in flight, when the last such lease ends.
async fn in_flight_leases(
    tx: &mut Transaction<'_, Any>,
    profile_id: i64,
) -> Result<HashMap<String, i64>, StoreError> {
    sqlx::query(
        "SELECT sink_id, MAX(lease_until) AS lease_end FROM outbox
         WHERE profile_id = $1 AND status = 'inflight' GROUP BY sink_id",
    )
    .bind(profile_id)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(|r| Ok((r.try_get("sink_id")?, r.try_get("lease_end")?)))
    .collect()
}

/// Cancels every undelivered outbox item of the profile (waiting, in flight, dead or rejected), so
/// nothing of theirs goes out after the forget, and blanks the vendor messages kept for the rest:
/// a vendor's error may quote the identifier it refused. Returns how many items were cancelled.
async fn cancel_outbox(tx: &mut Transaction<'_, Any>, profile_id: i64) -> Result<u64, StoreError> {
    sqlx::query(
        "UPDATE deliveries SET detail = NULL
         WHERE outbox_id IN (SELECT id FROM outbox WHERE profile_id = $1)",
    )
    .bind(profile_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE outbox SET last_error = NULL WHERE profile_id = $1")
        .bind(profile_id)
        .execute(&mut **tx)
        .await?;
    Ok(
        sqlx::query("DELETE FROM outbox WHERE profile_id = $1 AND status <> 'delivered'")
            .bind(profile_id)
            .execute(&mut **tx)
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
