//! The consent ledger in the store: every choice a person made is appended once, with its legal
//! basis and evidence, and `consents` keeps the choice in force per person, channel and purpose by
//! the ledger's rules (`consent::ledger`).

use super::rows::{self, Value};
use super::{Store, StoreError, Tx};
use rapport_core::consent::ledger::{Choice, LegalBasis};
use rapport_core::model::{Channel, Consent, ConsentState, Identity, Purpose};
use sqlx::{Any, Row, Transaction};
use std::collections::{HashMap, HashSet};

/// A choice a batch (or the person, on the preference page) reports for a person, with the record
/// that proves it.
pub struct NewChoice<'a> {
    pub profile_id: i64,
    pub consent: &'a Consent,
    /// `<source>:<source event id>`: where the choice was read, without personal data.
    pub evidence: String,
}

impl NewChoice<'_> {
    fn choice(&self) -> Choice {
        Choice {
            at: self.consent.at.timestamp_millis(),
            state: self.consent.state,
        }
    }
}

/// Appends the batch's choices to the ledger (a choice heard before is not repeated) and updates the
/// choices in force by the ledger's rule; returns the people for whom one now says something new
/// (a first choice, or a change of mind), whom every sink must hear about first. The batch holds
/// the write lock on SQLite, so what it reads stays true until it commits; on PostgreSQL another
/// host may change a choice meanwhile, and the rule in SQL still keeps the right one.
pub(super) async fn record(
    tx: &mut Transaction<'_, Any>,
    choices: &[NewChoice<'_>],
    now: i64,
) -> Result<HashSet<i64>, StoreError> {
    let ledger: Vec<Vec<Value>> = choices
        .iter()
        .map(|c| {
            vec![
                c.profile_id.into(),
                c.consent.channel.as_str().into(),
                c.consent.purpose.as_str().into(),
                c.consent.state.as_str().into(),
                c.consent.at.timestamp_millis().into(),
                (&c.consent.source).into(),
                LegalBasis::of(c.consent.purpose, c.consent.state)
                    .as_str()
                    .into(),
                (&c.evidence).into(),
                now.into(),
            ]
        })
        .collect();
    rows::insert_values(
        tx,
        "INSERT INTO consent_ledger (profile_id, channel, purpose, state, at, source, legal_basis,
                                     evidence, recorded_at)",
        "ON CONFLICT (profile_id, channel, purpose, at, state, source) DO NOTHING",
        &ledger,
    )
    .await?;
    let mut standing: HashMap<(i64, Channel, Purpose), &NewChoice> = HashMap::new();
    for c in choices {
        let key = (c.profile_id, c.consent.channel, c.consent.purpose);
        match standing.get(&key) {
            Some(current) if !c.choice().supersedes(&current.choice()) => {}
            _ => {
                standing.insert(key, c);
            }
        }
    }
    let people: Vec<i64> = standing
        .keys()
        .map(|(profile, _, _)| *profile)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut stored: HashMap<(i64, String, String), Choice> = HashMap::new();
    for row in rows::query_ids(
        tx,
        "SELECT profile_id, channel, purpose, state, at FROM consents WHERE profile_id IN {list}",
        &[],
        &people,
    )
    .await?
    {
        let state: String = row.try_get("state")?;
        stored.insert(
            (
                row.try_get("profile_id")?,
                row.try_get("channel")?,
                row.try_get("purpose")?,
            ),
            Choice {
                at: row.try_get("at")?,
                state: rows::parse_enum("consents.state", &state)?,
            },
        );
    }
    let mut changed = HashSet::new();
    let mut in_force: Vec<Vec<Value>> = Vec::new();
    for c in standing.values() {
        let key = (
            c.profile_id,
            c.consent.channel.as_str().to_string(),
            c.consent.purpose.as_str().to_string(),
        );
        let current = stored.get(&key);
        if current.is_some_and(|current| !c.choice().supersedes(current)) {
            continue;
        }
        // A later choice that says the same thing is kept, but sinks already know it.
        if current.is_none_or(|current| current.state != c.consent.state) {
            changed.insert(c.profile_id);
        }
        in_force.push(vec![
            c.profile_id.into(),
            c.consent.channel.as_str().into(),
            c.consent.purpose.as_str().into(),
            c.consent.state.as_str().into(),
            c.consent.at.timestamp_millis().into(),
            (&c.consent.source).into(),
        ]);
    }
    // The rule again in SQL, for hosts that write the same person at once on PostgreSQL.
    rows::insert_values(
        tx,
        "INSERT INTO consents (profile_id, channel, purpose, state, at, source)",
        "ON CONFLICT (profile_id, channel, purpose) DO UPDATE
         SET state = excluded.state, at = excluded.at, source = excluded.source
         WHERE excluded.at > consents.at
            OR (excluded.at = consents.at AND excluded.state = 'revoked'
                AND consents.state <> 'revoked')",
        &in_force,
    )
    .await?;
    Ok(changed)
}

