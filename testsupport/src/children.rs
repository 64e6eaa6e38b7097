//! Child lists per parent ([`crate::Style::Children`], SPEC §12's
//! `parent`): each customer's orders at `/NAME/{parent_id}/items`.
//!
//! The parents are the items of another source of the scenario: for a
//! product shape the valid, first-seen ones (what ingest fans out over),
//! for an API shape every item; a parent's id is what the parent's id
//! path holds ([`id_path`]). Every parent's list is a function of the
//! seed, the child source's name and the parent id alone — how many
//! pages, how many items — so gone parents, or parents added to the
//! parent source, change no other parent's list. Child items are valid
//! products with an `id` that is a line number, unique only within the
//! parent, the parent's id in `parent_id`, and a globally unique
//! `order_ref`, so [`ChildTruth::keys`] can say which records a correct
//! fan-out writes, each exactly once.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use fastrand::Rng;
use serde_json::{json, Map, Value};

use crate::api::Answer;
use crate::data::{fnv, ItemTruth, SourceTruth};
use crate::items::valid;
use crate::scenario::{MockSource, Shape, Style};

/// Which parent a [`crate::Style::Children`] source fans out over, and
/// which parents are gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Children {
    /// The parent source's name; it must be a source of the same
    /// scenario that is neither a child nor a window source.
    pub parent: String,
    /// Parent ids (as the URL carries them) whose child list answers
    /// `404 {"detail":"Not found."}`: parents deleted since the parent
    /// list was read. Defaults to none.
    pub gone: Vec<String>,
    /// Also gone: every `k`-th parent in the parent source's order (the
    /// `k`-th, the `2k`-th, ..); 0 for none. Defaults to 0.
    pub gone_every: usize,
    /// Every parent has exactly the source's `pages` full pages (for a
    /// benchmark of a known size). Defaults to false: 1 to `pages`.
    pub full: bool,
}

impl Children {
    /// Fans out over `parent`, no parent gone.
    pub fn new(parent: &str) -> Children {
        Children {
            parent: parent.to_string(),
            gone: Vec::new(),
            gone_every: 0,
            full: false,
        }
    }

    /// The SPEC §12 keys of a child source's config entry (`url`,
    /// `items_path` and `pagination` are written by the caller): `parent`
    /// with the placeholder `parent_id` from the parent's `id`, included
    /// in each record; a declared `record` keyed by the globally unique
    /// `order_ref` (the line number is `line`); and a rule that ends a
    /// gone parent's partition as empty.
    pub(crate) fn config_json(&self, source: &mut Value) {
        source["parent"] = json!({
            "source": self.parent,
            "fields": {"parent_id": "id"},
            "include": ["parent_id"],
        });
        source["record"] = json!({
            "id": "order_ref",
            "fields": {
                "line": {"path": "id", "type": "integer", "required": true},
                "name": "name",
                "price": {"path": "price", "type": "price"},
                "currency": {"path": "currency", "type": "currency"},
                "category": "category",
            },
        });
        source["on_response"] =
            json!([{"status": 404, "body_contains": "Not found.", "action": "end"}]);
    }
}

// The builders of child sources, beside what they build.
impl MockSource {
    /// A child list per parent ([`Style::Children`]) at
    /// `/NAME/{parent_id}/items`: for every parent — each valid,
    /// first-seen item of source `parent` (every item, for an API shape),
    /// by its id — 1 to `max_pages` pages (from the seed) of
    /// `items_per_page` items, the last page partly filled; one parent in
    /// eight has a single empty page. Faults apply to every parent alike,
    /// by each parent's own page and attempt numbers. See [`ChildTruth`]
    /// for what is served.
    pub fn children(
        name: &str,
        parent: &str,
        max_pages: usize,
        items_per_page: usize,
    ) -> MockSource {
        let mut src = MockSource::new(name, Style::Children, max_pages.max(1), items_per_page);
        src.children = Some(Children::new(parent));
        src
    }

    /// Makes these parents gone: their child list answers `404
    /// {"detail":"Not found."}` (see [`Children::gone`]).
    ///
    /// # Panics
    /// If this is not a [`MockSource::children`] source.
    pub fn gone(mut self, parent_ids: &[&str]) -> MockSource {
        let children = self.children_mut();
        children
            .gone
            .extend(parent_ids.iter().map(|id| id.to_string()));
        self
    }

