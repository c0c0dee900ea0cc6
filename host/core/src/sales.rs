//! Sales facts: which version of a vendor object is the current one (the vendor's version decides,
//! never the order things arrive in), when an order counts as a sale (only once completed), what a
//! change of version means for the sinks (an order placed, an order cancelled), who a refund that
//! names nobody belongs to, and which sales are too old to start a journey.

use crate::model::{OrderState, Payload};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

/// One version of a vendor object (an order, a refund), as far as choosing the current one goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    /// When the vendor last changed it, in ms (an order's `updated_at`, a refund's `created_at`):
    /// later is newer, where the vendor has no version of its own.
    pub version: i64,
    /// The vendor's own version (Square `version`, from contract 0.3): it decides between two
    /// versions that both have one, whatever their update times say. Versions stored before
    /// contract 0.3 have none and are ordered by update time.
    pub vendor: Option<i64>,
    /// The source's event id, which breaks ties between two deliveries of the same version so the
    /// same one wins whatever order they arrive in.
    pub event_key: String,
    /// Whether this version counts: an order that is completed, a refund.
    pub counts: bool,
}

impl ObjectVersion {
    /// A stored current version: its update time (`None` sorts first), vendor version, event id,
    /// kind (`Payload::kind`) and, for an order, its state.
    pub fn stored(
        kind: &str,
        version: Option<i64>,
        vendor: Option<i64>,
        event_key: &str,
        state: Option<OrderState>,
    ) -> ObjectVersion {
        ObjectVersion {
            version: version.unwrap_or(i64::MIN),
            vendor,
            event_key: event_key.to_string(),
            counts: kind == "refund" || state.is_some_and(is_sale),
        }
    }

    /// How `self` compares with `other` in age: by the vendor's versions when both have one, else
    /// by update time; the event id breaks ties.
    pub fn age_order(&self, other: &ObjectVersion) -> std::cmp::Ordering {
        let (mine, theirs) = match (self.vendor, other.vendor) {
            (Some(mine), Some(theirs)) => (mine, theirs),
            _ => (self.version, other.version),
        };
        (mine, &self.event_key).cmp(&(theirs, &other.event_key))
    }

    /// Whether `self` is newer than `other`.
    pub fn newer_than(&self, other: &ObjectVersion) -> bool {
        self.age_order(other).is_gt()
    }

    /// The version an event's payload stands for; `None` for what has no versions (customers and
    /// the other events about people).
    pub fn of(event_key: &str, payload: &Payload) -> Option<ObjectVersion> {
        let (version, vendor, counts) = match payload {
            Payload::Order(o) => (o.updated_at.timestamp_millis(), o.version, is_sale(o.state)),
            Payload::Refund(r) => (r.created_at.timestamp_millis(), None, true),
            Payload::Customer(_)
            | Payload::CustomersMerged { .. }
            | Payload::CustomerDeleted { .. }
            | Payload::PrivacyRequest { .. }
            | Payload::LoyaltyChanged { .. } => return None,
        };
        Some(ObjectVersion {
            version,
            vendor,
            event_key: event_key.to_string(),
            counts,
        })
    }
}

/// Only a completed order is a sale: an open one waits, a cancelled one is none.
pub fn is_sale(state: OrderState) -> bool {
    state == OrderState::Completed
}

/// What a batch's versions of one object mean for the sinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The object now counts and did not before: an order completed, a refund first seen.
    Counted,
    /// The object counted and no longer does: a completed order cancelled.
    Withdrawn,
    /// Nothing the sinks hear of as an activity (an edit, an older version arriving late, an open
    /// order, an order cancelled before it completed).
    Unchanged,
}

/// The outcome of a batch's versions of one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// The position (in `incoming`'s own indices) of the version that becomes current, if one of the
    /// batch's versions is newer than the stored current one.
    pub current: Option<usize>,
    pub change: Change,
}

/// Settles one object: `stored` is its current version before the batch, `incoming` the batch's
/// versions of it with their positions. The newest version wins; the change compares whether the
/// object counted before the batch with whether it counts after.
pub fn settle(stored: Option<&ObjectVersion>, incoming: &[(usize, ObjectVersion)]) -> Settled {
    let newest = incoming
        .iter()
        .filter(|(_, v)| stored.is_none_or(|s| v.newer_than(s)))
        .max_by(|(_, a), (_, b)| a.age_order(b));
    let Some((position, version)) = newest else {
        return Settled {
            current: None,
            change: Change::Unchanged,
        };
    };
    let counted_before = stored.is_some_and(|s| s.counts);
    let change = match (counted_before, version.counts) {
        (false, true) => Change::Counted,
        (true, false) => Change::Withdrawn,
        _ => Change::Unchanged,
    };
    Settled {
        current: Some(*position),
        change,
    }
}

