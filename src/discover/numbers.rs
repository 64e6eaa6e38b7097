//! Page and offset pagination read from numbers: a page number or an
//! offset in the body, the number of pages or items in the body or in a
//! header (`X-Total-Count`, `X-Total`, `X-Total-Pages`, flask-smorest's
//! `X-Pagination` JSON), `has_more`. With evidence, the likelier style is
//! tried first and the other after it (the second page says which the
//! server honours); without any, `page=2` is only probed, and `none`
//! stays when it brings nothing new.

use crate::json::DotPath;
use serde_json::{json, Map, Value};

use crate::url;

use super::detect::{find_key, Items, Kind, Trial, HAS_MORE_KEYS};
use super::probe::Answer;

/// Keys holding the current page number.
pub(super) const PAGE_KEYS: [&str; 5] = [
    "page",
    "current_page",
    "currentPage",
    "page_number",
    "pageNumber",
];
/// Keys holding the current offset.
pub(super) const OFFSET_KEYS: [&str; 3] = ["offset", "skip", "start"];
/// Keys holding the number of pages.
pub(super) const PAGES_KEYS: [&str; 8] = [
    "total_pages",
    "totalPages",
    "pages",
    "page_count",
    "pageCount",
    "num_pages",
    "last_page",
    "lastPage",
];
/// Keys holding the number of items.
pub(super) const TOTAL_KEYS: [&str; 9] = [
    "total",
    "count",
    "total_count",
    "totalCount",
    "total_items",
    "totalItems",
    "total_results",
    "totalResults",
    "totalHits",
];