impl Store {
    /// Whether the person one of `identities` belongs to has ever refused `channel` for `purpose`:
    /// `None` if none of the identities belongs to a profile.
    pub async fn has_refused(
        &self,
        identities: &[Identity],
        channel: Channel,
        purpose: Purpose,
    ) -> Result<Option<bool>, StoreError> {
        for identity in identities {
            let profile: Option<i64> = sqlx::query_scalar(
                "SELECT profile_id FROM identities WHERE kind = $1 AND value = $2",
            )
            .bind(identity.kind.as_str())
            .bind(identity.value.as_str())
            .fetch_optional(&self.pool)
            .await?;
            let Some(profile) = profile else { continue };
            let refusals: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM consent_ledger
                 WHERE profile_id = $1 AND channel = $2 AND purpose = $3 AND state = $4",
            )
            .bind(profile)
            .bind(channel.as_str())
            .bind(purpose.as_str())
            .bind(ConsentState::Revoked.as_str())
            .fetch_one(&self.pool)
            .await?;
            return Ok(Some(refusals > 0));
        }
        Ok(None)
    }
}

/// A choice in force with the ledger entry that records it: its legal basis and the record that
/// proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub consent: rapport_core::consent::StoredConsent,
    pub legal_basis: Option<String>,
    /// `<source>:<source event id>`, `operator`, …: where the choice was read.
    pub evidence: Option<String>,
}

impl Store {
    /// The choices in force of `profile_id`, each with its ledger entry.
    pub async fn consent_records(&self, profile_id: i64) -> Result<Vec<ConsentRecord>, StoreError> {
        sqlx::query(
            "SELECT c.channel, c.purpose, c.state, c.at, c.source,
                    MAX(l.legal_basis) AS legal_basis, MAX(l.evidence) AS evidence
             FROM consents c LEFT JOIN consent_ledger l
               ON l.profile_id = c.profile_id AND l.channel = c.channel
              AND l.purpose = c.purpose AND l.state = c.state AND l.at = c.at
              AND l.source = c.source
             WHERE c.profile_id = $1
             GROUP BY c.channel, c.purpose, c.state, c.at, c.source
             ORDER BY c.channel, c.purpose",
        )
        .bind(profile_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            let (channel, purpose, state): (String, String, String) = (
                row.try_get("channel")?,
                row.try_get("purpose")?,
                row.try_get("state")?,
            );
            Ok(ConsentRecord {
                consent: rapport_core::consent::StoredConsent {
                    channel: rows::parse_enum("consents.channel", &channel)?,
                    purpose: rows::parse_enum("consents.purpose", &purpose)?,
                    state: rows::parse_enum("consents.state", &state)?,
                    at: row.try_get("at")?,
                    source: row.try_get("source")?,
                },
                legal_basis: row.try_get("legal_basis")?,
                evidence: row.try_get("evidence")?,
            })
        })
        .collect()
    }
}

