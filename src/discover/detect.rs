//! What the first answer says: where its items are, and how the next page
//! would be asked for (SPEC §14), as [`Trial`]s to check on a second page.
//!
//! The item array is found by the config's own detection (SPEC §3, the
//! same code a run uses), else as the largest array of objects. The
//! pagination is read from evidence in the SPEC's order: a `Link`
//! rel="next" header; a URL at a next-like key of the body; a cursor-like
//! value (or `has_more` beside item ids, Stripe's `starting_after`); page
//! or offset numbers and totals in the body or the headers (`numbers.rs`). Each guess is
//! a [`Trial`]: the config's `pagination`, the URL of the second page it
//! implies (none when the first page is the last), and why. The body is
//! searched breadth-first over nested objects, 3 levels, never into the
//! items.

use serde_json::{json, Value};

use crate::fetch::page::{BodyError, Page};
use crate::json::DotPath;
use crate::url;

use super::numbers;
use super::probe::Answer;

/// Levels of nested objects searched for an envelope key (the body is 1).
const DEPTH: usize = 3;

/// Keys whose value is the next page's URL.
const NEXT_URL_KEYS: [&str; 9] = [
    "next",
    "next_url",
    "nextUrl",
    "next_page_url",
    "nextPageUrl",
    "@odata.nextLink",
    "nextLink",
    "next_link",
    "next_href",
];
/// Keys whose value is the next page's cursor.
const CURSOR_KEYS: [&str; 14] = [
    "next_cursor",
    "nextCursor",
    "endCursor",
    "end_cursor",
    "next_page_token",
    "nextPageToken",
    "next_token",
    "nextToken",
    "continuation_token",
    "continuationToken",
    "cursor",
    "after",
    "scroll_id",
    "next",
];
/// Keys of a flag saying whether more pages follow.
pub(super) const HAS_MORE_KEYS: [&str; 7] = [
    "has_more",
    "hasMore",
    "has_next",
    "hasNext",
    "hasNextPage",
    "has_next_page",
    "more",
];
/// The item array of a page.
#[derive(Debug, Clone)]
pub struct Items {
    /// Where it is (the root for a body that is the array).
    pub path: DotPath,
    /// Whether the config's own detection found it (else: the largest
    /// array of objects, which the config must name).
    pub by_lookup: bool,
    /// The items.
    pub items: Vec<Value>,
}

/// Finds the item array of `text` (parsed as `body`): at `items_path`,
/// else by SPEC §3's lookup, else the largest array of objects. `Err`
/// says what the body holds instead.
pub fn find_items(text: &str, body: &Value, items_path: Option<&DotPath>) -> Result<Items, String> {
    let at = |path: DotPath, by_lookup| {
        let items = path
            .get(body)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Items {
            path,
            by_lookup,
            items,
        }
    };
    match Page::parse(text.to_string(), items_path) {
        Ok(page) => Ok(at(page.found_at, true)),
        Err(BodyError::Malformed(e)) => Err(format!("the body is not JSON ({e})")),
        Err(BodyError::NoItems(what)) if items_path.is_some() => Err(what),
        Err(BodyError::NoItems(what)) => largest_array(body)
            .map(|path| at(path, false))
            .ok_or(format!("no array of objects in the body ({what})")),
    }
}

/// The path of the largest array of objects, searched over nested objects.
fn largest_array(body: &Value) -> Option<DotPath> {
    let mut best: Option<(usize, DotPath)> = None;
    walk(body, &DotPath::root(), 1, &mut |path, value| {
        if let Some(items) = value.as_array().filter(|a| a.iter().any(Value::is_object)) {
            if best.as_ref().is_none_or(|(n, _)| items.len() > *n) {
                best = Some((items.len(), path.clone()));
            }
        }
        None::<()>
    });
    best.map(|(_, path)| path)
}

/// Calls `visit` on every member of the objects of `body`, breadth-first
/// by level down to [`DEPTH`]; stops at the first `Some`.
fn walk<T>(
    value: &Value,
    path: &DotPath,
    level: usize,
    visit: &mut impl FnMut(&DotPath, &Value) -> Option<T>,
) -> Option<T> {
    let map = value.as_object()?;
    for (key, member) in map {
        if let Some(found) = visit(&path.child(key), member) {
            return Some(found);
        }
    }
    if level >= DEPTH {
        return None;
    }
    map.iter()
        .find_map(|(key, member)| walk(member, &path.child(key), level + 1, visit))
}

