//! Generated items and the ground truth about them.
//!
//! Each source's items come from `fastrand::Rng::with_seed(seed ^ fnv(name))`,
//! so the same seed always yields the same pages. Mostly valid items, plus
//! a fixed share (about 2% per reason, 4% duplicates, at least one of each
//! once a source has 30 items) of invalid items and duplicates placed at
//! random. Every item's fate under SPEC §5 is recorded in [`Truth`], and
//! [`SourceTruth::expected`] replays SPEC's first-wins dedupe over any page
//! order, so tests compare the pipeline's counts with what was served.

use std::collections::{BTreeMap, BTreeSet};

use fastrand::Rng;
use serde_json::{json, Value};

use crate::scenario::{MockSource, Shape};

/// What a correct SPEC §5 normalizer makes of one served item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemTruth {
    /// A valid record with this normalized id (its key is `source:id`).
    Valid {
        /// The id as SPEC §5 writes it (integer ids as decimal strings).
        id: String,
    },
    /// Invalid for this reason: `not_an_object`, `missing_id`,
    /// `missing_price` or `bad_price`.
    Invalid(&'static str),
}

/// The items a source serves, page by page.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceTruth {
    /// Source name.
    pub name: String,
    /// `pages[i]` = items of page `i + 1`, in order.
    pub pages: Vec<Vec<ItemTruth>>,
    /// Whether pages past the last one exist (see `MockSource::endless`).
    pub endless: bool,
    /// Items per page; also the size of filler pages of endless sources.
    pub items_per_page: usize,
    /// Item shape (decides how filler ids look).
    pub shape: Shape,
}

/// What the server serves, for every source of the scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    /// One entry per source, in scenario order.
    pub sources: Vec<SourceTruth>,
}

/// Counts a correct pipeline reports for a given sequence of pages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expected {
    /// Items handed to the processor.
    pub items: u64,
    /// Keys (`source:id`) of the records written.
    pub keys: BTreeSet<String>,
    /// Invalid items by reason (only reasons that occur).
    pub invalid: BTreeMap<&'static str, u64>,
    /// Valid items whose key was already written.
    pub duplicates: u64,
}

impl Expected {
    /// Records written (= `keys.len()`).
    pub fn records(&self) -> u64 {
        self.keys.len() as u64
    }

    /// All invalid items.
    pub fn invalid_total(&self) -> u64 {
        self.invalid.values().sum()
    }

    /// Adds another source's counts (keys carry the source, so they never
    /// collide).
    pub fn merge(&mut self, other: Expected) {
        self.items += other.items;
        self.keys.extend(other.keys);
        for (reason, n) in other.invalid {
            *self.invalid.entry(reason).or_default() += n;
        }
        self.duplicates += other.duplicates;
    }
}

impl SourceTruth {
    /// Items of 1-based page `page`: filler past the last page of an
    /// endless source, nothing past the last page otherwise.
    pub fn page(&self, page: usize) -> Vec<ItemTruth> {
        match self.pages.get(page.wrapping_sub(1)) {
            Some(items) => items.clone(),
            None if self.endless && page > 0 => (0..self.items_per_page)
                .map(|i| ItemTruth::Valid {
                    id: filler_id(self.shape, page, self.items_per_page, i).1,
                })
                .collect(),
            None => Vec::new(),
        }
    }

    /// Replays SPEC §5 over the given 1-based pages in the given order
    /// (repeats allowed): first record per key wins, later ones are
    /// duplicates.
    pub fn expected(&self, pages: impl IntoIterator<Item = usize>) -> Expected {
        let mut e = Expected::default();
        for page in pages {
            for item in self.page(page) {
                e.items += 1;
                match item {
                    ItemTruth::Valid { id } => {
                        if !e.keys.insert(format!("{}:{}", self.name, id)) {
                            e.duplicates += 1;
                        }
                    }
                    ItemTruth::Invalid(reason) => *e.invalid.entry(reason).or_default() += 1,
                }
            }
        }
        e
    }

    /// [`SourceTruth::expected`] over all pages, in order.
    pub fn expected_all(&self) -> Expected {
        self.expected(1..=self.pages.len())
    }
}

