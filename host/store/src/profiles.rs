//! Profiles: linking identities to people, recording the consents they give, and reading the
//! snapshot a sink receives.

use super::consents::{self, NewChoice};
use super::events::SALES_AND_REFUNDS;
use super::merges::{self, NewMerge};
use super::packed;
use super::rows::{self, Value};
use super::{Store, StoreError, Tx};
use rapport_core::consent::StoredConsent;
use rapport_core::identity::batch::{plan_batch, BatchGraph, Slot};
use rapport_core::identity::MergeRules;
use rapport_core::model::{Birthday, Customer, Identity, LoyaltyAccount, Money};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use std::collections::{HashMap, HashSet};

/// What a batch tells of one profile: the latest name, birthday and loyalty account given win.
#[derive(Default)]
struct Given<'a> {
    given_name: Option<&'a str>,
    family_name: Option<&'a str>,
    birthday: Option<Birthday>,
    loyalty: Option<&'a LoyaltyAccount>,
}

impl Given<'_> {
    fn says_anything(&self) -> bool {
        self.given_name.is_some()
            || self.family_name.is_some()
            || self.birthday.is_some()
            || self.loyalty.is_some()
    }
}

/// A person an event names: their normalised identities, the customer record, and the record it
/// came from (`<source>:<source event id>`, the evidence for the consents it carries).
pub struct Named<'a> {
    pub identities: &'a [Identity],
    pub customer: &'a Customer,
    pub evidence: String,
}

/// The people of a batch: the profile of each entry, and the people whose consent in force changed.
pub struct Resolved {
    pub profiles: Vec<Option<i64>>,
    pub consent_changed: HashSet<i64>,
    /// Stored profiles merged into another.
    pub absorbed: Vec<i64>,
}