/// The first member named one of `names` (in the order of `names` at each
/// level) for which `accept` holds.
pub(super) fn find_key<'v>(
    body: &'v Value,
    names: &[&str],
    accept: impl Fn(&Value) -> bool,
) -> Option<(DotPath, &'v Value)> {
    for level in 1..=DEPTH {
        for name in names {
            let found = at_level(
                body,
                &DotPath::root(),
                level,
                &mut |path: &DotPath, v: &'v Value| {
                    let last = path.segments().last().map(|(k, _)| k);
                    (last == Some(name) && accept(v)).then(|| (path.clone(), v))
                },
            );
            if found.is_some() {
                return found;
            }
        }
    }
    None
}

/// [`walk`] restricted to the members at exactly `level`.
fn at_level<'v, T>(
    value: &'v Value,
    path: &DotPath,
    level: usize,
    visit: &mut impl FnMut(&DotPath, &'v Value) -> Option<T>,
) -> Option<T> {
    let map = value.as_object()?;
    map.iter().find_map(|(key, member)| match level {
        1 => visit(&path.child(key), member),
        _ => at_level(member, &path.child(key), level - 1, visit),
    })
}

/// Whether `s` reads as a URL (absolute, or relative with a path or a
/// query) rather than an opaque cursor.
fn looks_like_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://") || s.contains('/') || s.contains('?')
}

/// How a trial's second page is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A pointer the server gave (link, next URL, cursor): any new answer
    /// confirms it, an empty one too.
    Pointer,
    /// A number the client counts (page, offset): the second page must
    /// hold new items.
    Numbered,
    /// No evidence: a probe that, failing, leaves `none`.
    Probe,
}

/// One guess at the pagination, to be checked on the second page.
#[derive(Debug, Clone)]
pub struct Trial {
    /// The config's `pagination`.
    pub pagination: Value,
    /// The second page's URL; `None` when the first page is the last.
    pub next: Option<String>,
    /// The query parameter the trial moves, if any (for messages).
    pub param: Option<String>,
    /// How its second page is judged.
    pub kind: Kind,
    /// The evidence, in words.
    pub why: String,
}

/// The guesses the first answer supports, best first.
pub fn trials(first: &Answer, body: &Value, items: &Items) -> Vec<Trial> {
    if first.link_header {
        let why = match &first.link_next {
            Some(_) => "a `Link: <…>; rel=\"next\"` header".to_string(),
            None => "a `Link` header without rel=\"next\": this is the last page".to_string(),
        };
        let pagination = json!({"style": "link_header"});
        return vec![pointer(pagination, first.link_next.clone(), None, why)];
    }
    if let Some(trial) = next_url(first, body) {
        return vec![trial];
    }
    if let Some(trial) = cursor(first, body) {
        return trial;
    }
    super::numbers::numbered(first, body, items)
}

fn pointer(pagination: Value, next: Option<String>, param: Option<String>, why: String) -> Trial {
    Trial {
        pagination,
        next,
        param,
        kind: Kind::Pointer,
        why,
    }
}

/// A URL (or `null`) at a next-like key of the body.
fn next_url(first: &Answer, body: &Value) -> Option<Trial> {
    let (mut path, value) = find_key(body, &NEXT_URL_KEYS, |v| match v {
        Value::String(s) => looks_like_url(s),
        Value::Null => true,
        // HAL's `_links.next.href`.
        Value::Object(o) => o.get("href").is_some_and(Value::is_string),
        _ => false,
    })?;
    let target = match value {
        Value::Object(o) => {
            path = path.child("href");
            o.get("href").and_then(Value::as_str)
        }
        v => v.as_str(),
    };
    let next = target.map(|t| url::resolve(&first.final_url, t));
    let why = match &next {
        Some(_) => format!("a next-page URL at `{path}`"),
        None => format!("`{path}` is null: this is the last page"),
    };
    let pagination = json!({"style": "next_url", "next_path": path.to_string()});
    Some(pointer(pagination, next, None, why))
}

