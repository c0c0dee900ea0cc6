//! Product pairs: association rules over baskets, so the shop learns what sells together (the
//! accessory a journey or the counter may suggest). A basket is one counted sale, seen as the set
//! of items it holds: products, or the categories of its lines. A rule A → B is about single
//! items, and B → A is a rule of its own:
//!
//! - `support` = baskets holding A and B / all baskets;
//! - `confidence` = baskets holding A and B / baskets holding A;
//! - `lift` = confidence / (baskets holding B / all baskets): how much more often B comes with A
//!   than in any basket. Above 1 they go together; at 1 or below, A says nothing for B.
//!
//! "All baskets" are those holding at least one item of the kind mined: a sale whose lines are
//! gone (summarised by retention) or, for categories, whose lines name no category tells nothing
//! about what goes together.
//!
//! A small shop's baskets are mostly chance, so rules are guarded ([`Guards`]): below a minimum
//! number of baskets no rule is reported at all (the refusal says how many are missing), and a
//! rule needs enough baskets holding both, enough support and confidence, and a lift above 1.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

/// What the items of a basket are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PairsBy {
    /// Products: a line's sku when it has one (stable across renames, and what POS and CRM
    /// share), else its product name. One product sold under two skus is two products.
    Product,
    /// The categories of the lines.
    Category,
}

impl PairsBy {
    pub const ALL: [PairsBy; 2] = [PairsBy::Product, PairsBy::Category];

    pub fn as_str(self) -> &'static str {
        match self {
            PairsBy::Product => "product",
            PairsBy::Category => "category",
        }
    }
}

impl fmt::Display for PairsBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PairsBy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "product" => Ok(PairsBy::Product),
            "category" => Ok(PairsBy::Category),
            other => Err(format!("{other:?} is neither \"product\" nor \"category\"")),
        }
    }
}

/// One item of a basket: a product's id (sku or name) or a category.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Item(String);

impl Item {
    /// The item a line's text names, trimmed; `None` when it is empty.
    pub fn new(text: &str) -> Option<Item> {
        let text = text.trim();
        (!text.is_empty()).then(|| Item(text.to_owned()))
    }

    /// A product, by its sku when it has one, else by its name.
    pub fn product(sku: Option<&str>, name: &str) -> Option<Item> {
        sku.and_then(Item::new).or_else(|| Item::new(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The items of one sale; an item on several lines is in it once.
pub type Basket = BTreeSet<Item>;

/// What a rule must clear to be reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Guards {
    /// Baskets the shop must have (holding at least one item of the kind mined) before any rule.
    pub min_baskets: u64,
    /// Baskets that must hold both items of a rule.
    pub min_pair_baskets: u64,
    /// Least support, in [0, 1].
    pub min_support: f64,
    /// Least confidence, in [0, 1].
    pub min_confidence: f64,
}

/// One association rule: buyers of `antecedent` also take `consequent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub antecedent: Item,
    pub consequent: Item,
    pub support: f64,
    pub confidence: f64,
    pub lift: f64,
    /// Baskets holding both.
    pub baskets: u64,
    /// Baskets holding the antecedent.
    pub antecedent_baskets: u64,
    /// Baskets holding the consequent.
    pub consequent_baskets: u64,
}

/// The rules of a set of baskets, best first, and how many baskets they were mined from.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Baskets holding at least one item.
    pub baskets: u64,
    pub rules: Vec<Rule>,
}

/// Why no rule is reported: too few baskets to tell a pair from chance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "too few baskets to tell what sells together: {have} sales with items in the window, rapport \
     needs {need} ({short} more) before it reports any pair"
)]
pub struct TooFewBaskets {
    pub have: u64,
    pub need: u64,
    pub short: u64,
}

/// Mines the rules of `baskets` that clear `guards`, best first: by lift, then confidence, then
/// baskets holding both (each higher first), then antecedent and consequent by name. Ratios are
/// compared exactly, from the counts.
pub fn mine(baskets: &[Basket], guards: &Guards) -> Result<Rules, TooFewBaskets> {
    let filled: Vec<&Basket> = baskets.iter().filter(|b| !b.is_empty()).collect();
    let total = filled.len() as u64;
    if total < guards.min_baskets {
        return Err(TooFewBaskets {
            have: total,
            need: guards.min_baskets,
            short: guards.min_baskets - total,
        });
    }
    let mut holding: HashMap<&Item, u64> = HashMap::new();
    let mut together: HashMap<(&Item, &Item), u64> = HashMap::new();
    for basket in &filled {
        for (i, a) in basket.iter().enumerate() {
            *holding.entry(a).or_default() += 1;
            for b in basket.iter().skip(i + 1) {
                *together.entry((a, b)).or_default() += 1;
            }
        }
    }
    let mut rules = Vec::new();
    for (&(a, b), &both) in &together {
        for (antecedent, consequent) in [(a, b), (b, a)] {
            let rule = Counts {
                both,
                antecedent: holding[antecedent],
                consequent: holding[consequent],
                total,
            };
            if rule.clears(guards) {
                rules.push((rule, antecedent, consequent));
            }
        }
    }
    rules.sort_by(|(x, xa, xc), (y, ya, yc)| {
        y.lift_cmp(x)
            .then_with(|| y.confidence_cmp(x))
            .then_with(|| y.both.cmp(&x.both))
            .then_with(|| (xa, xc).cmp(&(ya, yc)))
    });
    Ok(Rules {
        baskets: total,
        rules: rules
            .into_iter()
            .map(|(counts, antecedent, consequent)| counts.rule(antecedent, consequent))
            .collect(),
    })
}

