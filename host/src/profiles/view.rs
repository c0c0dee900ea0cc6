//! The two views of one person. The staff view is what the counter needs in a glance and masks
//! every contact detail (first name, last visit, loyalty tier and points, favoured category,
//! birthday this month, open issues, the channels they opted in to); the marketer view has
//! everything rapport knows of them.

use crate::predictions;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use rapport_core::consent::StoredConsent;
use rapport_core::model::{Channel, ConsentState, Money, Purpose};
use rapport_core::predictions::person::Estimate;
use rapport_core::predictions::PersonPredictions;
use rapport_core::profile::facts::{favoured_categories, ProfileFacts};
use rapport_core::profile::rfm::{self, RfmInput, RfmScore, Segment};
use rapport_core::profile::tiers::{tier_of, Tier};
use rapport_store::profile_facts::BuyerStanding;
use rapport_store::profile_issues::Issue;
use rapport_store::{ProfileSnapshot, SnapshotDepth, Store, StoreError};
use serde::{Deserialize, Serialize};

/// Which view.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ViewKind {
    #[default]
    Staff,
    Marketer,
}

/// What a view is drawn from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub snapshot: ProfileSnapshot,
    pub facts: Option<ProfileFacts>,
    /// `None` for someone who never bought, and in the staff view.
    pub rfm: Option<RfmScore>,
    /// From the latest fit; `None` before the first, for someone who never bought, and in the
    /// staff view.
    pub predictions: Option<PersonPredictions>,
    pub issues: Vec<Issue>,
}

/// The shop's rules a view applies.
#[derive(Debug, Clone, Copy)]
pub struct ViewRules<'a> {
    pub tiers: &'a [Tier],
    pub zone: Tz,
    pub now: DateTime<Utc>,
}

/// Reads what `kind` of view of profile `profile_id` needs (the staff view spares the RFM scores,
/// which rank the person among all the shop's buyers, and the predictions).
pub async fn load(
    store: &Store,
    profile_id: i64,
    kind: ViewKind,
    rules: &ViewRules<'_>,
) -> Result<Loaded, StoreError> {
    let snapshot = store
        .profile_snapshots(&[profile_id], SnapshotDepth::Full)
        .await?
        .remove(&profile_id)
        .ok_or_else(|| StoreError::Corrupt(format!("profile {profile_id} vanished")))?;
    let facts = store
        .profile_facts(&[profile_id])
        .await?
        .remove(&profile_id);
    let (rfm, predictions) = match kind {
        ViewKind::Staff => (None, None),
        ViewKind::Marketer => {
            let rfm = (scored_buyers(store).await?.into_iter())
                .find(|(buyer, _)| buyer.profile_id == profile_id)
                .map(|(_, score)| score);
            let today = predictions::today(rules.now, rules.zone);
            (
                rfm,
                predictions::for_profile(store, rules.zone, profile_id, today).await?,
            )
        }
    };
    Ok(Loaded {
        snapshot,
        facts,
        rfm,
        predictions,
        issues: store.issues_of(profile_id).await?,
    })
}

/// The shop's buyers, each with their RFM score among all of them.
pub async fn scored_buyers(store: &Store) -> Result<Vec<(BuyerStanding, RfmScore)>, StoreError> {
    let buyers = store.buyer_standings().await?;
    let scores = rfm::score(&buyers.iter().map(rfm_input).collect::<Vec<_>>());
    Ok(buyers.into_iter().zip(scores).collect())
}

/// What RFM scores a buyer on.
fn rfm_input(buyer: &BuyerStanding) -> RfmInput {
    RfmInput {
        last_visit: buyer.last_visit_at.unwrap_or(0),
        visits: buyer.visits,
        spend_minor: buyer.net_spend_minor,
    }
}

/// An issue as a view shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssueLine {
    pub id: i64,
    pub title: String,
    pub opened_at: DateTime<Utc>,
    pub opened_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
}

/// What the counter sees.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaffView {
    pub first_name: Option<String>,
    /// The day of the last visit, in shop time.
    pub last_visit: Option<NaiveDate>,
    pub loyalty_tier: Option<String>,
    pub loyalty_points: Option<i64>,
    pub favoured_category: Option<String>,
    /// The day of the month, when the birthday falls in the current month (shop time).
    pub birthday_this_month: Option<u8>,
    pub open_issues: Vec<IssueLine>,
    /// Channels the person agreed to hear from the shop on (marketing).
    pub opted_in: Vec<Channel>,
}

/// Money as a view shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Amount {
    pub minor: i64,
    pub currency: String,
}

impl Amount {
    fn of(minor: i64, money: &Option<Money>) -> Option<Amount> {
        money.as_ref().map(|m| Amount {
            minor,
            currency: m.currency.as_str().to_owned(),
        })
    }
}

/// A consent as the marketer view shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentLine {
    pub channel: Channel,
    pub purpose: Purpose,
    pub state: ConsentState,
    pub at: DateTime<Utc>,
    pub source: String,
}

