//! Generated items and the ground truth about them.
//!
//! Each source's items come from `fastrand::Rng::with_seed(seed ^ fnv(name))`,
//! so the same seed always yields the same pages. Mostly valid items, plus
//! a fixed share (about 2% per reason, 4% duplicates, at least one of each
//! once a source has 30 items) of invalid items and duplicates placed at
//! random. Every item's fate under SPEC §5 is recorded in [`Truth`], and
//! [`SourceTruth::expected`] replays SPEC's first-wins dedupe over any page
//! order, so tests compare the pipeline's counts with what was served.
//! The API shapes (`shapes.rs`) get no invalid items and no duplicates,
//! and [`SourceTruth::items`] gives back every served item as a `Value`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use fastrand::Rng;
use serde_json::Value;

use crate::children::ChildTruth;
use crate::events::EventTruth;
use crate::items::{id_string, invalid, valid, valid_truth};
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
    /// Whether every page request is answered with page 1 (see
    /// `MockSource::ignores_position`): then page `n` holds page 1's items.
    pub ignores_position: bool,
    /// The JSON served, for [`SourceTruth::items`].
    served: Served,
}

/// The item arrays a source serves, shared with the server (not copied),
/// and the seed its filler pages come from.
#[derive(Clone, PartialEq)]
struct Served {
    pages: Arc<[Box<str>]>,
    seed: u64,
}

impl fmt::Debug for Served {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Served({} pages)", self.pages.len())
    }
}