/// The orders whose buyer must be looked up in the store: those of refunds that name nobody and
/// refund an order not in the batch with a known buyer.
pub fn unattributed_refund_orders<'p>(
    payloads: &[&'p Payload],
    people: &[Option<i64>],
) -> Vec<&'p str> {
    let placed_by = batch_buyers(payloads, people);
    let mut orders: Vec<&str> = payloads
        .iter()
        .zip(people)
        .filter_map(|(payload, person)| match (payload, person) {
            (Payload::Refund(r), None) if !placed_by.contains_key(r.order_id.as_str()) => {
                Some(r.order_id.as_str())
            }
            _ => None,
        })
        .collect();
    orders.sort_unstable();
    orders.dedup();
    orders
}

/// Gives each refund that names nobody the person who placed the order it refunds: the buyer the
/// batch names for that order, else the stored one (`stored_buyers`, by order id).
pub fn attribute_refunds(
    payloads: &[&Payload],
    people: &mut [Option<i64>],
    stored_buyers: &HashMap<String, i64>,
) {
    let placed_by: HashMap<String, i64> = batch_buyers(payloads, people)
        .into_iter()
        .map(|(order, person)| (order.to_string(), person))
        .collect();
    for (payload, person) in payloads.iter().zip(people.iter_mut()) {
        if let (Payload::Refund(r), None) = (payload, &person) {
            *person = placed_by
                .get(&r.order_id)
                .or_else(|| stored_buyers.get(&r.order_id))
                .copied();
        }
    }
}

/// The buyer the batch names for each order, from the order's first event that names one.
fn batch_buyers<'p>(payloads: &[&'p Payload], people: &[Option<i64>]) -> HashMap<&'p str, i64> {
    let mut placed_by = HashMap::new();
    for (payload, person) in payloads.iter().zip(people) {
        if let (Payload::Order(order), Some(person)) = (payload, person) {
            placed_by.entry(order.id.as_str()).or_insert(*person);
        }
    }
    placed_by
}

/// `[journeys]`: how old a sale may be and still start journeys (`max_age = "3d"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JourneyHorizon {
    pub max_age: Duration,
}

impl<'de> serde::Deserialize<'de> for JourneyHorizon {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            max_age: Option<String>,
        }
        let Some(text) = Raw::deserialize(d)?.max_age else {
            return Ok(JourneyHorizon::default());
        };
        let max_age = crate::governance::retention::parse_duration(&text)
            .and_then(|d| Duration::from_std(d).ok())
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "[journeys] max_age {text:?} is not a duration like \"3d\", \"12h\" or \"2w\""
                ))
            })?;
        Ok(JourneyHorizon { max_age })
    }
}

impl JourneyHorizon {
    /// Three days: a sale synced late (a POS offline over a weekend) still gets its thank-you, an
    /// import of last month's export does not.
    pub const DEFAULT_DAYS: i64 = 3;

    /// Whether a sale placed at `placed_at` may start journeys `now`. History (a first sync, an
    /// import of old exports) never does, whatever its age.
    pub fn admits(&self, placed_at: DateTime<Utc>, now: DateTime<Utc>, history: bool) -> bool {
        !history && now - placed_at <= self.max_age
    }
}