/// The channels on which each of `people` has a choice in force of `state` for `purpose`, read in a
/// service's transaction (so it sees the choices that transaction just recorded).
pub async fn in_force_with_state(
    tx: &mut Tx<'_>,
    people: &HashSet<i64>,
    purpose: Purpose,
    state: ConsentState,
) -> Result<Vec<(i64, Channel)>, StoreError> {
    let mut people: Vec<i64> = people.iter().copied().collect();
    people.sort_unstable();
    rows::query_ids(
        &mut tx.inner,
        "SELECT profile_id, channel FROM consents
         WHERE purpose = $1 AND state = $2 AND profile_id IN {list}",
        &[purpose.as_str().into(), state.as_str().into()],
        &people,
    )
    .await?
    .iter()
    .map(|r| {
        let channel: String = r.try_get("channel")?;
        Ok((
            r.try_get("profile_id")?,
            rows::parse_enum("consents.channel", &channel)?,
        ))
    })
    .collect()
}

/// Appends `choices` to the ledger and updates the choices in force in a service's transaction
/// (`record`); returns the people for whom one now says something new.
pub async fn record_choices(
    tx: &mut Tx<'_>,
    choices: &[NewChoice<'_>],
    now: i64,
) -> Result<HashSet<i64>, StoreError> {
    record(&mut tx.inner, choices, now).await
}

/// Works the choices in force of `profile_id` out again from its ledger (`recompute`), in a
/// service's transaction; returns whether the state of any choice changed.
pub async fn recompute_in_force(tx: &mut Tx<'_>, profile_id: i64) -> Result<bool, StoreError> {
    recompute(&mut tx.inner, profile_id).await
}

/// Sets the choices in force of `profile_id` from its ledger by the ledger's rule, after a merge or
/// an unmerge moved choices between profiles; returns whether the state of any choice changed.
pub(super) async fn recompute(
    tx: &mut Transaction<'_, Any>,
    profile_id: i64,
) -> Result<bool, StoreError> {
    let mut before: HashMap<(String, String), String> = HashMap::new();
    for row in sqlx::query("SELECT channel, purpose, state FROM consents WHERE profile_id = $1")
        .bind(profile_id)
        .fetch_all(&mut **tx)
        .await?
    {
        before.insert(
            (row.try_get("channel")?, row.try_get("purpose")?),
            row.try_get("state")?,
        );
    }
    let mut standing: HashMap<(String, String), (Choice, String, String)> = HashMap::new();
    for row in sqlx::query(
        "SELECT channel, purpose, state, at, source FROM consent_ledger WHERE profile_id = $1
         ORDER BY id",
    )
    .bind(profile_id)
    .fetch_all(&mut **tx)
    .await?
    {
        let state: String = row.try_get("state")?;
        let choice = Choice {
            at: row.try_get("at")?,
            state: rows::parse_enum("consent_ledger.state", &state)?,
        };
        let key = (row.try_get("channel")?, row.try_get("purpose")?);
        match standing.get(&key) {
            Some((current, _, _)) if !choice.supersedes(current) => {}
            _ => {
                standing.insert(key, (choice, state, row.try_get("source")?));
            }
        }
    }
    sqlx::query("DELETE FROM consents WHERE profile_id = $1")
        .bind(profile_id)
        .execute(&mut **tx)
        .await?;
    let in_force: Vec<Vec<Value>> = standing
        .iter()
        .map(|((channel, purpose), (choice, state, source))| {
            vec![
                profile_id.into(),
                channel.into(),
                purpose.into(),
                state.into(),
                choice.at.into(),
                source.into(),
            ]
        })
        .collect();
    rows::insert_values(
        tx,
        "INSERT INTO consents (profile_id, channel, purpose, state, at, source)",
        "",
        &in_force,
    )
    .await?;
    let after: HashMap<(String, String), String> = standing
        .into_iter()
        .map(|(key, (_, state, _))| (key, state))
        .collect();
    Ok(before != after)
}
