//! Staff cues: what the counter should know about the person in front of it, said as a few
//! friendly sentences, and the lines a receipt may carry for them. The host reads the facts (the
//! staff view's values, what the person bought, the stored product pairs); the wording, the order
//! and the limits are decided here, so they are tested with plain values.
//!
//! A cue names the person by first name only and never shows a contact detail. The receipt
//! footer is stricter still, for it leaves the shop on paper: at most [`FOOTER_LINES`] lines of at
//! most [`FOOTER_WIDTH`] characters, the first name the only personal word, and no service issue
//! (its title is free text a colleague typed).

use crate::pairs::{Item, Rule};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeSet;

/// The most lines a receipt footer has.
pub const FOOTER_LINES: usize = 3;
/// The most characters on one line of a receipt footer (a 58 mm till printer's line).
pub const FOOTER_WIDTH: usize = 40;

/// What a cue is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CueKind {
    /// Loyalty tier and points.
    Loyalty,
    /// The birthday falls in this month.
    Birthday,
    /// A service issue is open.
    ServiceIssue,
    /// When they were last in, and what they buy most.
    LastVisit,
    /// Something that goes with what they bought.
    Accessory,
}

/// One prompt for the staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cue {
    pub kind: CueKind,
    pub text: String,
}

/// An item to suggest, and the item bought that it goes with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    /// Whether the items are products or categories.
    pub by: crate::pairs::PairsBy,
    pub item: Item,
    pub because_of: Item,
    pub lift: f64,
}

/// What the items a person bought are, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bought {
    pub products: BTreeSet<Item>,
    pub categories: BTreeSet<Item>,
}

/// The stored pair rules, best first, by kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct PairRules<'a> {
    pub products: &'a [Rule],
    pub categories: &'a [Rule],
}

/// What the cues are worked out from: the staff view's values, in the shop's time.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub first_name: Option<&'a str>,
    pub tier: Option<&'a str>,
    pub points: Option<i64>,
    /// The day of the month, when the birthday falls in `today`'s month.
    pub birthday_this_month: Option<u8>,
    /// Titles of the open service issues, oldest first.
    pub open_issues: &'a [String],
    pub last_visit: Option<NaiveDate>,
    pub favoured_category: Option<&'a str>,
    pub today: NaiveDate,
    pub bought: &'a Bought,
    pub pairs: PairRules<'a>,
}

/// The cues for one person, and their receipt footer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cues {
    pub first_name: Option<String>,
    pub cues: Vec<Cue>,
    pub suggestion: Option<Suggestion>,
    /// At most [`FOOTER_LINES`] lines of at most [`FOOTER_WIDTH`] characters.
    pub receipt_footer: Vec<String>,
}

/// The accessory to suggest: the highest-lift rule whose antecedent the person bought and whose
/// consequent they have not, among the product rules first, then among the category rules (a
/// tie goes to the rule stored first).
pub fn suggestion(bought: &Bought, pairs: PairRules) -> Option<Suggestion> {
    let best = |by, rules: &[Rule], have: &BTreeSet<Item>| {
        rules
            .iter()
            .filter(|r| have.contains(&r.antecedent) && !have.contains(&r.consequent))
            .fold(None::<&Rule>, |best, r| match best {
                Some(b) if b.lift >= r.lift => Some(b),
                _ => Some(r),
            })
            .map(|r| Suggestion {
                by,
                item: r.consequent.clone(),
                because_of: r.antecedent.clone(),
                lift: r.lift,
            })
    };
    use crate::pairs::PairsBy;
    best(PairsBy::Product, pairs.products, &bought.products)
        .or_else(|| best(PairsBy::Category, pairs.categories, &bought.categories))
}