/// Page or offset numbers and totals, in the body or the headers; else a
/// probe of `page=2`.
/// The item total a body announces: of the numbers at total-like keys
/// (`hits.total.value` too), the largest that is at least the items on
/// the page — a `count` of this page's items or a `_shards.total` of 1 is
/// not the data's size, and taking it for one would end the data after
/// the first page.
fn item_total(body: &Value, count: u64) -> Option<(String, u64)> {
    fn walk(v: &Value, path: &DotPath, depth: usize, found: &mut Vec<(String, u64)>) {
        let Value::Object(o) = v else { return };
        for (k, child) in o {
            let at = path.child(k);
            if TOTAL_KEYS.contains(&k.as_str()) {
                match child {
                    Value::Number(n) => found.extend(n.as_u64().map(|n| (at.to_string(), n))),
                    Value::Object(inner) => found.extend(
                        inner
                            .get("value")
                            .and_then(Value::as_u64)
                            .map(|n| (at.child("value").to_string(), n)),
                    ),
                    _ => {}
                }
            }
            if depth < 3 {
                walk(child, &at, depth + 1, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(body, &DotPath::root(), 1, &mut found);
    found
        .into_iter()
        .filter(|(_, n)| *n >= count)
        .max_by_key(|(_, n)| *n)
}

/// What the answer's headers say (`X-Pagination`, `X-Total-Count`,
/// `X-Total`, `X-Total-Pages`), where the body said nothing of it: pages
/// and total filled in, and the page number `X-Pagination` gives.
fn from_headers(
    first: &Answer,
    pages: &mut Option<(String, u64)>,
    total: &mut Option<(String, u64)>,
) -> Option<u64> {
    let mut header_page = None;
    if let Some(x) = first
        .headers
        .get("x-pagination")
        .and_then(|h| serde_json::from_str::<Map<String, Value>>(h).ok())
    {
        for key in PAGES_KEYS {
            if let Some(n) = x.get(key).and_then(Value::as_u64) {
                pages.get_or_insert_with(|| (format!("header:X-Pagination.{key}"), n));
            }
        }
        for key in TOTAL_KEYS {
            if let Some(n) = x.get(key).and_then(Value::as_u64) {
                total.get_or_insert_with(|| (format!("header:X-Pagination.{key}"), n));
            }
        }
        header_page = x.get("page").and_then(Value::as_u64);
    }
    for (name, shown) in [("x-total-count", "X-Total-Count"), ("x-total", "X-Total")] {
        if let Some(n) = first
            .headers
            .get(name)
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            total.get_or_insert_with(|| (format!("header:{shown}"), n));
        }
    }
    if let Some(n) = first
        .headers
        .get("x-total-pages")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        pages.get_or_insert_with(|| ("header:X-Total-Pages".to_string(), n));
    }
    header_page
}

/// The evidence found, said in a line; `None` when there is none.
fn evidence_words(found: &[Option<String>]) -> Option<String> {
    let said: Vec<&str> = found.iter().flatten().map(String::as_str).collect();
    (!said.is_empty()).then(|| said.join(", "))
}

pub(super) fn numbered(first: &Answer, body: &Value, items: &Items) -> Vec<Trial> {
    let count = items.items.len() as u64;
    let page_key = find_key(body, &PAGE_KEYS, Value::is_u64);
    let offset_key = find_key(body, &OFFSET_KEYS, Value::is_u64);
    let has_more = find_key(body, &HAS_MORE_KEYS, Value::is_boolean);
    let mut pages: Option<(String, u64)> = find_key(body, &PAGES_KEYS, Value::is_u64)
        .map(|(p, v)| (p.to_string(), v.as_u64().unwrap_or(0)));
    let mut total: Option<(String, u64)> = item_total(body, count);
    let header_page = from_headers(first, &mut pages, &mut total);
    let evidence = page_key.is_some()
        || offset_key.is_some()
        || pages.is_some()
        || total.is_some()
        || has_more.is_some()
        || header_page.is_some();
    let last = has_more.as_ref().and_then(|(_, v)| v.as_bool()) == Some(false)
        || pages.as_ref().is_some_and(|(_, p)| *p <= 1)
        || total.as_ref().is_some_and(|(_, t)| *t <= count);
    let given_page = given_param(&first.url, false);
    let start = match page_key
        .as_ref()
        .and_then(|(_, v)| v.as_u64())
        .or(header_page)
        .or(given_page.as_ref().map(|(_, n)| *n))
    {
        Some(0) => 0,
        _ => 1,
    };
    let page_param = existing_param(&first.url, &["page", "page[number]", "p", "pageNumber"])
        .or_else(|| given_page.map(|(name, _)| name))
        .or_else(|| {
            page_key
                .as_ref()
                .and_then(|(p, _)| p.segments().last().map(|(k, _)| k.to_string()))
                .filter(|k| k == "page")
        })
        .unwrap_or_else(|| "page".to_string());
    let offset_param = existing_param(&first.url, &OFFSET_KEYS)
        .or_else(|| given_param(&first.url, true).map(|(name, _)| name))
        .or_else(|| {
            offset_key
                .as_ref()
                .and_then(|(p, _)| p.segments().last().map(|(k, _)| k.to_string()))
        })
        .unwrap_or_else(|| "offset".to_string());
    let kind = [Kind::Probe, Kind::Numbered][usize::from(evidence)];
    let said = evidence_words(&[
        page_key
            .as_ref()
            .map(|(p, v)| format!("a page number at `{p}` ({v})")),
        offset_key
            .as_ref()
            .map(|(p, v)| format!("an offset at `{p}` ({v})")),
        pages.as_ref().map(|(p, n)| format!("{n} pages at `{p}`")),
        total.as_ref().map(|(p, n)| format!("{n} items at `{p}`")),
        has_more.as_ref().map(|(p, v)| format!("`{p}` {v}")),
    ]);
    let words = |style: &str| match &said {
        Some(said) => said.clone(),
        None => format!("no sign of pagination in the body or the headers: trying `{style}`"),
    };
    let mut page = json!({"style": "page", "param": page_param, "start": start});
    match (&pages, &total) {
        (Some((p, _)), _) => page["total_pages_path"] = json!(p),
        (None, Some((p, _))) => page["total_items_path"] = json!(p),
        _ => {}
    }
    let mut offset = json!({"style": "offset", "offset_param": offset_param, "start": 0});
    if let Some((p, _)) = &total {
        offset["total_path"] = json!(p);
    }
    if let Some((p, _)) = &has_more {
        page["has_more_path"] = json!(p.to_string());
        offset["has_more_path"] = json!(p.to_string());
    }
    let page_trial = Trial {
        next: (!last)
            .then(|| url::set_query_param(&first.url, &page_param, &(start + 1).to_string())),
        why: words(&format!("{page_param}={}", start + 1)),
        pagination: page,
        param: Some(page_param.clone()),
        kind,
    };
    let offset_trial = Trial {
        next: (!last).then(|| url::set_query_param(&first.url, &offset_param, &count.to_string())),
        why: words(&format!("{offset_param}={count}")),
        pagination: offset,
        param: Some(offset_param.clone()),
        kind,
    };
    match (
        evidence,
        offset_key.is_some() && page_key.is_none() && pages.is_none(),
    ) {
        (false, _) => vec![page_trial],
        (true, true) => vec![offset_trial, page_trial],
        (true, false) => vec![page_trial, offset_trial],
    }
}

/// The first of `names` that `url`'s query already has.
fn existing_param(url: &str, names: &[&str]) -> Option<String> {
    let (_, query, _) = url::pieces(url);
    let query = query?;
    names
        .iter()
        .find(|name| {
            query.split('&').any(|pair| {
                let key = url::percent_decode(pair.split('=').next().unwrap_or(""));
                key == **name
            })
        })
        .map(|name| name.to_string())
}

/// A number parameter the user put in the URL (or gave with `--query`)
/// whose name says what it is — `_page=1`, `pagination[page]=1`,
/// `from=0` — when it is none of the usual names: the API's own, to page
/// with. `offset`: an offset-like name (offset, from, skip, start) rather
/// than a page-like one.
fn given_param(url: &str, offset: bool) -> Option<(String, u64)> {
    let (_, query, _) = url::pieces(url);
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        let key = url::percent_decode(key);
        let value: u64 = url::percent_decode(value).parse().ok()?;
        let lower = key.to_ascii_lowercase();
        let sized = ["size", "per", "limit", "count"]
            .iter()
            .any(|w| lower.contains(w));
        let like = match offset {
            true => ["offset", "from", "skip", "start"]
                .iter()
                .any(|w| lower.contains(w)),
            false => lower.contains("page"),
        };
        (like && !sized).then_some((key, value))
    })
}