/// The counts a rule's measures are ratios of.
#[derive(Debug, Clone, Copy)]
struct Counts {
    both: u64,
    antecedent: u64,
    consequent: u64,
    total: u64,
}

impl Counts {
    fn support(&self) -> f64 {
        self.both as f64 / self.total as f64
    }

    fn confidence(&self) -> f64 {
        self.both as f64 / self.antecedent as f64
    }

    /// both · total / (antecedent · consequent).
    fn lift(&self) -> f64 {
        (self.both as f64 * self.total as f64) / (self.antecedent as f64 * self.consequent as f64)
    }

    fn clears(&self, guards: &Guards) -> bool {
        let lift_above_one = u128::from(self.both) * u128::from(self.total)
            > u128::from(self.antecedent) * u128::from(self.consequent);
        self.both >= guards.min_pair_baskets
            && self.support() >= guards.min_support
            && self.confidence() >= guards.min_confidence
            && lift_above_one
    }

    fn lift_cmp(&self, other: &Counts) -> Ordering {
        let mine = u128::from(self.both) * u128::from(self.total);
        let theirs = u128::from(other.both) * u128::from(other.total);
        (mine * u128::from(other.antecedent) * u128::from(other.consequent))
            .cmp(&(theirs * u128::from(self.antecedent) * u128::from(self.consequent)))
    }

    fn confidence_cmp(&self, other: &Counts) -> Ordering {
        (u128::from(self.both) * u128::from(other.antecedent))
            .cmp(&(u128::from(other.both) * u128::from(self.antecedent)))
    }

