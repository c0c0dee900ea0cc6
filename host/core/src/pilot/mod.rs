//! The pilot report's rules: what rapport gave a sink (in a shadow pilot, what it would have sent)
//! beside what the shop's current integration holds (an export, `export`), compared person by
//! person and order by order. People are matched by their normalised email and phone number;
//! the findings are people matched, missing (rapport has them, the export does not) and extra
//! (the export has them, rapport does not); identity conflicts (one contact of the export is
//! several people in rapport, or one person of rapport is several contacts); orders whose totals
//! differ; people whose email marketing consent differs; and the journey messages rapport would
//! have sent.

pub mod export;

use crate::model::{ConsentState, Money};
use chrono::{DateTime, Utc};
use export::{Contact, Order, Subscription};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A person as rapport gave them to the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurPerson {
    pub key: String,
    /// Normalised, as the identity graph holds them.
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    /// Their email marketing choice in force, if they made one.
    pub email_marketing: Option<ConsentState>,
}

/// An order (a completed sale) rapport gave the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurOrder {
    pub order_id: String,
    /// The profile key of the buyer.
    pub person: String,
    pub total: Money,
}

/// A journey message rapport gave the sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OurMessage {
    pub journey: String,
    pub person: String,
    pub at: DateTime<Utc>,
}

/// rapport's side of the comparison.
#[derive(Debug, Clone, Default)]
pub struct Ours {
    pub people: Vec<OurPerson>,
    pub orders: Vec<OurOrder>,
    pub messages: Vec<OurMessage>,
}

/// The export's side: its records with their line numbers.
#[derive(Debug, Clone, Default)]
pub struct Theirs {
    pub contacts: Vec<(usize, Contact)>,
    pub orders: Vec<(usize, Order)>,
}

/// A person found on both sides, once each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matched {
    pub person: String,
    pub line: usize,
}

/// A person rapport gave the sink whom the export does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    pub person: String,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
}

/// A contact of the export rapport did not give the sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Extra {
    pub line: usize,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// Where the two sides disagree on who is who.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "conflict", rename_all = "kebab-case")]
pub enum Conflict {
    /// One contact of the export is two people in rapport: its email names one, its phone another.
    SplitInRapport {
        line: usize,
        email: String,
        phone: String,
        by_email: String,
        by_phone: String,
    },
    /// One person of rapport is several contacts of the export.
    SplitInExport { person: String, lines: Vec<usize> },
}

/// An order both sides hold with different totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TotalDiffers {
    pub order_id: String,
    /// rapport's buyer.
    pub person: String,
    pub line: usize,
    pub ours: Money,
    pub theirs: Money,
}

/// A matched person whose email marketing consent differs: one side may mail them, the other not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentDiffers {
    pub person: String,
    pub line: usize,
    pub email: Option<String>,
    /// `granted`, `revoked`, or none (they never chose).
    pub ours: Option<ConsentState>,
    pub theirs: Subscription,
}

/// The comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub matched: Vec<Matched>,
    pub missing: Vec<Missing>,
    pub extra: Vec<Extra>,
    pub conflicts: Vec<Conflict>,
    /// Orders on both sides.
    pub orders_matched: usize,
    pub totals_differ: Vec<TotalDiffers>,
    /// Order ids rapport gave the sink that the export lacks, and the other way round.
    pub orders_missing: Vec<String>,
    pub orders_extra: Vec<(usize, String)>,
    pub consents_differ: Vec<ConsentDiffers>,
    /// Journey messages rapport would have sent, per journey, and each of them.
    pub journeys: BTreeMap<String, usize>,
    pub messages: Vec<OurMessage>,
}