/// A category and what the person spent on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategorySpend {
    pub category: String,
    pub spend_minor: i64,
}

/// RFM scores and the segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RfmLine {
    pub recency: u8,
    pub frequency: u8,
    pub monetary: u8,
    pub segment: Segment,
}

/// Everything rapport knows of the person.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarketerView {
    pub key: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub birthday: Option<MonthDay>,
    pub loyalty: Option<LoyaltyLine>,
    pub consents: Vec<ConsentLine>,
    pub opted_in: Vec<Channel>,
    pub orders: i64,
    pub store_orders: i64,
    pub online_orders: i64,
    pub visits: i64,
    pub returns: i64,
    pub first_visit: Option<DateTime<Utc>>,
    pub last_visit: Option<DateTime<Utc>>,
    /// Sales minus refunds, in the person's main currency.
    pub net_spend: Option<Amount>,
    /// The median sale.
    pub typical_basket: Option<Amount>,
    pub mean_days_between_visits: Option<f64>,
    pub median_days_between_visits: Option<f64>,
    /// Top three by spend over the last twelve months.
    pub favoured_categories: Vec<CategorySpend>,
    pub rfm: Option<RfmLine>,
    pub predictions: Option<PredictionsLine>,
    pub issues: Vec<IssueLine>,
}

/// An expectation with its interval (see `rapport_core::predictions::person`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EstimateLine {
    pub expected: f64,
    pub low: f64,
    pub high: f64,
}

impl From<&Estimate> for EstimateLine {
    fn from(e: &Estimate) -> Self {
        EstimateLine {
            expected: e.expected,
            low: e.low,
            high: e.high,
        }
    }
}

/// Purchases expected over the next `days`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PurchasesLine {
    pub days: u32,
    #[serde(flatten)]
    pub estimate: EstimateLine,
}

/// What the latest fit predicts for the person.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictionsLine {
    pub p_alive: f64,
    pub purchases: Vec<PurchasesLine>,
    pub next_order: Option<NaiveDate>,
    /// In major units of the fit's currency.
    pub value_12_months: Option<EstimateLine>,
}