/// A cursor at a cursor-like key, or `has_more` beside item ids.
fn cursor(first: &Answer, body: &Value) -> Option<Vec<Trial>> {
    let has_more = find_key(body, &HAS_MORE_KEYS, Value::is_boolean);
    let found = find_key(body, &CURSOR_KEYS, |v| match v {
        Value::String(s) => !s.is_empty() && !looks_like_url(s),
        Value::Number(_) | Value::Null => true,
        _ => false,
    });
    let more = has_more.as_ref().and_then(|(_, v)| v.as_bool());
    if let Some((path, value)) = found {
        let name = path
            .segments()
            .last()
            .map(|(k, _)| k.to_string())
            .unwrap_or_default();
        let text = match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let mut pagination = json!({"style": "cursor", "cursor_path": path.to_string()});
        if let Some((p, _)) = &has_more {
            pagination["has_more_path"] = json!(p.to_string());
        }
        let trials = cursor_params(&name)
            .into_iter()
            .map(|param| {
                let mut pagination = pagination.clone();
                pagination["param"] = json!(param);
                let next = text
                    .as_ref()
                    .filter(|_| more != Some(false))
                    .map(|c| url::set_query_param(&first.url, &param, c));
                let why = match &next {
                    Some(_) => format!("a cursor at `{path}`, sent back as `{param}`"),
                    None => format!("a cursor at `{path}` with no value: this is the last page"),
                };
                pointer(pagination, next, Some(param), why)
            })
            .collect();
        return Some(trials);
    }
    // Stripe: `has_more` and the last item's id, no page numbers.
    let (flag, _) = has_more?;
    if find_key(body, &numbers::PAGE_KEYS, Value::is_u64).is_some()
        || find_key(body, &numbers::OFFSET_KEYS, Value::is_u64).is_some()
    {
        return None;
    }
    let items = find_items_ids(body)?;
    let stripe = body.get("object").and_then(Value::as_str) == Some("list")
        || body
            .get("url")
            .and_then(Value::as_str)
            .is_some_and(|u| u.starts_with("/v1/"));
    let params: &[&str] = if stripe {
        &["starting_after"]
    } else {
        &["starting_after", "after"]
    };
    let trials = params
        .iter()
        .map(|param| {
            let pagination = json!({"style": "cursor", "last_item_path": "id",
                                    "param": param, "has_more_path": flag.to_string()});
            let next =
                (more == Some(true)).then(|| url::set_query_param(&first.url, param, &items));
            let why = match (&next, stripe) {
                (None, _) => format!("`{flag}` is false: this is the last page"),
                (Some(_), true) => format!(
                    "`{flag}` and item ids in a Stripe-like list (\"object\": \"list\"): the last \
                     item's id sent as `{param}`"
                ),
                (Some(_), false) => format!(
                    "`{flag}` and item ids, no cursor or page number: guessing the last item's id \
                     is sent as `{param}` (Stripe's convention)"
                ),
            };
            pointer(pagination, next, Some(param.to_string()), why)
        })
        .collect();
    Some(trials)
}

/// The last item's `id` as text, when the body's item array has ids.
fn find_items_ids(body: &Value) -> Option<String> {
    let path = largest_array(body).unwrap_or_default();
    let last = path.get(body)?.as_array()?.last()?.get("id")?;
    match last {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The parameters a cursor found at key `name` is likely sent back as.
fn cursor_params(name: &str) -> Vec<String> {
    let mut params = match name {
        "endCursor" | "end_cursor" => vec!["after".to_string(), "cursor".to_string()],
        "next" => vec!["cursor".to_string(), "next".to_string()],
        _ => {
            let short = name
                .strip_prefix("next_")
                .or_else(|| name.strip_prefix("next"))
                .unwrap_or(name);
            let mut chars = short.chars();
            let short = match chars.next() {
                Some(c) => c.to_ascii_lowercase().to_string() + chars.as_str(),
                None => name.to_string(),
            };
            vec![short, name.to_string()]
        }
    };
    params.dedup();
    params
}