    /// Makes every `k`-th parent gone (see [`Children::gone_every`]).
    ///
    /// # Panics
    /// If this is not a [`MockSource::children`] source.
    pub fn gone_every(mut self, k: usize) -> MockSource {
        self.children_mut().gone_every = k;
        self
    }

    /// Gives every parent exactly `max_pages` full pages (see
    /// [`Children::full`]).
    ///
    /// # Panics
    /// If this is not a [`MockSource::children`] source.
    pub fn full_pages(mut self) -> MockSource {
        self.children_mut().full = true;
        self
    }

    fn children_mut(&mut self) -> &mut Children {
        let name = &self.name;
        self.children
            .as_mut()
            .unwrap_or_else(|| panic!("{name}: not a MockSource::children source"))
    }
}

/// The dot path of a parent item's id, for `parent.fields` (SPEC §5's
/// first candidate that the shape has).
pub(crate) fn id_path(shape: Shape) -> &'static str {
    match shape {
        Shape::Sku => "sku",
        Shape::Nested => "product.id",
        _ => "id",
    }
}

/// What a [`crate::Style::Children`] source serves: every parent's child
/// list, page by page.
#[derive(Clone, PartialEq)]
pub struct ChildTruth {
    /// The child source's name.
    pub name: String,
    /// The parent source's name.
    pub parent: String,
    /// Every parent id the server knows, as the URL carries it, in the
    /// parent source's order (gone ones included).
    pub parent_ids: Vec<String>,
    /// The parents whose child list answers 404.
    pub gone: BTreeSet<String>,
    /// Per parent that is not gone: its pages' item arrays, as JSON text.
    lists: Arc<HashMap<String, Vec<Box<str>>>>,
}

impl fmt::Debug for ChildTruth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildTruth")
            .field("name", &self.name)
            .field("parent", &self.parent)
            .field("parents", &self.parent_ids.len())
            .field("gone", &self.gone)
            .finish_non_exhaustive()
    }
}

impl ChildTruth {
    /// Pages of `parent_id`'s list (at least 1); 0 for a gone or unknown
    /// parent.
    pub fn pages(&self, parent_id: &str) -> usize {
        self.lists.get(parent_id).map_or(0, Vec::len)
    }

    /// The items of 1-based `page` of `parent_id`'s list, as served.
    pub fn page(&self, parent_id: &str, page: usize) -> Vec<Value> {
        self.lists
            .get(parent_id)
            .and_then(|pages| pages.get(page.wrapping_sub(1)))
            // The mock wrote this text from `Value`s: it parses.
            .map(|text| serde_json::from_str(text).unwrap_or_default())
            .unwrap_or_default()
    }

    /// Every item of `parent_id`'s list, page after page; none for a gone
    /// or unknown parent.
    pub fn items(&self, parent_id: &str) -> Vec<Value> {
        (1..=self.pages(parent_id))
            .flat_map(|p| self.page(parent_id, p))
            .collect()
    }

    /// The parents that are not gone, in the parent source's order.
    pub fn live(&self) -> impl Iterator<Item = &str> {
        self.parent_ids
            .iter()
            .map(String::as_str)
            .filter(|id| !self.gone.contains(*id))
    }

    /// Every child item of every parent, in parent order.
    pub fn all(&self) -> Vec<Value> {
        self.live().flat_map(|id| self.items(id)).collect()
    }

    /// The keys a correct fan-out under [`crate::MockServer::config_json`]
    /// writes, each once: `NAME:ORDER_REF` of every child item.
    pub fn keys(&self) -> BTreeSet<String> {
        self.all()
            .iter()
            .map(|item| format!("{}:{}", self.name, text(&item["order_ref"])))
            .collect()
    }

    /// The keys under SPEC §12's `"key_with_parent": true` and the
    /// product schema: `NAME:PARENT_ID/LINE` of every child item.
    pub fn keys_with_parent(&self) -> BTreeSet<String> {
        self.live()
            .flat_map(|pid| {
                self.items(pid)
                    .into_iter()
                    .map(move |item| format!("{}:{pid}/{}", self.name, text(&item["id"])))
            })
            .collect()
    }