impl Default for JourneyHorizon {
    fn default() -> Self {
        JourneyHorizon {
            max_age: Duration::days(Self::DEFAULT_DAYS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(version: i64, key: &str, counts: bool) -> ObjectVersion {
        ObjectVersion {
            version,
            vendor: None,
            event_key: key.into(),
            counts,
        }
    }

    #[test]
    fn the_newest_version_wins_whatever_the_arrival_order() {
        let stored = v(20, "e20", true);
        // An older version arriving late changes nothing.
        let late = settle(Some(&stored), &[(0, v(10, "e10", false))]);
        assert_eq!((late.current, late.change), (None, Change::Unchanged));
        // Of two newer versions in one batch, the newest becomes current whatever its position.
        let both = settle(
            Some(&stored),
            &[(3, v(40, "e40", false)), (5, v(30, "e30", true))],
        );
        assert_eq!((both.current, both.change), (Some(3), Change::Withdrawn));
        // The same version delivered twice: the larger event key wins, in either order.
        let a = settle(None, &[(0, v(5, "a", true)), (1, v(5, "b", true))]);
        let b = settle(None, &[(0, v(5, "b", true)), (1, v(5, "a", true))]);
        assert_eq!((a.current, b.current), (Some(1), Some(0)));
    }

    #[test]
    fn an_order_counts_once_completed_and_is_withdrawn_when_cancelled() {
        // Open, then completed, then cancelled, one version per batch.
        let open = settle(None, &[(0, v(1, "o1", false))]);
        assert_eq!(open.change, Change::Unchanged);
        let completed = settle(Some(&v(1, "o1", false)), &[(0, v(2, "o2", true))]);
        assert_eq!(completed.change, Change::Counted);
        let edited = settle(Some(&v(2, "o2", true)), &[(0, v(3, "o3", true))]);
        assert_eq!(edited.change, Change::Unchanged);
        let cancelled = settle(Some(&v(3, "o3", true)), &[(0, v(4, "o4", false))]);
        assert_eq!(cancelled.change, Change::Withdrawn);
        // Completed and cancelled in one batch: never counted, nothing to withdraw.
        let both = settle(None, &[(0, v(2, "o2", true)), (1, v(4, "o4", false))]);
        assert_eq!((both.current, both.change), (Some(1), Change::Unchanged));
    }

    fn refund(id: &str, order_id: &str) -> Payload {
        Payload::Refund(crate::model::Refund {
            id: id.into(),
            order_id: order_id.into(),
            customer: None,
            amount: crate::model::Money {
                minor: 100,
                currency: "USD".to_string().try_into().unwrap(),
            },
            reason: None,
            lines: Vec::new(),
            created_at: DateTime::from_timestamp(0, 0).unwrap(),
        })
    }

    fn order(id: &str) -> Payload {
        let zero = crate::model::Money {
            minor: 0,
            currency: "USD".to_string().try_into().unwrap(),
        };
        Payload::Order(crate::model::Order {
            id: id.into(),
            customer: None,
            location: None,
            channel: crate::model::SalesChannel::InStore,
            state: OrderState::Completed,
            lines: Vec::new(),
            subtotal: zero.clone(),
            tax: zero.clone(),
            discount: zero.clone(),
            total: zero,
            placed_at: DateTime::from_timestamp(0, 0).unwrap(),
            updated_at: DateTime::from_timestamp(0, 0).unwrap(),
            version: None,
        })
    }

    fn versioned_order(updated_at_ms: i64, version: Option<i64>) -> Payload {
        use crate::model::{Currency, Money, Order, SalesChannel};
        let usd = |minor| Money {
            minor,
            currency: Currency::try_from("USD".to_string()).unwrap(),
        };
        let at = |ms| DateTime::from_timestamp_millis(ms).unwrap();
        Payload::Order(Order {
            id: "O-1".into(),
            customer: None,
            location: None,
            channel: SalesChannel::InStore,
            state: OrderState::Completed,
            lines: Vec::new(),
            subtotal: usd(500),
            tax: usd(0),
            discount: usd(0),
            total: usd(500),
            placed_at: at(1_000),
            updated_at: at(updated_at_ms),
            version,
        })
    }

    #[test]
    fn a_refund_naming_nobody_belongs_to_whoever_placed_its_order() {
        // Order A is in the batch (bought by 7); order B's buyer is stored (9); order C is unknown;
        // the last refund names its own buyer (5).
        let payloads = [
            refund("r1", "A"),
            order("A"),
            refund("r2", "B"),
            refund("r3", "C"),
            refund("r4", "B"),
        ];
        let payloads: Vec<&Payload> = payloads.iter().collect();
        let mut people = vec![None, Some(7), None, None, Some(5)];
        assert_eq!(unattributed_refund_orders(&payloads, &people), ["B", "C"]);
        let stored = HashMap::from([("B".to_string(), 9)]);
        attribute_refunds(&payloads, &mut people, &stored);
        assert_eq!(people, [Some(7), Some(7), Some(9), None, Some(5)]);
    }

    #[test]
    fn the_vendors_version_orders_an_order_and_its_update_time_only_without_one() {
        // Square's version 3 was updated a millisecond before version 2 (two devices, one clock
        // behind): the version decides.
        let v2 = ObjectVersion::of("e2", &versioned_order(2_000, Some(2))).unwrap();
        let v3 = ObjectVersion::of("e3", &versioned_order(1_999, Some(3))).unwrap();
        assert_eq!((v2.vendor, v3.vendor), (Some(2), Some(3)));
        assert!(v3.newer_than(&v2));
        assert_eq!(settle(Some(&v3), &[(0, v2.clone())]).current, None);
        // A version stored before contract 0.3 has no vendor version: update times decide, so an
        // upgraded source's next version still replaces it.
        let before_upgrade = ObjectVersion::stored("order", Some(1_500), None, "e1", None);
        assert!(v2.newer_than(&before_upgrade) && !before_upgrade.newer_than(&v2));
        assert_eq!(settle(Some(&before_upgrade), &[(0, v2)]).current, Some(0));
        // Without a vendor version, the later update time is the newer version.
        let early = ObjectVersion::of("a", &versioned_order(1_000, None)).unwrap();
        let late = ObjectVersion::of("b", &versioned_order(2_000, None)).unwrap();
        assert_eq!(late.version, 2_000);
        assert!(late.newer_than(&early) && late.counts);
    }

    #[test]
    fn the_horizon_admits_recent_sales_and_never_history() {
        let now = DateTime::from_timestamp(10 * 86_400, 0).unwrap();
        let horizon = JourneyHorizon::default();
        assert!(horizon.admits(now - Duration::days(3), now, false));
        assert!(!horizon.admits(now - Duration::days(3) - Duration::seconds(1), now, false));
        assert!(!horizon.admits(now, now, true));
    }
}