/// Compares rapport's side with the export's.
pub fn compare(ours: &Ours, theirs: &Theirs) -> Report {
    let mut by_email: HashMap<&str, &OurPerson> = HashMap::new();
    let mut by_phone: HashMap<&str, &OurPerson> = HashMap::new();
    for person in &ours.people {
        by_email.extend(person.emails.iter().map(|e| (e.as_str(), person)));
        by_phone.extend(person.phones.iter().map(|p| (p.as_str(), person)));
    }
    let mut conflicts = Vec::new();
    let mut extra = Vec::new();
    // The contacts each person was found as, and the people a conflict already named.
    let mut found: BTreeMap<&str, Vec<(usize, &Contact)>> = BTreeMap::new();
    let mut in_conflict: BTreeSet<&str> = BTreeSet::new();
    for (line, contact) in &theirs.contacts {
        let email = contact.email.as_deref().and_then(|e| by_email.get(e));
        let phone = contact.phone.as_deref().and_then(|p| by_phone.get(p));
        match (email, phone) {
            (Some(a), Some(b)) if a.key != b.key => {
                conflicts.push(Conflict::SplitInRapport {
                    line: *line,
                    email: contact.email.clone().unwrap_or_default(),
                    phone: contact.phone.clone().unwrap_or_default(),
                    by_email: a.key.clone(),
                    by_phone: b.key.clone(),
                });
                in_conflict.extend([a.key.as_str(), b.key.as_str()]);
            }
            (Some(person), _) | (None, Some(person)) => {
                found
                    .entry(person.key.as_str())
                    .or_default()
                    .push((*line, contact));
            }
            (None, None) => extra.push(Extra {
                line: *line,
                email: contact.email.clone(),
                phone: contact.phone.clone(),
            }),
        }
    }
    let people: HashMap<&str, &OurPerson> =
        ours.people.iter().map(|p| (p.key.as_str(), p)).collect();
    let mut matched = Vec::new();
    let mut consents_differ = Vec::new();
    for (key, contacts) in &found {
        if contacts.len() > 1 {
            conflicts.push(Conflict::SplitInExport {
                person: key.to_string(),
                lines: contacts.iter().map(|(line, _)| *line).collect(),
            });
            in_conflict.insert(*key);
            continue;
        }
        if in_conflict.contains(key) {
            continue;
        }
        let (line, contact) = contacts[0];
        matched.push(Matched {
            person: key.to_string(),
            line,
        });
        let ours = people[key].email_marketing;
        if let Some(theirs) = contact.email_marketing {
            let we_mail = ours == Some(ConsentState::Granted);
            let they_mail = theirs == Subscription::Subscribed;
            if we_mail != they_mail {
                consents_differ.push(ConsentDiffers {
                    person: key.to_string(),
                    line,
                    email: contact.email.clone(),
                    ours,
                    theirs,
                });
            }
        }
    }
    let missing = (ours.people.iter())
        .filter(|p| !found.contains_key(p.key.as_str()) && !in_conflict.contains(p.key.as_str()))
        .map(|p| Missing {
            person: p.key.clone(),
            emails: p.emails.clone(),
            phones: p.phones.clone(),
        })
        .collect();
    let their_orders: BTreeMap<&str, (usize, &Order)> = (theirs.orders.iter())
        .map(|(line, order)| (order.order_id.as_str(), (*line, order)))
        .collect();
    let our_orders: BTreeMap<&str, &OurOrder> = (ours.orders.iter())
        .map(|order| (order.order_id.as_str(), order))
        .collect();
    let mut totals_differ = Vec::new();
    let mut orders_missing = Vec::new();
    let mut orders_matched = 0;
    for (id, order) in &our_orders {
        match their_orders.get(id) {
            Some((line, theirs)) => {
                orders_matched += 1;
                if theirs.total != order.total {
                    totals_differ.push(TotalDiffers {
                        order_id: id.to_string(),
                        person: order.person.clone(),
                        line: *line,
                        ours: order.total.clone(),
                        theirs: theirs.total.clone(),
                    });
                }
            }
            None => orders_missing.push(id.to_string()),
        }
    }
    let orders_extra = (their_orders.iter())
        .filter(|(id, _)| !our_orders.contains_key(*id))
        .map(|(id, (line, _))| (*line, id.to_string()))
        .collect();
    let mut journeys = BTreeMap::new();
    for message in &ours.messages {
        *journeys.entry(message.journey.clone()).or_insert(0) += 1;
    }
    Report {
        matched,
        missing,
        extra,
        conflicts,
        orders_matched,
        totals_differ,
        orders_missing,
        orders_extra,
        consents_differ,
        journeys,
        messages: ours.messages.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Currency;

    fn person(
        key: &str,
        emails: &[&str],
        phones: &[&str],
        consent: Option<ConsentState>,
    ) -> OurPerson {
        OurPerson {
            key: key.into(),
            emails: emails.iter().map(|e| e.to_string()).collect(),
            phones: phones.iter().map(|p| p.to_string()).collect(),
            email_marketing: consent,
        }
    }

    fn contact(email: Option<&str>, phone: Option<&str>, status: Option<Subscription>) -> Contact {
        Contact {
            id: None,
            email: email.map(str::to_string),
            phone: phone.map(str::to_string),
            first_name: None,
            last_name: None,
            email_marketing: status,
        }
    }

    fn gbp(minor: i64) -> Money {
        Money {
            minor,
            currency: Currency::try_from("GBP".to_string()).unwrap(),
        }
    }

    #[test]
    fn people_are_matched_by_email_or_phone_and_the_rest_is_missing_or_extra() {
        use ConsentState::{Granted, Revoked};
        let ours = Ours {
            people: vec![
                person("p-ana", &["ana@x.com"], &["+441"], Some(Granted)),
                person("p-bo", &[], &["+442"], Some(Revoked)),
                person("p-cy", &["cy@x.com"], &[], None),
                person("p-di", &["di@x.com"], &[], Some(Granted)),
            ],
            ..Ours::default()
        };
        let theirs = Theirs {
            contacts: vec![
                (
                    1,
                    contact(Some("ana@x.com"), None, Some(Subscription::Subscribed)),
                ),
                (
                    2,
                    contact(None, Some("+442"), Some(Subscription::Subscribed)),
                ),
                (
                    3,
                    contact(Some("cy@x.com"), None, Some(Subscription::NotSubscribed)),
                ),
                (4, contact(Some("new@x.com"), Some("+449"), None)),
            ],
            orders: vec![],
        };
        let report = compare(&ours, &theirs);
        let matched: Vec<(&str, usize)> = report
            .matched
            .iter()
            .map(|m| (m.person.as_str(), m.line))
            .collect();
        assert_eq!(matched, [("p-ana", 1), ("p-bo", 2), ("p-cy", 3)]);
        assert_eq!(report.missing.len(), 1);
        assert_eq!(report.missing[0].person, "p-di");
        assert_eq!(
            report.extra,
            [Extra {
                line: 4,
                email: Some("new@x.com".into()),
                phone: Some("+449".into())
            }]
        );
        // Bo refused in rapport and is subscribed in the export; Cy chose nothing and is not
        // subscribed: only Bo differs.
        assert_eq!(
            report.consents_differ,
            [ConsentDiffers {
                person: "p-bo".into(),
                line: 2,
                email: None,
                ours: Some(Revoked),
                theirs: Subscription::Subscribed
            }]
        );
        assert!(report.conflicts.is_empty());
    }

    #[test]
    fn a_contact_that_is_two_people_and_a_person_that_is_two_contacts_are_conflicts() {
        let ours = Ours {
            people: vec![
                person("p-a", &["a@x.com"], &[], None),
                person("p-b", &["b@x.com"], &["+445"], None),
                person("p-c", &["c@x.com"], &["+446"], None),
            ],
            ..Ours::default()
        };
        let theirs = Theirs {
            contacts: vec![
                // a's email with b's phone.
                (1, contact(Some("a@x.com"), Some("+445"), None)),
                // c twice: by email, and by phone under another address.
                (2, contact(Some("c@x.com"), None, None)),
                (3, contact(Some("other@x.com"), Some("+446"), None)),
            ],
            orders: vec![],
        };
        let report = compare(&ours, &theirs);
        assert_eq!(
            report.conflicts,
            [
                Conflict::SplitInRapport {
                    line: 1,
                    email: "a@x.com".into(),
                    phone: "+445".into(),
                    by_email: "p-a".into(),
                    by_phone: "p-b".into()
                },
                Conflict::SplitInExport {
                    person: "p-c".into(),
                    lines: vec![2, 3]
                }
            ]
        );
        assert!(report.matched.is_empty(), "{:?}", report.matched);
        assert!(
            report.missing.is_empty(),
            "people in a conflict are not missing"
        );
        assert!(report.extra.is_empty());
    }

    #[test]
    fn orders_compare_by_id_and_journey_messages_are_counted() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let ours = Ours {
            people: vec![],
            orders: vec![
                OurOrder {
                    order_id: "R1".into(),
                    person: "p-a".into(),
                    total: gbp(1250),
                },
                OurOrder {
                    order_id: "R2".into(),
                    person: "p-a".into(),
                    total: gbp(800),
                },
                OurOrder {
                    order_id: "R3".into(),
                    person: "p-a".into(),
                    total: gbp(100),
                },
            ],
            messages: vec![
                OurMessage {
                    journey: "thanks".into(),
                    person: "p-a".into(),
                    at,
                },
                OurMessage {
                    journey: "thanks".into(),
                    person: "p-b".into(),
                    at,
                },
                OurMessage {
                    journey: "win-back".into(),
                    person: "p-b".into(),
                    at,
                },
            ],
        };
        let order = |id: &str, minor| Order {
            order_id: id.into(),
            email: None,
            total: gbp(minor),
        };
        let theirs = Theirs {
            contacts: vec![],
            orders: vec![
                (7, order("R1", 1250)),
                (8, order("R2", 850)),
                (9, order("R9", 5)),
            ],
        };
        let report = compare(&ours, &theirs);
        assert_eq!(report.orders_matched, 2);
        assert_eq!(
            report.totals_differ,
            [TotalDiffers {
                order_id: "R2".into(),
                person: "p-a".into(),
                line: 8,
                ours: gbp(800),
                theirs: gbp(850)
            }]
        );
        assert_eq!(report.orders_missing, ["R3"]);
        assert_eq!(report.orders_extra, [(9, "R9".to_string())]);
        assert_eq!(
            report.journeys,
            BTreeMap::from([("thanks".to_string(), 2), ("win-back".to_string(), 1)])
        );
        assert_eq!(report.messages.len(), 3);
    }
}