impl Truth {
    /// The source called `name`.
    pub fn source(&self, name: &str) -> Option<&SourceTruth> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// Every source's [`SourceTruth::expected_all`], merged: what a run
    /// that receives every page reports in `totals`.
    pub fn expected_all(&self) -> Expected {
        let mut e = Expected::default();
        for s in &self.sources {
            e.merge(s.expected_all());
        }
        e
    }
}

/// A source's generated pages: the JSON served and the truth about it.
#[derive(Debug, Clone)]
pub(crate) struct SourceData {
    pub pages: Vec<Vec<Value>>,
    pub truth: SourceTruth,
}

/// FNV-1a, to mix a source name into the seed portably and stably.
pub(crate) fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Valid,
    Duplicate,
    Invalid(&'static str),
}

const REASONS: [&str; 4] = ["not_an_object", "missing_id", "missing_price", "bad_price"];
const NOUNS: [&str; 8] = [
    "Desk lamp",
    "Stapler",
    "Notebook",
    "Office chair",
    "Coffee mug",
    "USB cable",
    "Backpack",
    "Monitor",
];
const CATEGORIES: [&str; 5] = ["home", "office", "tools", "kitchen", "garden"];

/// Generates all pages of `src` for `seed`.
pub(crate) fn generate(seed: u64, src: &MockSource) -> SourceData {
    let mut rng = Rng::with_seed(seed ^ fnv(&src.name));
    let total = src.pages * src.items_per_page;
    let share = |per_mille: usize| {
        if total >= 30 {
            (total * per_mille / 1000).max(1)
        } else {
            0
        }
    };
    let mut kinds = Vec::with_capacity(total);
    for reason in REASONS {
        kinds.extend(std::iter::repeat_n(Kind::Invalid(reason), share(20)));
    }
    kinds.extend(std::iter::repeat_n(Kind::Duplicate, share(40)));
    kinds.truncate(total);
    kinds.resize(total, Kind::Valid);
    rng.shuffle(&mut kinds);

    let mut next_id = rng.u64(10..100);
    let mut valid_ids: Vec<u64> = Vec::new();
    let mut pages = Vec::with_capacity(src.pages);
    let mut truth_pages = Vec::with_capacity(src.pages);
    for chunk in kinds.chunks(src.items_per_page.max(1)) {
        let mut page = Vec::with_capacity(chunk.len());
        let mut truth = Vec::with_capacity(chunk.len());
        for &kind in chunk {
            let kind = match kind {
                Kind::Duplicate if valid_ids.is_empty() => Kind::Valid,
                k => k,
            };
            let (value, item_truth) = match kind {
                Kind::Valid => {
                    next_id += rng.u64(1..=3);
                    valid_ids.push(next_id);
                    valid(src.shape, next_id, &mut rng, false)
                }
                Kind::Duplicate => {
                    let n = valid_ids[rng.usize(..valid_ids.len())];
                    valid(src.shape, n, &mut rng, true)
                }
                Kind::Invalid(reason) => {
                    next_id += rng.u64(1..=3);
                    (
                        invalid(src.shape, reason, next_id, &mut rng),
                        ItemTruth::Invalid(reason),
                    )
                }
            };
            page.push(value);
            truth.push(item_truth);
        }
        pages.push(page);
        truth_pages.push(truth);
    }
    // Zero items per page still means `pages` (empty) pages.
    pages.resize(src.pages, Vec::new());
    truth_pages.resize(src.pages, Vec::new());
    SourceData {
        pages,
        truth: SourceTruth {
            name: src.name.clone(),
            pages: truth_pages,
            endless: src.endless,
            items_per_page: src.items_per_page,
            shape: src.shape,
        },
    }
}

/// The filler items of page `page` (past the last) of an endless source.
pub(crate) fn filler_page(src: &MockSource, seed: u64, page: usize) -> Vec<Value> {
    let mut rng = Rng::with_seed(seed ^ fnv(&src.name) ^ (page as u64).wrapping_mul(0x9e37_79b9));
    (0..src.items_per_page)
        .map(|i| {
            let n = filler_id(src.shape, page, src.items_per_page, i).0;
            valid(src.shape, n, &mut rng, false).0
        })
        .collect()
}

/// Numeric and normalized id of filler item `i` of `page`: a range of its
/// own so filler never collides with generated ids.
fn filler_id(shape: Shape, page: usize, ipp: usize, i: usize) -> (u64, String) {
    let n = 1_000_000 + ((page - 1) * ipp + i) as u64;
    (n, id_string(shape, n))
}