    fn rule(&self, antecedent: &Item, consequent: &Item) -> Rule {
        Rule {
            antecedent: antecedent.clone(),
            consequent: consequent.clone(),
            support: self.support(),
            confidence: self.confidence(),
            lift: self.lift(),
            baskets: self.both,
            antecedent_baskets: self.antecedent,
            consequent_baskets: self.consequent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basket(items: &[&str]) -> Basket {
        items.iter().map(|i| Item::new(i).unwrap()).collect()
    }

    /// `n` copies of a basket.
    fn times(n: usize, items: &[&str]) -> Vec<Basket> {
        vec![basket(items); n]
    }

    fn open() -> Guards {
        Guards {
            min_baskets: 1,
            min_pair_baskets: 1,
            min_support: 0.0,
            min_confidence: 0.0,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// 20 baskets: 6 {grinder, filters}, 2 {grinder}, 4 {filters, beans}, 8 {beans}.
    /// grinder 8, filters 10, beans 12; grinder+filters 6, filters+beans 4, grinder+beans 0.
    fn shop() -> Vec<Basket> {
        [
            times(6, &["grinder", "filters"]),
            times(2, &["grinder"]),
            times(4, &["filters", "beans"]),
            times(8, &["beans"]),
        ]
        .concat()
    }

    #[test]
    fn measures_match_the_hand_computed_ones() {
        let mined = mine(&shop(), &open()).unwrap();
        assert_eq!(mined.baskets, 20);
        // grinder → filters: support 6/20 = 0.3, confidence 6/8 = 0.75, lift 0.75 / (10/20) = 1.5.
        // filters → grinder: confidence 6/10 = 0.6, lift 0.6 / (8/20) = 1.5.
        // filters → beans: 4/10 = 0.4 / (12/20) = 0.667 and beans → filters: 4/12 / (10/20) =
        // 0.667: lift below 1, so neither is a rule.
        let got: Vec<(&str, &str, u64)> = mined
            .rules
            .iter()
            .map(|r| (r.antecedent.as_str(), r.consequent.as_str(), r.baskets))
            .collect();
        assert_eq!(got, [("grinder", "filters", 6), ("filters", "grinder", 6)]);
        let first = &mined.rules[0];
        assert!(close(first.support, 0.3));
        assert!(close(first.confidence, 0.75));
        assert!(close(first.lift, 1.5));
        assert_eq!(
            (first.antecedent_baskets, first.consequent_baskets),
            (8, 10)
        );
        let second = &mined.rules[1];
        assert!(close(second.support, 0.3));
        assert!(close(second.confidence, 0.6));
        assert!(close(second.lift, 1.5));
    }

    #[test]
    fn an_item_twice_in_a_basket_counts_once_and_empty_baskets_do_not_count() {
        // {a, b} ×3, {c} ×1, and two empty baskets (no line left): 4 baskets.
        let mut baskets = times(3, &["a", "b"]);
        baskets.push(basket(&["c", "c"]));
        baskets.extend([Basket::new(), Basket::new()]);
        let mined = mine(&baskets, &open()).unwrap();
        assert_eq!(mined.baskets, 4);
        // a → b: support 3/4, confidence 3/3 = 1, lift 1 / (3/4) = 4/3.
        let rule = &mined.rules[0];
        assert!(close(rule.support, 0.75));
        assert!(close(rule.confidence, 1.0));
        assert!(close(rule.lift, 4.0 / 3.0));
    }

    #[test]
    fn too_few_baskets_are_refused_with_the_shortfall() {
        let guards = Guards {
            min_baskets: 25,
            ..open()
        };
        let mut baskets = shop();
        baskets.push(Basket::new());
        assert_eq!(
            mine(&baskets, &guards),
            Err(TooFewBaskets {
                have: 20,
                need: 25,
                short: 5
            })
        );
        let text = mine(&baskets, &guards).unwrap_err().to_string();
        assert!(
            text.contains("20 sales") && text.contains("needs 25 (5 more)"),
            "{text}"
        );
    }

    #[test]
    fn each_guard_drops_the_noise_it_is_for() {
        // 100 baskets: {a, b} ×2 (lift 2/(2·2)·100 = 50, but two baskets are chance),
        // {c, d} ×6, {c} ×14, {d} ×4, {e} ×74.
        // c 20, d 10: c → d support 0.06, confidence 6/20 = 0.3, lift 0.3 / 0.1 = 3;
        // d → c confidence 6/10 = 0.6, lift 0.6 / 0.2 = 3.
        let baskets = [
            times(2, &["a", "b"]),
            times(6, &["c", "d"]),
            times(14, &["c"]),
            times(4, &["d"]),
            times(74, &["e"]),
        ]
        .concat();
        let names = |guards: &Guards| -> Vec<String> {
            mine(&baskets, guards)
                .unwrap()
                .rules
                .iter()
                .map(|r| format!("{}>{}", r.antecedent, r.consequent))
                .collect()
        };
        assert_eq!(names(&open()), ["a>b", "b>a", "d>c", "c>d"]);
        let counted = Guards {
            min_pair_baskets: 5,
            ..open()
        };
        assert_eq!(names(&counted), ["d>c", "c>d"]);
        let supported = Guards {
            min_support: 0.05,
            ..open()
        };
        assert_eq!(names(&supported), ["d>c", "c>d"]);
        let confident = Guards {
            min_pair_baskets: 5,
            min_confidence: 0.5,
            ..open()
        };
        assert_eq!(names(&confident), ["d>c"]);
        let too_rare = Guards {
            min_support: 0.07,
            ..open()
        };
        assert!(names(&too_rare).is_empty());
    }

    #[test]
    fn equal_lifts_sort_by_confidence_then_baskets_then_name() {
        // 8 baskets: {x, y} ×2, {p, q} ×2, {x}, {q} ×3. x 3, y 2, p 2, q 5.
        // y → x: conf 1, lift 1/(3/8) = 8/3; x → y: conf 2/3, lift (2/3)/(2/8) = 8/3;
        // p → q: conf 1, lift 1/(5/8) = 1.6; q → p: conf 2/5, lift (2/5)/(2/8) = 1.6.
        let baskets = [
            times(2, &["x", "y"]),
            times(2, &["p", "q"]),
            times(1, &["x"]),
            times(3, &["q"]),
        ]
        .concat();
        let order: Vec<String> = mine(&baskets, &open())
            .unwrap()
            .rules
            .iter()
            .map(|r| format!("{}>{}", r.antecedent, r.consequent))
            .collect();
        assert_eq!(order, ["y>x", "x>y", "p>q", "q>p"]);
        // Two rules alike in every measure go by name: {m, n} ×2 and {k} ×2 give m → n and n → m
        // lift 2 and confidence 1 each.
        let twins = [times(2, &["n", "m"]), times(2, &["k"])].concat();
        let order: Vec<String> = mine(&twins, &open())
            .unwrap()
            .rules
            .iter()
            .map(|r| format!("{}>{}", r.antecedent, r.consequent))
            .collect();
        assert_eq!(order, ["m>n", "n>m"]);
    }

    #[test]
    fn products_are_known_by_sku_else_name() {
        assert_eq!(Item::product(Some(" L-12 "), "Latte"), Item::new("L-12"));
        assert_eq!(Item::product(Some(""), "Latte "), Item::new("Latte"));
        assert_eq!(Item::product(None, "  "), None);
        assert_eq!("category".parse(), Ok(PairsBy::Category));
        assert!("brand".parse::<PairsBy>().is_err());
    }
}