/// The cues and the receipt footer.
pub fn cues(facts: &Facts) -> Cues {
    let first_name = facts
        .first_name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .and_then(|n| n.split_whitespace().next());
    let who = first_name.unwrap_or("This customer");
    let suggestion = suggestion(facts.bought, facts.pairs);
    let mut cues = Vec::new();
    let mut cue = |kind, text: String| cues.push(Cue { kind, text });

    if let Some(text) = loyalty_line(facts.tier, facts.points) {
        cue(CueKind::Loyalty, format!("{who}: {text}"));
    }
    if let Some(day) = facts.birthday_this_month {
        cue(CueKind::Birthday, birthday_cue(who, day, facts.today));
    }
    match facts.open_issues {
        [] => {}
        [one] => cue(
            CueKind::ServiceIssue,
            format!("Open service issue: \u{201c}{one}\u{201d}. Ask how it is going."),
        ),
        [.., latest] => cue(
            CueKind::ServiceIssue,
            format!(
                "{} open service issues, the latest: \u{201c}{latest}\u{201d}. Ask how it is going.",
                facts.open_issues.len()
            ),
        ),
    }
    if let Some(text) = visit_cue(who, facts) {
        cue(CueKind::LastVisit, text);
    }
    if let Some(s) = &suggestion {
        let text = match s.by {
            crate::pairs::PairsBy::Product => format!(
                "Suggest {}: it goes well with the {} {who} bought.",
                s.item, s.because_of
            ),
            crate::pairs::PairsBy::Category => format!(
                "Suggest something from {}: it goes well with the {} {who} buys.",
                s.item, s.because_of
            ),
        };
        cue(CueKind::Accessory, text);
    }
    let receipt_footer = footer(first_name, facts, suggestion.as_ref());
    Cues {
        first_name: first_name.map(str::to_owned),
        cues,
        suggestion,
        receipt_footer,
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// "Gold member, 120 points", "Gold member", "120 points", or nothing.
fn loyalty_line(tier: Option<&str>, points: Option<i64>) -> Option<String> {
    let points = points.map(|p| match p {
        1 => "1 point".to_owned(),
        p => format!("{p} points"),
    });
    match (tier.map(str::trim).filter(|t| !t.is_empty()), points) {
        (Some(tier), Some(points)) => Some(format!("{} member, {points}", capitalised(tier))),
        (Some(tier), None) => Some(format!("{} member", capitalised(tier))),
        (None, Some(points)) => Some(points),
        (None, None) => None,
    }
}

fn ordinal(day: u8) -> String {
    let suffix = match (day % 10, day % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{day}{suffix}")
}

fn birthday_cue(who: &str, day: u8, today: NaiveDate) -> String {
    use chrono::Datelike;
    let today = today.day() as u8;
    match day.cmp(&today) {
        std::cmp::Ordering::Equal => {
            format!("It is {who}'s birthday today: wish them well and offer the birthday perk.")
        }
        std::cmp::Ordering::Greater => format!(
            "{who}'s birthday is on the {}: the birthday perk is theirs this month.",
            ordinal(day)
        ),
        std::cmp::Ordering::Less => format!(
            "{who}'s birthday was on the {}: the birthday perk is still theirs this month.",
            ordinal(day)
        ),
    }
}

/// "today", "yesterday", "12 days ago", "about 3 months ago".
fn since(day: NaiveDate, today: NaiveDate) -> String {
    match (today - day).num_days() {
        ..=0 => "earlier today".to_owned(),
        1 => "yesterday".to_owned(),
        n @ 2..=44 => format!("{n} days ago"),
        n @ 45..=364 => format!("about {} months ago", (n + 15) / 30),
        n => match n / 365 {
            1 => "over a year ago".to_owned(),
            years => format!("over {years} years ago"),
        },
    }
}

fn visit_cue(who: &str, facts: &Facts) -> Option<String> {
    let favoured = facts
        .favoured_category
        .map(str::trim)
        .filter(|c| !c.is_empty());
    match (facts.last_visit, favoured) {
        (Some(day), Some(category)) => Some(format!(
            "{who} last came in {}, and mostly buys {category}.",
            since(day, facts.today)
        )),
        (Some(day), None) => Some(format!("{who} last came in {}.", since(day, facts.today))),
        (None, Some(category)) => Some(format!("{who} mostly buys {category}.")),
        (None, None) => None,
    }
}

/// The receipt footer: a thank-you, the loyalty standing, a birthday wish and the suggestion, in
/// that order, each kept whole while it fits in the lines left (a line too long is cut at a word
/// with an ellipsis).
fn footer(first_name: Option<&str>, facts: &Facts, suggestion: Option<&Suggestion>) -> Vec<String> {
    let mut sentences = vec![match first_name {
        Some(name) => format!("Thank you, {name}!"),
        None => "Thank you!".to_owned(),
    }];
    sentences.extend(loyalty_line(facts.tier, facts.points).map(|l| format!("{l}.")));
    if facts.birthday_this_month.is_some() {
        sentences.push("Happy birthday month: ask for a treat.".to_owned());
    }
    if let Some(s) = suggestion {
        sentences.push(format!("Goes well with your {}: {}.", s.because_of, s.item));
    }
    let mut lines: Vec<String> = Vec::new();
    for sentence in sentences {
        let wrapped = wrap(&sentence, FOOTER_WIDTH);
        if lines.len() + wrapped.len() <= FOOTER_LINES {
            lines.extend(wrapped);
        } else if lines.is_empty() {
            // Only the thank-you can be first; a name too long for three lines is cut.
            lines.extend(wrapped.into_iter().take(FOOTER_LINES));
        }
    }
    lines
}

/// `text` in lines of at most `width` characters, broken at spaces; a word longer than a line is
/// cut with an ellipsis.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let word = truncate(word, width);
        let needed = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
        if needed > width && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// `text` cut to at most `width` characters, the last one an ellipsis when cut.
fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('\u{2026}');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pairs::PairsBy;

    fn item(text: &str) -> Item {
        Item::new(text).unwrap()
    }

    fn items(texts: &[&str]) -> BTreeSet<Item> {
        texts.iter().map(|t| item(t)).collect()
    }

    fn rule(antecedent: &str, consequent: &str, lift: f64) -> Rule {
        Rule {
            antecedent: item(antecedent),
            consequent: item(consequent),
            support: 0.1,
            confidence: 0.5,
            lift,
            baskets: 5,
            antecedent_baskets: 10,
            consequent_baskets: 10,
        }
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn facts<'a>(bought: &'a Bought, issues: &'a [String], pairs: PairRules<'a>) -> Facts<'a> {
        Facts {
            first_name: Some("Ana"),
            tier: Some("gold"),
            points: Some(120),
            birthday_this_month: Some(14),
            open_issues: issues,
            last_visit: Some(day("2026-05-05")),
            favoured_category: Some("coffee"),
            today: day("2026-05-10"),
            bought,
            pairs,
        }
    }

    #[test]
    fn the_suggestion_is_the_best_product_pair_not_yet_bought_then_a_category_pair() {
        let products = [
            rule("Grinder", "Mug", 4.0),
            rule("Latte", "Cake", 3.0),
            rule("Grinder", "Filters", 2.5),
            rule("Grinder", "Beans", 3.5),
        ];
        let categories = [rule("equipment", "paper", 5.0)];
        let pairs = PairRules {
            products: &products,
            categories: &categories,
        };
        // Mug is the best for a Grinder, but bought already; Beans comes next.
        let bought = Bought {
            products: items(&["Grinder", "Mug"]),
            categories: items(&["equipment"]),
        };
        let s = suggestion(&bought, pairs).unwrap();
        assert_eq!(
            (s.by, s.item.as_str(), s.because_of.as_str(), s.lift),
            (PairsBy::Product, "Beans", "Grinder", 3.5)
        );
        // No product rule applies: the category rule does.
        let bought = Bought {
            products: items(&["Tea"]),
            categories: items(&["equipment"]),
        };
        let s = suggestion(&bought, pairs).unwrap();
        assert_eq!((s.by, s.item.as_str()), (PairsBy::Category, "paper"));
        // Everything that goes with what they bought, they have.
        let bought = Bought {
            products: items(&["Latte", "Cake"]),
            categories: items(&["equipment", "paper"]),
        };
        assert_eq!(suggestion(&bought, pairs), None);
        assert_eq!(suggestion(&Bought::default(), pairs), None);
    }

    #[test]
    fn a_known_customer_gets_every_cue_in_order() {
        let products = [rule("Grinder", "Filters", 2.5)];
        let bought = Bought {
            products: items(&["Grinder"]),
            categories: items(&["equipment"]),
        };
        let issues = ["grinder returned twice".to_owned()];
        let pairs = PairRules {
            products: &products,
            categories: &[],
        };
        let got = cues(&facts(&bought, &issues, pairs));
        let kinds: Vec<CueKind> = got.cues.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [
                CueKind::Loyalty,
                CueKind::Birthday,
                CueKind::ServiceIssue,
                CueKind::LastVisit,
                CueKind::Accessory
            ]
        );
        let texts: Vec<&str> = got.cues.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Ana: Gold member, 120 points",
                "Ana's birthday is on the 14th: the birthday perk is theirs this month.",
                "Open service issue: \u{201c}grinder returned twice\u{201d}. Ask how it is going.",
                "Ana last came in 5 days ago, and mostly buys coffee.",
                "Suggest Filters: it goes well with the Grinder Ana bought.",
            ]
        );
        assert_eq!(
            got.receipt_footer,
            [
                "Thank you, Ana!",
                "Gold member, 120 points.",
                "Happy birthday month: ask for a treat.",
            ]
        );
        assert_eq!(got.first_name.as_deref(), Some("Ana"));
    }

    #[test]
    fn a_stranger_gets_no_cue_and_a_plain_thank_you() {
        let bought = Bought::default();
        let got = cues(&Facts {
            first_name: None,
            tier: None,
            points: None,
            birthday_this_month: None,
            open_issues: &[],
            last_visit: None,
            favoured_category: None,
            today: day("2026-05-10"),
            bought: &bought,
            pairs: PairRules::default(),
        });
        assert_eq!(got.cues, []);
        assert_eq!(got.receipt_footer, ["Thank you!"]);
    }

    #[test]
    fn birthdays_and_visits_are_said_relative_to_today() {
        let today = day("2026-05-10");
        assert!(birthday_cue("Ana", 10, today).contains("birthday today"));
        assert!(birthday_cue("Ana", 2, today).contains("was on the 2nd"));
        assert!(birthday_cue("Ana", 23, today).contains("is on the 23rd"));
        assert_eq!(ordinal(11), "11th");
        assert_eq!(ordinal(21), "21st");
        assert_eq!(since(today, today), "earlier today");
        assert_eq!(since(day("2026-05-09"), today), "yesterday");
        assert_eq!(since(day("2026-02-09"), today), "about 3 months ago");
        assert_eq!(since(day("2024-05-09"), today), "over 2 years ago");
    }

    #[test]
    fn several_issues_are_counted_and_the_latest_is_named() {
        let bought = Bought::default();
        let issues = ["late order".to_owned(), "wrong size".to_owned()];
        let got = cues(&facts(&bought, &issues, PairRules::default()));
        let issue = got
            .cues
            .iter()
            .find(|c| c.kind == CueKind::ServiceIssue)
            .unwrap();
        assert!(issue.text.starts_with("2 open service issues"), "{issue:?}");
        assert!(issue.text.contains("wrong size"), "{issue:?}");
        assert!(
            !got.receipt_footer.iter().any(|l| l.contains("size")),
            "issues stay off the receipt"
        );
    }

    #[test]
    fn the_footer_keeps_three_lines_of_forty_characters_and_the_first_name_only() {
        let products = [rule(
            "Single-origin Ethiopian Yirgacheffe beans",
            "Hand-thrown stoneware pour-over dripper",
            2.0,
        )];
        let bought = Bought {
            products: items(&["Single-origin Ethiopian Yirgacheffe beans"]),
            categories: BTreeSet::new(),
        };
        for (first_name, tier) in [
            (Some("Ana Lima"), Some("platinum")),
            (Some("Maximiliana-Konstantina-Wilhelmina-Augusta"), None),
            (
                Some("Bo"),
                Some("a very long tier name that would never fit"),
            ),
        ] {
            let pairs = PairRules {
                products: &products,
                categories: &[],
            };
            let mut f = facts(&bought, &[], pairs);
            f.first_name = first_name;
            f.tier = tier;
            f.birthday_this_month = None;
            let got = cues(&f);
            assert!(
                (1..=FOOTER_LINES).contains(&got.receipt_footer.len()),
                "{got:?}"
            );
            for line in &got.receipt_footer {
                assert!(line.chars().count() <= FOOTER_WIDTH, "{line:?}");
            }
            let text = got.receipt_footer.join("\n");
            assert!(!text.contains("Lima"), "no surname: {text}");
        }
        assert_eq!(
            wrap("Maximiliana-Konstantina-Wilhelmina-Augusta!", 40),
            ["Maximiliana-Konstantina-Wilhelmina-Augu\u{2026}"]
        );
        assert_eq!(
            wrap("Goes well with your Grinder: Filters and more filters.", 20),
            [
                "Goes well with your",
                "Grinder: Filters and",
                "more filters."
            ]
        );
    }

    #[test]
    fn only_the_first_given_name_is_used_even_if_the_pos_stored_more() {
        let bought = Bought::default();
        let mut f = facts(&bought, &[], PairRules::default());
        f.first_name = Some("  Ana Maria ");
        let got = cues(&f);
        assert_eq!(got.first_name.as_deref(), Some("Ana"));
        assert_eq!(got.receipt_footer[0], "Thank you, Ana!");
        let all = serde_json::to_string(&got).unwrap();
        assert!(!all.contains("Maria"), "{all}");
    }
}