fn id_string(shape: Shape, n: u64) -> String {
    match shape {
        Shape::Flat => n.to_string(),
        Shape::Sku => format!("B-{n:05}"),
        Shape::Nested => format!("g-{n}"),
    }
}

fn name(n: u64, rng: &mut Rng) -> String {
    format!("{} {}", NOUNS[rng.usize(..NOUNS.len())], n)
}

fn category(rng: &mut Rng) -> &'static str {
    CATEGORIES[rng.usize(..CATEGORIES.len())]
}

/// A valid item with id `n`; `dup` spells the id differently where SPEC
/// says it is the same id (`"17"` for `17`, surrounding spaces).
fn valid(shape: Shape, n: u64, rng: &mut Rng, dup: bool) -> (Value, ItemTruth) {
    let cents = rng.u64(0..200_000);
    let truth = ItemTruth::Valid {
        id: id_string(shape, n),
    };
    let value = match shape {
        Shape::Flat => {
            let id = if dup && rng.bool() {
                json!(n.to_string())
            } else {
                json!(n)
            };
            json!({"id": id, "name": name(n, rng), "price": cents as f64 / 100.0,
                   "currency": "USD", "category": category(rng)})
        }
        Shape::Sku => {
            let sku = id_string(shape, n);
            let sku = if dup && rng.bool() {
                format!("  {sku} ")
            } else {
                sku
            };
            json!({"sku": sku, "title": name(n, rng), "price": price_string(cents, rng),
                   "category": category(rng)})
        }
        Shape::Nested => {
            let amount = if rng.bool() {
                json!(format!("{}.{:02}", cents / 100, cents % 100))
            } else {
                json!(cents as f64 / 100.0)
            };
            json!({"product": {"id": id_string(shape, n), "title": name(n, rng)},
                   "price": {"amount": amount, "currency": "EUR"},
                   "category": {"id": rng.u32(1..9), "name": category(rng)}})
        }
    };
    (value, truth)
}

/// A price string SPEC §5 parses, in one of the styles APIs use.
fn price_string(cents: u64, rng: &mut Rng) -> String {
    let (units, frac) = (cents / 100, cents % 100);
    let thousands = |sep: char| {
        if units >= 1000 {
            format!("{}{sep}{:03}", units / 1000, units % 1000)
        } else {
            units.to_string()
        }
    };
    match rng.u8(0..7) {
        0 => format!("${}.{frac:02}", thousands(',')),
        1 => format!("{units},{frac:02} €"),
        2 => format!("EUR {units}"),
        3 => units.to_string(),
        4 => format!("{}.{frac:02}", units),
        5 => format!("{},{frac:02} eur", thousands('.')),
        _ => format!("¥{}", thousands(',')),
    }
}