/// Resolves the people of a batch, in order, by the shop's merge rule (`identity::merge`): each
/// finds the profile its identities name, merging stored profiles they join (each merge recorded,
/// with the event as evidence), or gets a new one. Records the identities newly linked, the names
/// given, and the consents in the ledger. Returns the profile id of each entry (`None` for entries
/// that name nobody).
pub async fn resolve(
    tx: &mut Tx<'_>,
    people: &[Option<Named<'_>>],
    rules: &MergeRules,
    now: i64,
) -> Result<Resolved, StoreError> {
    let tx = &mut tx.inner;
    let graph = load_graph(tx, people).await?;
    let identities: Vec<Option<&[Identity]>> = people
        .iter()
        .map(|p| p.as_ref().map(|named| named.identities))
        .collect();
    let plan = plan_batch(graph, &identities, rules);
    for (person, refused) in &plan.refused {
        if let Some(named) = &people[*person] {
            tracing::info!(
                evidence = %named.evidence,
                kinds = ?refused.iter().map(|i| i.kind).collect::<Vec<_>>(),
                "identities not linked: a per-profile limit would break"
            );
        }
    }
    let slots = plan.final_slots();
    let mut given: HashMap<Slot, Given> = HashMap::new();
    for (person, slot) in people.iter().zip(&slots) {
        if let (Some(named), Some(slot)) = (person, slot) {
            let entry = given.entry(*slot).or_default();
            entry.given_name = named.customer.given_name.as_deref().or(entry.given_name);
            entry.family_name = named.customer.family_name.as_deref().or(entry.family_name);
            entry.birthday = named.customer.birthday.or(entry.birthday);
            entry.loyalty = named.customer.loyalty.as_ref().or(entry.loyalty);
        }
    }
    let ids = create_profiles(tx, &plan.profiles_to_create(), &given, now).await?;
    let id_of = |slot: Slot| match plan.graph.find(slot) {
        Slot::Stored(id) => id,
        new => ids[&new],
    };
    let mut consent_changed = HashSet::new();
    let absorbed: Vec<i64> = plan.merges.iter().map(|m| m.absorbed).collect();
    for merged in &plan.merges {
        let evidence = people[merged.person]
            .as_ref()
            .map_or("", |named| named.evidence.as_str());
        let merge = NewMerge {
            survivor: merged.survivor,
            absorbed: merged.absorbed,
            reason: merged.kind.as_str(),
            evidence,
        };
        if merges::absorb(tx, &merge, now).await?.1 {
            consent_changed.insert(merged.survivor);
        }
    }
    update_stored(tx, &given, now).await?;
    let links: Vec<(&Identity, i64)> = (plan.new_links.iter())
        .map(|(_, identity, slot)| (*identity, id_of(*slot)))
        .collect();
    insert_links(tx, &links, now).await?;
    let choices: Vec<NewChoice> = people
        .iter()
        .zip(&slots)
        .filter_map(|(person, slot)| Some((person.as_ref()?, (*slot)?)))
        .flat_map(|(named, slot)| {
            named
                .customer
                .consents
                .iter()
                .map(move |consent| NewChoice {
                    profile_id: id_of(slot),
                    consent,
                    evidence: named.evidence.clone(),
                })
        })
        .collect();
    consent_changed.extend(consents::record(tx, &choices, now).await?);
    Ok(Resolved {
        profiles: slots.into_iter().map(|s| s.map(id_of)).collect(),
        consent_changed,
        absorbed,
    })
}

/// Links each identity to its profile, unless it is linked already.
pub async fn link(tx: &mut Tx<'_>, links: &[(&Identity, i64)], now: i64) -> Result<(), StoreError> {
    insert_links(&mut tx.inner, links, now).await
}

async fn insert_links(
    tx: &mut Transaction<'_, Any>,
    links: &[(&Identity, i64)],
    now: i64,
) -> Result<(), StoreError> {
    let values: Vec<Vec<Value>> = links
        .iter()
        .map(|(identity, profile)| {
            vec![
                identity.kind.as_str().into(),
                (&identity.value).into(),
                (*profile).into(),
                now.into(),
            ]
        })
        .collect();
    rows::insert_values(
        tx,
        "INSERT INTO identities (kind, value, profile_id, created_at)",
        "ON CONFLICT (kind, value) DO NOTHING",
        &values,
    )
    .await?;
    Ok(())
}

/// The profile each of `identities` is linked to, for those linked.
pub async fn holders(
    tx: &mut Tx<'_>,
    identities: &[Identity],
) -> Result<HashMap<Identity, i64>, StoreError> {
    let mut found = HashMap::new();
    for kind in identities.iter().map(|i| i.kind).collect::<HashSet<_>>() {
        let values: Vec<Value> = (identities.iter())
            .filter(|i| i.kind == kind)
            .map(|i| (&i.value).into())
            .collect();
        for row in rows::query_in(
            &mut tx.inner,
            "SELECT kind, value, profile_id FROM identities WHERE kind = $1 AND value IN {list}",
            &[kind.as_str().into()],
            &values,
        )
        .await?
        {
            found.insert(rows::identity(&row)?, row.try_get("profile_id")?);
        }
    }
    Ok(found)
}

/// The part of the stored graph the batch touches: the profiles its identities are linked to, with
/// every identity those profiles hold.
async fn load_graph(
    tx: &mut Transaction<'_, Any>,
    people: &[Option<Named<'_>>],
) -> Result<BatchGraph, StoreError> {
    let wanted: HashSet<&Identity> = people
        .iter()
        .flatten()
        .flat_map(|named| named.identities.iter())
        .collect();
    let mut touched: HashSet<i64> = HashSet::new();
    for kind in wanted.iter().map(|i| i.kind).collect::<HashSet<_>>() {
        let values: Vec<Value> = wanted
            .iter()
            .filter(|i| i.kind == kind)
            .map(|i| (&i.value).into())
            .collect();
        for row in rows::query_in(
            tx,
            "SELECT profile_id FROM identities WHERE kind = $1 AND value IN {list}",
            &[kind.as_str().into()],
            &values,
        )
        .await?
        {
            touched.insert(row.try_get("profile_id")?);
        }
    }
    let touched: Vec<i64> = touched.into_iter().collect();
    let mut graph = BatchGraph::default();
    for row in rows::query_ids(
        tx,
        "SELECT profile_id, kind, value FROM identities WHERE profile_id IN {list}",
        &[],
        &touched,
    )
    .await?
    {
        let identity = rows::identity(&row)?;
        graph.link(&identity, Slot::Stored(row.try_get("profile_id")?));
    }
    Ok(graph)
}

/// Creates the batch's new profiles with the names they were given; returns their ids.
async fn create_profiles(
    tx: &mut Transaction<'_, Any>,
    slots: &[Slot],
    given: &HashMap<Slot, Given<'_>>,
    now: i64,
) -> Result<HashMap<Slot, i64>, StoreError> {
    let keys: Vec<String> = slots.iter().map(|_| new_profile_key()).collect();
    let values: Vec<Vec<Value>> = keys
        .iter()
        .zip(slots)
        .map(|(key, slot)| {
            let given = given.get(slot);
            let birthday = given.and_then(|g| g.birthday);
            let loyalty = given.and_then(|g| g.loyalty);
            vec![
                key.into(),
                given.and_then(|g| g.given_name).into(),
                given.and_then(|g| g.family_name).into(),
                birthday.map(|b| i64::from(b.month)).into(),
                birthday.map(|b| i64::from(b.day)).into(),
                birthday.and_then(|b| b.year).map(i64::from).into(),
                loyalty.map(|l| l.id.as_str()).into(),
                loyalty.map(|l| l.balance).into(),
                loyalty.map(|l| l.lifetime).into(),
                now.into(),
                now.into(),
            ]
        })
        .collect();
    let ids: HashMap<String, i64> = rows::insert_values(
        tx,
        "INSERT INTO profiles (key, given_name, family_name, birthday_month, birthday_day,
                               birthday_year, loyalty_account, loyalty_balance, loyalty_lifetime,
                               created_at, updated_at)",
        "RETURNING id, key",
        &values,
    )
    .await?
    .iter()
    .map(|r| Ok((r.try_get("key")?, r.try_get("id")?)))
    .collect::<Result<_, sqlx::Error>>()?;
    Ok(keys
        .iter()
        .zip(slots)
        .map(|(k, slot)| (*slot, ids[k]))
        .collect())
}

/// Gives stored profiles the names, birthday and loyalty account the batch gave them, where those
/// differ from what is stored (what the batch does not say stays as it is).
async fn update_stored(
    tx: &mut Transaction<'_, Any>,
    given: &HashMap<Slot, Given<'_>>,
    now: i64,
) -> Result<(), StoreError> {
    let told: Vec<i64> = given
        .iter()
        .filter(|(_, g)| g.says_anything())
        .filter_map(|(slot, _)| match slot {
            Slot::Stored(id) => Some(*id),
            Slot::New(_) => None,
        })
        .collect();
    let stored = rows::query_ids(
        tx,
        &format!("SELECT id, {FACTS} FROM profiles WHERE id IN {{list}}"),
        &[],
        &told,
    )
    .await?;
    for row in stored {
        let id: i64 = row.try_get("id")?;
        let g = &given[&Slot::Stored(id)];
        let before = facts(&row)?;
        let after = PersonFacts {
            given_name: g
                .given_name
                .map(str::to_string)
                .or(before.given_name.clone()),
            family_name: g
                .family_name
                .map(str::to_string)
                .or(before.family_name.clone()),
            birthday: g.birthday.or(before.birthday),
            loyalty: g.loyalty.cloned().or(before.loyalty.clone()),
        };
        if after == before {
            continue;
        }
        sqlx::query(
            "UPDATE profiles SET given_name = $1, family_name = $2, birthday_month = $3,
                    birthday_day = $4, birthday_year = $5, loyalty_account = $6,
                    loyalty_balance = $7, loyalty_lifetime = $8, updated_at = $9
             WHERE id = $10",
        )
        .bind(after.given_name)
        .bind(after.family_name)
        .bind(after.birthday.map(|b| i64::from(b.month)))
        .bind(after.birthday.map(|b| i64::from(b.day)))
        .bind(after.birthday.and_then(|b| b.year).map(i64::from))
        .bind(after.loyalty.as_ref().map(|l| l.id.clone()))
        .bind(after.loyalty.as_ref().map(|l| l.balance))
        .bind(after.loyalty.as_ref().map(|l| l.lifetime))
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The columns of `profiles` that hold what a person told the shop about themselves.
const FACTS: &str = "given_name, family_name, birthday_month, birthday_day, birthday_year,
                     loyalty_account, loyalty_balance, loyalty_lifetime";

/// What a person told the shop about themselves, as a profile row holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PersonFacts {
    given_name: Option<String>,
    family_name: Option<String>,
    birthday: Option<Birthday>,
    loyalty: Option<LoyaltyAccount>,
}

/// The [`FACTS`] columns' values, in their order.
type FactValues = (
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

/// The [`FACTS`] of a profile row.
fn facts(row: &AnyRow) -> Result<PersonFacts, StoreError> {
    facts_of((
        row.try_get("given_name")?,
        row.try_get("family_name")?,
        row.try_get("birthday_month")?,
        row.try_get("birthday_day")?,
        row.try_get("birthday_year")?,
        row.try_get("loyalty_account")?,
        row.try_get("loyalty_balance")?,
        row.try_get("loyalty_lifetime")?,
    ))
}

/// What the [`FACTS`] columns' values say.
fn facts_of(values: FactValues) -> Result<PersonFacts, StoreError> {
    let (given_name, family_name, month, day, year, account, balance, lifetime) = values;
    let small = |column: &str, value: Option<i64>| -> Result<Option<u16>, StoreError> {
        value
            .map(|v| {
                u16::try_from(v)
                    .map_err(|_| StoreError::Corrupt(format!("profiles.{column} = {v}")))
            })
            .transpose()
    };
    let birthday = match (small("birthday_month", month)?, small("birthday_day", day)?) {
        (Some(month), Some(day)) => Some(Birthday {
            month: u8::try_from(month)
                .map_err(|_| StoreError::Corrupt(format!("profiles.birthday_month = {month}")))?,
            day: u8::try_from(day)
                .map_err(|_| StoreError::Corrupt(format!("profiles.birthday_day = {day}")))?,
            year: small("birthday_year", year)?,
        }),
        _ => None,
    };
    let loyalty = account.map(|id| LoyaltyAccount {
        id,
        balance: balance.unwrap_or(0),
        lifetime: lifetime.unwrap_or(0),
    });
    Ok(PersonFacts {
        given_name,
        family_name,
        birthday,
        loyalty,
    })
}

fn new_profile_key() -> String {
    format!("p-{}", hex::encode(rand::random::<[u8; 10]>()))
}

/// What the host knows of a person, as a sink may receive it.
#[derive(Debug, Clone)]
pub struct ProfileSnapshot {
    pub id: i64,
    pub key: String,
    pub identities: Vec<Identity>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub birthday: Option<Birthday>,
    pub loyalty: Option<LoyaltyAccount>,
    pub consents: Vec<StoredConsent>,
    pub orders_count: i64,
    pub refunds_count: i64,
    /// Lifetime spend in the currency the person spent most in (orders minus refunds).
    pub net_spent: Option<Money>,
    pub first_order_at: Option<i64>,
    pub last_order_at: Option<i64>,
}

/// What a snapshot holds: everything, or only the person's key, identities and consents (what an
/// activity names and what decides whether it may go), which spares names and totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotDepth {
    Full,
    Basic,
}

impl Store {
    /// The current snapshots of the given profiles, read in a few statements for the whole set.
    pub async fn profile_snapshots(
        &self,
        profile_ids: &[i64],
        depth: SnapshotDepth,
    ) -> Result<HashMap<i64, ProfileSnapshot>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut snapshots = HashMap::with_capacity(profile_ids.len());
        // A delivery batch reads hundreds of people: their rows come packed (`packed.rs`).
        let people: Vec<(i64, String, FactValues)> = packed::json_rows(
            &mut conn,
            &format!("id, key, {}", self.backend.json_array(FACTS)),
            "FROM profiles WHERE id IN {list}",
            "",
            &[],
            profile_ids,
        )
        .await?;
        for (id, key, facts) in people {
            let facts = facts_of(facts)?;
            snapshots.insert(
                id,
                ProfileSnapshot {
                    id,
                    key,
                    identities: Vec::new(),
                    given_name: facts.given_name,
                    family_name: facts.family_name,
                    birthday: facts.birthday,
                    loyalty: facts.loyalty,
                    consents: Vec::new(),
                    orders_count: 0,
                    refunds_count: 0,
                    net_spent: None,
                    first_order_at: None,
                    last_order_at: None,
                },
            );
        }
        if let Some(missing) = profile_ids.iter().find(|id| !snapshots.contains_key(id)) {
            return Err(StoreError::Corrupt(format!(
                "work refers to profile {missing}, which does not exist"
            )));
        }
        // A person has a few identities and consents, a batch thousands: read packed.
        let identities: Vec<(i64, String, String)> = packed::json_rows(
            &mut conn,
            "profile_id, kind, value",
            "FROM identities WHERE profile_id IN {list}",
            "created_at, kind, value",
            &[],
            profile_ids,
        )
        .await?;
        for (profile, kind, value) in identities {
            snapshot_with_id(&mut snapshots, profile)?
                .identities
                .push(rows::identity_of(&kind, value)?);
        }
        let consents: Vec<(i64, String, String, String, i64, String)> = packed::json_rows(
            &mut conn,
            "profile_id, channel, purpose, state, at, source",
            "FROM consents WHERE profile_id IN {list}",
            "channel, purpose",
            &[],
            profile_ids,
        )
        .await?;
        for (profile, channel, purpose, state, at, source) in consents {
            let consent = StoredConsent {
                channel: rows::parse_enum("consents.channel", &channel)?,
                purpose: rows::parse_enum("consents.purpose", &purpose)?,
                state: rows::parse_enum("consents.state", &state)?,
                at,
                source,
            };
            snapshot_with_id(&mut snapshots, profile)?
                .consents
                .push(consent);
        }
        if depth == SnapshotDepth::Basic {
            return Ok(snapshots);
        }
        // Each vendor object counts once, as its current version says (an order seen again after
        // an update, or a refund seen by both webhook and poll, is not counted twice), and an order
        // only while it is completed; its time is when it was placed.
        let totals = rows::query_ids(
            &mut conn,
            &format!(
                "SELECT profile_id, kind, currency, COUNT(*) AS n,
                        CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS total,
                        MIN(placed_at) AS first_at, MAX(placed_at) AS last_at
                 FROM events WHERE profile_id IN {{list}} AND {SALES_AND_REFUNDS}
                 GROUP BY profile_id, kind, currency"
            ),
            &[],
            profile_ids,
        )
        .await?;
        let mut spend: HashMap<i64, Vec<(String, i64)>> = HashMap::new();
        for r in totals {
            let snapshot = snapshot_of(&mut snapshots, &r)?;
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
                let spend = spend.entry(snapshot.id).or_default();
                match spend.iter_mut().find(|(c, _)| *c == currency) {
                    Some((_, sum)) => *sum += sign * total,
                    None => spend.push((currency, sign * total)),
                }
            }
        }
        for (id, spend) in spend {
            snapshots.get_mut(&id).expect("selected by id").net_spent = spend
                .into_iter()
                .max_by_key(|(_, sum)| *sum)
                .and_then(|(currency, minor)| {
                    Some(Money {
                        minor,
                        currency: currency.try_into().ok()?,
                    })
                });
        }
        Ok(snapshots)
    }
}

/// The snapshot a row's `profile_id` names.
fn snapshot_of<'s>(
    snapshots: &'s mut HashMap<i64, ProfileSnapshot>,
    row: &AnyRow,
) -> Result<&'s mut ProfileSnapshot, StoreError> {
    snapshot_with_id(snapshots, row.try_get("profile_id")?)
}

/// The snapshot of profile `id`, which the read asked for.
fn snapshot_with_id(
    snapshots: &mut HashMap<i64, ProfileSnapshot>,
    id: i64,
) -> Result<&mut ProfileSnapshot, StoreError> {
    snapshots
        .get_mut(&id)
        .ok_or_else(|| StoreError::Corrupt(format!("row for unrequested profile {id}")))
}