    /// The answer to page `page` of `parent_id`'s list (links absolute
    /// under `base_url`).
    pub(crate) fn answer(&self, base_url: &str, parent_id: &str, page: usize) -> Answer {
        let Some(pages) = self.lists.get(parent_id) else {
            return Answer::json(404, json!({"detail": "Not found."}).to_string());
        };
        let Some(items) = pages.get(page.wrapping_sub(1)) else {
            return Answer::json(404, json!({"detail": "Invalid page."}).to_string());
        };
        let next = (page < pages.len()).then(|| {
            let p = page + 1;
            let path = format!("/{}/{}/items?page={p}", self.name, encode(parent_id));
            // Root-relative, path-relative and absolute URLs in turn, as
            // `Style::NextUrl` writes them.
            match p % 3 {
                0 => format!("{base_url}{path}"),
                1 => path,
                _ => format!("items?page={p}"),
            }
        });
        Answer::json(200, format!(r#"{{"data":{items},"next":{}}}"#, json!(next)))
    }
}

/// The parent id a request path of child source `name` addresses:
/// `/NAME/{parent_id}/items`, the segment percent-decoded.
pub(crate) fn parent_in(path: &str, name: &str) -> Option<String> {
    let segment = path
        .strip_prefix('/')?
        .strip_prefix(name)?
        .strip_prefix('/')?
        .strip_suffix("/items")?;
    // A `+` in a path is itself, not a space as in a query.
    let decoded = || crate::changes::percent_decode(&segment.replace('+', "%2B"));
    (!segment.is_empty() && !segment.contains('/')).then(decoded)
}

/// A JSON id as text: a string's content, a number's digits.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `id` percent-encoded as a path segment (unreserved characters kept).
fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The parents of `parent`: each id as the URL carries it and as the
/// child's `parent_id` holds it, in served order, first-seen only.
fn parents(parent: &SourceTruth) -> Vec<(String, Value)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for page in 1..=parent.pages.len() {
        if parent.shape.is_product() {
            for item in parent.page(page) {
                if let ItemTruth::Valid { id } = item {
                    let value = match (parent.shape, id.parse::<u64>()) {
                        (Shape::Flat, Ok(n)) => json!(n),
                        _ => json!(id),
                    };
                    if seen.insert(id.clone()) {
                        out.push((id, value));
                    }
                }
            }
        } else {
            for item in parent.items(page) {
                let Some(value) = item.get("id").filter(|v| !v.is_null()) else {
                    continue;
                };
                let id = text(value);
                if seen.insert(id.clone()) {
                    out.push((id, value.clone()));
                }
            }
        }
    }
    out
}

/// The lists of child source `src` over the items of `parent`.
pub(crate) fn generate(
    seed: u64,
    src: &MockSource,
    spec: &Children,
    parent: &SourceTruth,
) -> ChildTruth {
    let parents = parents(parent);
    let gone: BTreeSet<String> = parents
        .iter()
        .enumerate()
        .filter(|(i, (id, _))| {
            spec.gone.contains(id) || (spec.gone_every > 0 && (i + 1) % spec.gone_every == 0)
        })
        .map(|(_, (id, _))| id.clone())
        .collect();
    let lists = parents
        .iter()
        .filter(|(id, _)| !gone.contains(id))
        .map(|(id, value)| (id.clone(), list(seed, src, id, value)))
        .collect();
    ChildTruth {
        name: src.name.clone(),
        parent: spec.parent.clone(),
        parent_ids: parents.into_iter().map(|(id, _)| id).collect(),
        gone,
        lists: Arc::new(lists),
    }
}

/// One parent's pages: 1 to `src.pages` of them, the last one partly
/// filled; one parent in eight has a single empty page.
fn list(seed: u64, src: &MockSource, parent_id: &str, parent_value: &Value) -> Vec<Box<str>> {
    let mut rng = Rng::with_seed(seed ^ fnv(&src.name) ^ fnv(parent_id).rotate_left(29));
    let ipp = src.items_per_page;
    let pages = rng.usize(1..=src.pages.max(1));
    let empty = rng.u8(0..8) == 0 || ipp == 0;
    let count = match (src.children.as_ref().is_some_and(|c| c.full), empty) {
        (true, _) => src.pages * ipp,
        (false, true) => 0,
        (false, false) => (pages - 1) * ipp + rng.usize(1..=ipp),
    };
    let items: Vec<Value> = (1..=count as u64)
        .map(|line| {
            let (product, _) = valid(Shape::Flat, line, &mut rng, false);
            let mut item = Map::new();
            item.insert("id".into(), json!(line));
            item.insert("parent_id".into(), parent_value.clone());
            let order_ref = format!("{}-{parent_id}-{line}", src.name);
            item.insert("order_ref".into(), json!(order_ref));
            if let Value::Object(fields) = product {
                item.extend(fields.into_iter().filter(|(k, _)| k != "id"));
            }
            Value::Object(item)
        })
        .collect();
    if items.is_empty() {
        return vec!["[]".into()];
    }
    items
        .chunks(ipp)
        .map(|chunk| Value::Array(chunk.to_vec()).to_string().into_boxed_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::generate as generate_source;

    fn customers() -> SourceTruth {
        generate_source(3, &MockSource::new("customers", Style::Page, 4, 10)).truth
    }

    #[test]
    fn parents_are_the_valid_first_seen_ids_of_the_parent() {
        let parent = customers();
        let ids: Vec<String> = parents(&parent).into_iter().map(|(id, _)| id).collect();
        let e = parent.expected_all();
        assert_eq!(ids.len() as u64, e.records());
        let keys: BTreeSet<String> = ids.iter().map(|id| format!("customers:{id}")).collect();
        assert_eq!(keys, e.keys);
    }

    #[test]
    fn lists_are_deterministic_and_varied() {
        let parent = customers();
        let src = MockSource::children("orders", "customers", 3, 4).gone_every(5);
        let spec = src.children.clone().unwrap();
        let a = generate(3, &src, &spec, &parent);
        assert_eq!(a, generate(3, &src, &spec, &parent));
        assert_ne!(a, generate(4, &src, &spec, &parent));
        let pages: BTreeSet<usize> = a.live().map(|id| a.pages(id)).collect();
        assert_eq!(pages, BTreeSet::from([1, 2, 3]), "every count occurs");
        assert!(a.live().any(|id| a.items(id).is_empty()), "an empty parent");
        assert_eq!(a.gone.len(), a.parent_ids.len() / 5);
        for id in &a.gone {
            assert_eq!(a.pages(id), 0);
        }
        // Lines restart per parent; `order_ref` is unique overall.
        let all = a.all();
        assert_eq!(a.keys().len(), all.len());
        assert!(all.iter().filter(|i| i["id"] == 1).count() > 1);
        assert_eq!(a.keys_with_parent().len(), all.len());
        // A parent's list does not depend on which others are gone.
        let b = generate(
            3,
            &src.clone().gone_every(0),
            &Children::new("customers"),
            &parent,
        );
        for id in a.live() {
            assert_eq!(a.items(id), b.items(id), "{id}");
        }
    }

    #[test]
    fn child_items_carry_line_parent_and_a_product() {
        let parent = customers();
        let src = MockSource::children("orders", "customers", 2, 3);
        let t = generate(3, &src, src.children.as_ref().unwrap(), &parent);
        let id = t.live().find(|id| t.pages(id) == 2).unwrap().to_string();
        let items = t.items(&id);
        assert_eq!(items[0]["id"], 1);
        assert_eq!(items[0]["parent_id"], id.parse::<u64>().unwrap());
        assert_eq!(items[0]["order_ref"], format!("orders-{id}-1"));
        assert_eq!(
            items[0].as_object().unwrap().keys().collect::<Vec<_>>(),
            [
                "id",
                "parent_id",
                "order_ref",
                "name",
                "price",
                "currency",
                "category"
            ]
        );
        let lines: Vec<u64> = items.iter().map(|i| i["id"].as_u64().unwrap()).collect();
        assert_eq!(lines, (1..=items.len() as u64).collect::<Vec<_>>());
    }

    #[test]
    fn paths_and_ids_round_trip() {
        assert_eq!(parent_in("/orders/17/items", "orders"), Some("17".into()));
        assert_eq!(
            parent_in("/orders/a%2Fb/items", "orders"),
            Some("a/b".into())
        );
        assert_eq!(parent_in("/orders/a+b/items", "orders"), Some("a+b".into()));
        assert_eq!(encode("a/b c"), "a%2Fb%20c");
        for bad in [
            "/orders//items",
            "/orders/1/2/items",
            "/orders/1",
            "/other/1/items",
        ] {
            assert_eq!(parent_in(bad, "orders"), None, "{bad}");
        }
    }
}