/// An item invalid for exactly `reason` (and for no earlier reason).
fn invalid(shape: Shape, reason: &'static str, n: u64, rng: &mut Rng) -> Value {
    let pick = |rng: &mut Rng, options: Vec<Value>| options[rng.usize(..options.len())].clone();
    let bad_prices = || {
        vec![
            json!(-5),
            json!("abc"),
            json!("1e3"),
            json!("NaN"),
            json!("-5"),
            json!(""),
        ]
    };
    match (reason, shape) {
        ("not_an_object", _) => pick(
            rng,
            vec![json!("oops"), json!(42), Value::Null, json!([1, 2])],
        ),
        ("missing_id", Shape::Flat) => {
            let mut v = json!({"name": name(n, rng), "price": 3.5});
            let id = pick(
                rng,
                vec![Value::Null, json!(17.5), json!("  "), json!(true)],
            );
            if rng.bool() {
                v["id"] = id;
            }
            v
        }
        ("missing_id", Shape::Sku) => {
            let mut v = json!({"title": name(n, rng), "price": "$4.00"});
            if rng.bool() {
                v["sku"] = pick(rng, vec![Value::Null, json!(""), json!(true), json!(2.5)]);
            }
            v
        }
        // The category object carries an `id`, which SPEC §5 says must not
        // be found: it sits under another field's candidate name.
        ("missing_id", Shape::Nested) => json!({
            "product": {"title": name(n, rng)},
            "price": {"amount": "4.00", "currency": "EUR"},
            "category": {"id": 5, "name": category(rng)}}),
        ("missing_price", Shape::Flat) => {
            let mut v = json!({"id": n, "name": name(n, rng)});
            if rng.bool() {
                v["price"] = Value::Null;
            }
            v
        }
        ("missing_price", Shape::Sku) => {
            json!({"sku": id_string(shape, n), "title": name(n, rng), "price": null})
        }
        ("missing_price", Shape::Nested) => {
            let price = pick(rng, vec![json!({"currency": "EUR"}), Value::Null]);
            json!({"product": {"id": id_string(shape, n), "title": name(n, rng)}, "price": price})
        }
        ("bad_price", Shape::Flat) => {
            json!({"id": n, "name": name(n, rng), "price": pick(rng, bad_prices())})
        }
        ("bad_price", Shape::Sku) => {
            json!({"sku": id_string(shape, n), "title": name(n, rng), "price": pick(rng, bad_prices())})
        }
        ("bad_price", Shape::Nested) => json!({
            "product": {"id": id_string(shape, n), "title": name(n, rng)},
            "price": {"amount": pick(rng, bad_prices()), "currency": "EUR"}}),
        _ => unreachable!("unknown invalid reason {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Style;

    #[test]
    fn same_seed_same_data_different_seed_different_data() {
        let src = MockSource::new("alpha", Style::Page, 5, 20);
        assert_eq!(generate(1, &src).pages, generate(1, &src).pages);
        assert_ne!(generate(1, &src).pages, generate(2, &src).pages);
        let other = MockSource::new("beta", Style::Page, 5, 20);
        assert_ne!(generate(1, &src).pages, generate(1, &other).pages);
    }

    #[test]
    fn every_reason_and_duplicates_occur_in_every_shape() {
        for style in [Style::Page, Style::Offset, Style::Cursor] {
            let d = generate(42, &MockSource::new("s", style, 10, 20));
            let e = d.truth.expected_all();
            assert_eq!(e.items, 200);
            assert_eq!(e.invalid.len(), 4, "{style:?}: {:?}", e.invalid);
            assert!(e.invalid.values().all(|&n| n == 4));
            assert_eq!(e.duplicates, 8);
            assert_eq!(e.records() + e.invalid_total() + e.duplicates, e.items);
        }
    }

    #[test]
    fn expected_is_first_wins_over_the_given_order() {
        let t = SourceTruth {
            name: "s".into(),
            pages: vec![
                vec![
                    ItemTruth::Valid { id: "1".into() },
                    ItemTruth::Invalid("missing_id"),
                ],
                vec![
                    ItemTruth::Valid { id: "1".into() },
                    ItemTruth::Valid { id: "2".into() },
                ],
            ],
            endless: false,
            items_per_page: 2,
            shape: Shape::Flat,
        };
        let e = t.expected([2, 1, 2]);
        assert_eq!(e.items, 6);
        assert_eq!(
            e.keys,
            BTreeSet::from(["s:1".to_string(), "s:2".to_string()])
        );
        assert_eq!(e.duplicates, 3);
        assert_eq!(e.invalid, BTreeMap::from([("missing_id", 1)]));
        assert_eq!(t.expected([3]).items, 0);
    }

    #[test]
    fn filler_pages_of_endless_sources_are_fresh_valid_items() {
        let src = MockSource::new("e", Style::Page, 2, 3).endless();
        let d = generate(1, &src);
        assert_eq!(d.truth.page(3).len(), 3);
        let e = d.truth.expected([1, 2, 3, 4]);
        assert_eq!(e.items, 12);
        assert_eq!(filler_page(&src, 1, 3).len(), 3);
        assert_eq!(filler_page(&src, 1, 3)[0]["id"], 1_000_006);
    }

    #[test]
    fn price_strings_have_the_documented_forms() {
        let mut rng = Rng::with_seed(3);
        let all: Vec<String> = (0..200).map(|_| price_string(129_900, &mut rng)).collect();
        for s in [
            "$1,299.00",
            "1299,00 €",
            "EUR 1299",
            "1299",
            "1299.00",
            "1.299,00 eur",
            "¥1,299",
        ] {
            assert!(all.iter().any(|a| a == s), "{s} missing from {all:?}");
        }
    }
}