impl From<&PersonPredictions> for PredictionsLine {
    fn from(p: &PersonPredictions) -> Self {
        PredictionsLine {
            p_alive: p.p_alive,
            purchases: (p.purchases.iter())
                .map(|(days, e)| PurchasesLine {
                    days: *days,
                    estimate: e.into(),
                })
                .collect(),
            next_order: p.next_order,
            value_12_months: p.value_12_months.as_ref().map(EstimateLine::from),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MonthDay {
    pub month: u8,
    pub day: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoyaltyLine {
    pub account: String,
    pub points: i64,
    pub lifetime_points: i64,
    pub tier: Option<String>,
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn issue_line(issue: &Issue) -> IssueLine {
    IssueLine {
        id: issue.id,
        title: issue.title.clone(),
        opened_at: time(issue.opened_at),
        opened_by: issue.opened_by.clone(),
        closed_at: issue.closed_at.map(time),
    }
}

/// The channels with a marketing consent granted in force.
fn opted_in(consents: &[StoredConsent]) -> Vec<Channel> {
    consents
        .iter()
        .filter(|c| c.purpose == Purpose::Marketing && c.state == ConsentState::Granted)
        .map(|c| c.channel)
        .collect()
}

fn tier(loaded: &Loaded, rules: &ViewRules) -> Option<String> {
    let spend = loaded.facts.as_ref().map_or(0, |f| f.net_spend_minor);
    let points = loaded.snapshot.loyalty.as_ref().map_or(0, |l| l.lifetime);
    tier_of(rules.tiers, spend, points).map(|t| t.name.clone())
}

fn favoured(loaded: &Loaded, rules: &ViewRules) -> Vec<(String, i64)> {
    let today = rules.now.with_timezone(&rules.zone).date_naive();
    loaded
        .facts
        .as_ref()
        .map(|f| favoured_categories(&f.category_spend, today, 3))
        .unwrap_or_default()
}

/// The staff view.
pub fn staff(loaded: &Loaded, rules: &ViewRules) -> StaffView {
    let s = &loaded.snapshot;
    let this_month = rules.now.with_timezone(&rules.zone).month() as u8;
    StaffView {
        first_name: s.given_name.clone(),
        last_visit: (loaded.facts.as_ref())
            .and_then(|f| f.last_visit_at)
            .map(|t| t.with_timezone(&rules.zone).date_naive()),
        loyalty_tier: tier(loaded, rules),
        loyalty_points: s.loyalty.as_ref().map(|l| l.balance),
        favoured_category: favoured(loaded, rules).into_iter().next().map(|(c, _)| c),
        birthday_this_month: (s.birthday.as_ref())
            .filter(|b| b.month == this_month)
            .map(|b| b.day),
        open_issues: (loaded.issues.iter())
            .filter(|i| i.closed_at.is_none())
            .map(issue_line)
            .collect(),
        opted_in: opted_in(&s.consents),
    }
}

/// The marketer view.
pub fn marketer(loaded: &Loaded, rules: &ViewRules) -> MarketerView {
    use rapport_core::model::IdentityKind;
    let s = &loaded.snapshot;
    let of_kind = |kind: IdentityKind| -> Vec<String> {
        (s.identities.iter())
            .filter(|i| i.kind == kind)
            .map(|i| i.value.clone())
            .collect()
    };
    let facts = loaded.facts.clone().unwrap_or_default();
    let spend = facts.net_spend();
    MarketerView {
        key: s.key.clone(),
        given_name: s.given_name.clone(),
        family_name: s.family_name.clone(),
        emails: of_kind(IdentityKind::Email),
        phones: of_kind(IdentityKind::Phone),
        birthday: s.birthday.map(|b| MonthDay {
            month: b.month,
            day: b.day,
        }),
        loyalty: s.loyalty.as_ref().map(|l| LoyaltyLine {
            account: l.id.clone(),
            points: l.balance,
            lifetime_points: l.lifetime,
            tier: tier(loaded, rules),
        }),
        consents: (s.consents.iter())
            .map(|c| ConsentLine {
                channel: c.channel,
                purpose: c.purpose,
                state: c.state,
                at: time(c.at),
                source: c.source.clone(),
            })
            .collect(),
        opted_in: opted_in(&s.consents),
        orders: facts.orders,
        store_orders: facts.store_orders,
        online_orders: facts.online_orders,
        visits: facts.visits,
        returns: facts.returns,
        first_visit: facts.first_visit_at,
        last_visit: facts.last_visit_at,
        net_spend: Amount::of(facts.net_spend_minor, &spend),
        typical_basket: facts
            .median_basket_minor
            .and_then(|m| Amount::of(m, &spend)),
        mean_days_between_visits: facts.mean_days_between_visits,
        median_days_between_visits: facts.median_days_between_visits,
        favoured_categories: favoured(loaded, rules)
            .into_iter()
            .map(|(category, spend_minor)| CategorySpend {
                category,
                spend_minor,
            })
            .collect(),
        rfm: loaded.rfm.map(|r| RfmLine {
            recency: r.recency,
            frequency: r.frequency,
            monetary: r.monetary,
            segment: r.segment(),
        }),
        predictions: loaded.predictions.as_ref().map(PredictionsLine::from),
        issues: loaded.issues.iter().map(issue_line).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rapport_core::model::{Birthday, Identity, IdentityKind, LoyaltyAccount};

    fn loaded(birthday_month: u8) -> Loaded {
        Loaded {
            snapshot: ProfileSnapshot {
                id: 1,
                key: "p-1".into(),
                identities: vec![Identity {
                    kind: IdentityKind::Email,
                    value: "ana@example.com".into(),
                }],
                given_name: Some("Ana".into()),
                family_name: Some("Lima".into()),
                birthday: Some(Birthday {
                    month: birthday_month,
                    day: 14,
                    year: None,
                }),
                loyalty: Some(LoyaltyAccount {
                    id: "L-1".into(),
                    balance: 120,
                    lifetime: 600,
                }),
                consents: Vec::new(),
                orders_count: 0,
                refunds_count: 0,
                net_spent: None,
                first_order_at: None,
                last_order_at: None,
            },
            facts: None,
            rfm: None,
            predictions: None,
            issues: Vec::new(),
        }
    }

    #[test]
    fn the_staff_view_names_the_birthday_only_in_its_month_and_the_tier_by_points() {
        let tiers = [Tier {
            name: "gold".into(),
            min_spend_minor: None,
            min_lifetime_points: Some(500),
        }];
        // 23:30 UTC on 30 April is already 1 May in Auckland.
        let now = Utc.with_ymd_and_hms(2026, 4, 30, 23, 30, 0).unwrap();
        let rules = |zone| ViewRules {
            tiers: &tiers,
            zone,
            now,
        };
        let april = staff(&loaded(4), &rules(chrono_tz::UTC));
        assert_eq!(april.birthday_this_month, Some(14));
        assert_eq!(
            staff(&loaded(5), &rules(chrono_tz::UTC)).birthday_this_month,
            None
        );
        let auckland = rules(chrono_tz::Pacific::Auckland);
        assert_eq!(staff(&loaded(5), &auckland).birthday_this_month, Some(14));
        assert_eq!(april.loyalty_tier.as_deref(), Some("gold"));
        assert_eq!(april.loyalty_points, Some(120));
        assert_eq!(april.first_name.as_deref(), Some("Ana"));
        let text = serde_json::to_string(&april).unwrap();
        for detail in ["ana@example.com", "Lima", "L-1", "p-1"] {
            assert!(!text.contains(detail), "{detail} in {text}");
        }
    }
}