/// What the server serves, for every source of the scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    /// One entry per paged source, in scenario order: every source but
    /// the child lists ([`Truth::children`]) and the windowed events
    /// ([`Truth::events`]).
    pub sources: Vec<SourceTruth>,
    /// One entry per [`crate::Style::Children`] source, in scenario order.
    pub children: Vec<ChildTruth>,
    /// One entry per [`crate::Style::Window`] source, in scenario order.
    pub events: Vec<EventTruth>,
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
    /// The page served when 1-based `page` is asked for.
    fn served_page(&self, page: usize) -> usize {
        if self.ignores_position && page > 0 {
            1
        } else {
            page
        }
    }

    /// Items of 1-based page `page`: filler past the last page of an
    /// endless source, nothing past the last page otherwise; page 1's for
    /// any page of a source that ignores the position.
    pub fn page(&self, page: usize) -> Vec<ItemTruth> {
        let page = self.served_page(page);
        match self.pages.get(page.wrapping_sub(1)) {
            Some(items) => items.clone(),
            None if self.endless && page > 0 => (0..self.items_per_page)
                .map(|i| {
                    let n = filler_id(self.shape, page, self.items_per_page, i).0;
                    valid_truth(self.shape, n)
                })
                .collect(),
            None => Vec::new(),
        }
    }

    /// The items served on 1-based `page`, as the mock wrote them (parsed
    /// back, numbers with their exact text): for comparing each field a
    /// record declares with the mock's own value. The same pages as
    /// [`SourceTruth::page`], item for item.
    pub fn items(&self, page: usize) -> Vec<Value> {
        let page = self.served_page(page);
        let text = match self.served.pages.get(page.wrapping_sub(1)) {
            Some(text) => text,
            None if self.endless && page > 0 => {
                return filler_items(
                    &self.name,
                    self.shape,
                    self.items_per_page,
                    self.served.seed,
                    page,
                )
            }
            None => return Vec::new(),
        };
        // The mock wrote this text from `Value`s: it parses.
        serde_json::from_str(text).unwrap_or_default()
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

    /// The [`crate::Style::Children`] source called `name`.
    pub fn children(&self, name: &str) -> Option<&ChildTruth> {
        self.children.iter().find(|s| s.name == name)
    }

    /// The [`crate::Style::Window`] source called `name`.
    pub fn events(&self, name: &str) -> Option<&EventTruth> {
        self.events.iter().find(|s| s.name == name)
    }

    /// Every paged source's [`SourceTruth::expected_all`], merged: what
    /// a run that receives every page reports in `totals` (without the
    /// child lists and windowed events, which a declared record reads).
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
    /// Each page's item array, serialized once: a JSON text is a fraction
    /// of the size of its `Value` tree, and serving it is a copy (a mock of
    /// three million items fits in a few hundred MB and answers fast).
    /// Shared with the truth, for [`SourceTruth::items`].
    pub pages: Arc<[Box<str>]>,
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

/// Generates all pages of `src` for `seed`.
pub(crate) fn generate(seed: u64, src: &MockSource) -> SourceData {
    let mut rng = Rng::with_seed(seed ^ fnv(&src.name));
    let total = src.pages * src.items_per_page;
    let share = |per_mille: usize| {
        if total >= 30 && src.shape.is_product() {
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
        pages.push(Value::Array(page).to_string().into_boxed_str());
        truth_pages.push(truth);
    }
    // Zero items per page still means `pages` (empty) pages.
    pages.resize(src.pages, "[]".into());
    truth_pages.resize(src.pages, Vec::new());
    let pages: Arc<[Box<str>]> = pages.into();
    SourceData {
        pages: Arc::clone(&pages),
        truth: SourceTruth {
            name: src.name.clone(),
            pages: truth_pages,
            endless: src.endless,
            items_per_page: src.items_per_page,
            shape: src.shape,
            ignores_position: src.ignores_position,
            served: Served { pages, seed },
        },
    }
}

/// The truth of a source that honours `since`, whose items are now
/// `items` (every one, in served order, as a request without `since` gets
/// them).
pub(crate) fn changing_truth<'a>(
    src: &MockSource,
    seed: u64,
    items: impl Iterator<Item = &'a Value>,
) -> SourceTruth {
    let items: Vec<&Value> = items.collect();
    let chunks = items.chunks(src.items_per_page.max(1));
    let pages: Arc<[Box<str>]> = chunks
        .clone()
        .map(|c| Value::Array(c.iter().map(|v| (*v).clone()).collect()).to_string())
        .map(String::into_boxed_str)
        .collect();
    let truth_pages = chunks
        .map(|c| {
            c.iter()
                .map(|v| valid_truth(src.shape, v["number"].as_u64().unwrap_or(0)))
                .collect()
        })
        .collect();
    SourceTruth {
        name: src.name.clone(),
        pages: truth_pages,
        endless: false,
        items_per_page: src.items_per_page,
        shape: src.shape,
        ignores_position: false,
        served: Served { pages, seed },
    }
}

/// The filler items of page `page` (past the last) of an endless source,
/// as a JSON array.
pub(crate) fn filler_page(src: &MockSource, seed: u64, page: usize) -> String {
    let items = filler_items(&src.name, src.shape, src.items_per_page, seed, page);
    Value::Array(items).to_string()
}

/// The filler items of page `page` of the endless source `name`.
fn filler_items(name: &str, shape: Shape, ipp: usize, seed: u64, page: usize) -> Vec<Value> {
    let mut rng = Rng::with_seed(seed ^ fnv(name) ^ (page as u64).wrapping_mul(0x9e37_79b9));
    (0..ipp)
        .map(|i| valid(shape, filler_id(shape, page, ipp, i).0, &mut rng, false).0)
        .collect()
}

/// Numeric and normalized id of filler item `i` of `page`: a range of its
/// own so filler never collides with generated ids.
fn filler_id(shape: Shape, page: usize, ipp: usize, i: usize) -> (u64, String) {
    let n = 1_000_000 + ((page - 1) * ipp + i) as u64;
    (n, id_string(shape, n))
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
            ignores_position: false,
            served: Served {
                pages: Arc::new([]),
                seed: 0,
            },
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
    fn items_are_what_is_served_page_for_page() {
        for shape in [
            Shape::Flat,
            Shape::Sku,
            Shape::Nested,
            Shape::GithubIssues,
            Shape::DrfOrders,
            Shape::StripeList,
        ] {
            let src = MockSource::new("s", Style::Page, 3, 4)
                .shape(shape)
                .endless();
            let d = generate(9, &src);
            for page in 0..=5 {
                let items = d.truth.items(page);
                assert_eq!(items.len(), d.truth.page(page).len(), "{shape:?} {page}");
                let served = match d.pages.get(page.wrapping_sub(1)) {
                    Some(text) => text.to_string(),
                    None if page > 0 => filler_page(&src, 9, page),
                    None => "[]".to_string(),
                };
                assert_eq!(Value::Array(items).to_string(), served, "{shape:?} {page}");
            }
        }
    }

    #[test]
    fn api_shapes_have_no_invalid_items_or_duplicates() {
        for (shape, reason) in [
            (Shape::GithubIssues, Some("missing_price")),
            (Shape::DrfOrders, Some("missing_price")),
            (Shape::StripeList, None),
        ] {
            let d = generate(42, &MockSource::new("s", Style::Page, 10, 20).shape(shape));
            let e = d.truth.expected_all();
            assert_eq!(e.items, 200);
            assert_eq!(e.duplicates, 0);
            match reason {
                Some(r) => assert_eq!(e.invalid, BTreeMap::from([(r, 200)])),
                None => assert_eq!((e.records(), e.invalid_total()), (200, 0)),
            }
            let ids: BTreeSet<String> = (1..=10)
                .flat_map(|p| d.truth.items(p))
                .map(|i| i["id"].to_string())
                .collect();
            assert_eq!(ids.len(), 200, "{shape:?}: every id its own");
        }
    }

    #[test]
    fn filler_pages_of_endless_sources_are_fresh_valid_items() {
        let src = MockSource::new("e", Style::Page, 2, 3).endless();
        let d = generate(1, &src);
        assert_eq!(d.truth.page(3).len(), 3);
        let e = d.truth.expected([1, 2, 3, 4]);
        assert_eq!(e.items, 12);
        let filler: Value = serde_json::from_str(&filler_page(&src, 1, 3)).unwrap();
        assert_eq!(filler.as_array().map(Vec::len), Some(3));
        assert_eq!(filler[0]["id"], 1_000_006);
    }
}
