//! Journeys as workflows. Planning: in the ingest transaction, the waits a batch's new sales start
//! (first order, every order, accessory), the waits of the touched people's facts (replenishment,
//! win-back, birthday) and of a new loyalty tier; once a day, the fact-triggered waits of everyone
//! again (a lapse moves with the latest fit; next year's birthday). Withdrawal: a cancelled order's
//! waits go with it, and a revocation takes back the work on its channel (`withdraw`). Entry: the
//! scheduler (`scheduler`) takes waits as they fall due. The rules are `rapport_core::journeys`;
//! the SQL is the store's.

pub mod scheduler;
pub mod withdraw;

use chrono::{DateTime, Utc};
use rapport_core::journeys::plan::{self, Context, NewSale, Person, Wait};
use rapport_core::journeys::{Routes, Trigger};
use rapport_core::model::Order;
use rapport_core::predictions::person::Models;
use rapport_core::profile::facts::Sale;
use rapport_core::profile::tiers::tier_of;
use rapport_store::profile_facts::{self, JourneyInputs};
use rapport_store::{journey_due, Store, StoreError, Tx};
use std::collections::{HashMap, HashSet};

/// What a batch hands journey planning: its new live sales, who had ordered before it, the people
/// it touched (with their counted sales, as the profile refresh read them) and their standing
/// before it (for tier changes).
pub struct Planning<'b> {
    pub source_id: &'b str,
    pub sales: Vec<SaleStarted<'b>>,
    pub ordered_before: HashSet<i64>,
    pub touched: &'b HashMap<i64, Vec<Sale>>,
    pub before: &'b HashMap<i64, JourneyInputs>,
    /// The latest fit, when a win-back journey needs it.
    pub models: Option<&'b Models>,
}

/// A new live sale of a known person: `(profile id, event id, source's event id, order)`.
pub type SaleStarted<'b> = (i64, i64, &'b str, &'b Order);

/// The standing (spend and points) of `people` before a batch changes it: read only when a
/// tier-change journey is configured.
pub async fn standing_before(
    tx: &mut Tx<'_>,
    routes: &Routes,
    people: &[i64],
) -> Result<HashMap<i64, JourneyInputs>, StoreError> {
    match routes.has(Trigger::TierChange) {
        true => profile_facts::journey_inputs(tx, people).await,
        false => Ok(HashMap::new()),
    }
}

/// Plans and saves the waits of a batch (see [`Planning`]), at `now`.
pub async fn plan_batch(
    tx: &mut Tx<'_>,
    routes: &Routes,
    planning: Planning<'_>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    if routes.journeys.is_empty() {
        return Ok(0);
    }
    let mut ids: Vec<i64> = planning.touched.keys().copied().collect();
    ids.extend(planning.sales.iter().map(|s| s.0));
    ids.sort_unstable();
    ids.dedup();
    let after = profile_facts::journey_inputs(tx, &ids).await?;
    let sales: Vec<NewSale> = (planning.sales.iter())
        .filter_map(|(profile_id, event_id, source_event_id, order)| {
            Some(NewSale {
                profile_id: *profile_id,
                person: &after.get(profile_id)?.key,
                event_id: *event_id,
                source_event_id,
                order,
            })
        })
        .collect();
    let mut waits: Vec<Wait> = plan::sale_waits(
        planning.source_id,
        &routes.journeys,
        sales,
        planning.ordered_before,
    );
    let tiers = routes.has(Trigger::TierChange);
    if routes.plans_from_facts() || tiers {
        for (id, inputs) in after
            .iter()
            .filter(|(id, _)| planning.touched.contains_key(id))
        {
            let sales = planning.touched.get(id).map_or(&[][..], Vec::as_slice);
            waits.extend(fact_waits(routes, *id, inputs, sales, planning.models, now));
            if let (true, Some(before)) = (tiers, planning.before.get(id)) {
                waits.extend(plan::tier_waits(
                    &routes.journeys,
                    &routes.tiers,
                    (*id, &inputs.key),
                    tier_of(
                        &routes.tiers,
                        before.net_spend_minor,
                        before.lifetime_points,
                    ),
                    tier_of(
                        &routes.tiers,
                        inputs.net_spend_minor,
                        inputs.lifetime_points,
                    ),
                    now,
                ));
            }
        }
    }
    journey_due::save(tx, &waits).await?;
    Ok(waits.len())
}

fn fact_waits<'r>(
    routes: &'r Routes,
    profile_id: i64,
    inputs: &JourneyInputs,
    sales: &[Sale],
    models: Option<&Models>,
    now: DateTime<Utc>,
) -> Vec<Wait<'r>> {
    let person = Person {
        profile_id,
        key: &inputs.key,
        sales,
        birthday: inputs.birthday,
    };
    let context = Context {
        zone: routes.time_zone,
        now,
        max_age: routes.horizon.max_age,
        models,
    };
    plan::fact_waits(&routes.journeys, &person, &context)
}

/// People whose fact-triggered waits one replanning transaction covers.
const REPLAN_CHUNK: usize = 500;

/// Plans the fact-triggered waits of every standing profile again (after a refit, and daily):
/// lapses move with the fit, and a birthday past plans next year's. Returns the waits saved.
pub async fn replan_all(
    store: &Store,
    routes: &Routes,
    models: Option<&Models>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    if !routes.plans_from_facts() {
        return Ok(0);
    }
    let mut saved = 0;
    for chunk in store.journey_candidates().await?.chunks(REPLAN_CHUNK) {
        let mut tx = store.begin().await?;
        let mut inputs = profile_facts::inputs(&mut tx, chunk).await?;
        let people = profile_facts::journey_inputs(&mut tx, chunk).await?;
        let mut waits = Vec::new();
        for (id, person) in &people {
            let sales = inputs.sales.remove(id).unwrap_or_default();
            waits.extend(fact_waits(routes, *id, person, &sales, models, now));
        }
        journey_due::save(&mut tx, &waits).await?;
        tx.commit().await?;
        saved += waits.len();
    }
    Ok(saved)
}
