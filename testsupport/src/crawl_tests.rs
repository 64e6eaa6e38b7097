//! End-to-end check of the mocks against their own contract: a small
//! crawler follows each source's `config_json()` entry the way SPEC §3
//! describes (over raw TCP, keep-alive), must reach the end of every
//! style, and a compact SPEC §5 classifier re-derives each served item's
//! fate, which must equal the recorded [`crate::Truth`].

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::{ItemTruth, MockServer, MockSource, Scenario, Style};

/// One keep-alive connection; returns (status, headers, body).
struct Conn(TcpStream);

impl Conn {
    fn get(&mut self, target: &str) -> (u16, Vec<(String, String)>, Value) {
        // One write: a head split over several segments waits on Nagle.
        let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n");
        self.0.write_all(request.as_bytes()).unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(self.0.read(&mut b).unwrap(), 1, "EOF in head");
            head.push(b[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let status = head[9..12].parse().unwrap();
        let mut len = 0;
        let mut headers = Vec::new();
        for line in head.lines().skip(1) {
            if let Some((k, v)) = line.split_once(": ") {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.parse().unwrap();
                }
                headers.push((k.to_string(), v.to_string()));
            }
        }
        let mut body = vec![0u8; len];
        self.0.read_exact(&mut body).unwrap();
        let body = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap()
        };
        (status, headers, body)
    }
}

/// SPEC §11's envelope paths: a dot path in the body, or `header:NAME`
/// (`header:NAME.dot.path` inside a header that holds JSON).
fn envelope(body: &Value, headers: &[(String, String)], path: &str) -> Option<Value> {
    let (root, path) = match path.strip_prefix("header:") {
        Some(rest) => {
            let (name, path) = rest.split_once('.').unwrap_or((rest, ""));
            let (_, value) = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))?;
            let json = serde_json::from_str(value).unwrap_or_else(|_| Value::from(value.as_str()));
            (json, path)
        }
        None => (body.clone(), path),
    };
    if path.is_empty() {
        return Some(root);
    }
    root.pointer(&format!("/{}", path.replace('.', "/")))
        .cloned()
}

/// A number that may come as text (a header's value).
fn number(v: Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

/// The `rel="next"` target of some Link header values.
fn link_next(links: &[String]) -> Option<String> {
    links.iter().flat_map(|v| v.split(", ")).find_map(|link| {
        let (url, params) = link.split_once(">;")?;
        let rel = params
            .trim()
            .strip_prefix("rel=")?
            .trim_matches('"')
            .to_ascii_lowercase();
        rel.split(' ')
            .any(|t| t == "next")
            .then(|| url.trim_start_matches('<').to_string())
    })
}

/// Resolves `next` against the current target, giving a path + query.
fn resolve(base: &str, current: &str, next: &str) -> String {
    if let Some(rest) = next.strip_prefix(base) {
        rest.to_string()
    } else if next.starts_with('/') {
        next.to_string()
    } else {
        let path = current.split('?').next().unwrap();
        format!("{}/{next}", &path[..path.rfind('/').unwrap()])
    }
}

/// Follows one config source to its end; returns each page's items.
fn crawl(server: &MockServer, cfg: &Value) -> Vec<Vec<Value>> {
    let base = server.base_url();
    let start = cfg["url"]
        .as_str()
        .unwrap()
        .strip_prefix(&base)
        .unwrap()
        .to_string();
    let p = &cfg["pagination"];
    let items_of = |body: &Value| -> Vec<Value> {
        let v = match cfg.get("items_path") {
            Some(path) => &body[path.as_str().unwrap()],
            None => body,
        };
        v.as_array().expect("item array").clone()
    };
    let mut conn = Conn(TcpStream::connect(server.addr()).unwrap());
    conn.0
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let at = |body: &Value, headers: &[(String, String)], key: &str| -> Option<Value> {
        envelope(body, headers, p.get(key)?.as_str()?)
    };
    let mut pages = Vec::new();
    let mut target = start.clone();
    let mut n = p["start"].as_u64().unwrap_or(0) as usize;
    for _ in 0..1000 {
        let style = p["style"].as_str().unwrap();
        if style == "page" && p["size"].is_null() {
            target = format!("{start}?page={n}");
        } else if style == "page" {
            target = format!("{start}?page={n}&limit={}", p["size"]);
        } else if style == "offset" {
            target = format!("{start}?offset={n}&limit={}", p["limit"]);
        }
        let (status, headers, body) = conn.get(&target);
        let links: Vec<String> = headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("link"))
            .map(|(_, v)| v.clone())
            .collect();
        if status == 204 {
            return pages;
        }
        assert_eq!(status, 200, "{target}");
        let items = items_of(&body);
        let empty = items.is_empty();
        n += if style == "offset" { items.len() } else { 1 };
        let last_id = items.last().map(|item| item["id"].clone());
        pages.push(items);
        let no_more = at(&body, &headers, "has_more_path") == Some(Value::Bool(false));
        let counted = at(&body, &headers, "total_items_path")
            .and_then(number)
            .is_some_and(|t| pages.len() as u64 >= t.div_ceil(pages[0].len() as u64))
            || at(&body, &headers, "total_pages_path")
                .and_then(number)
                .is_some_and(|t| pages.len() as u64 >= t);
        let past_total = at(&body, &headers, "total_path")
            .and_then(number)
            .is_some_and(|t| n as u64 >= t);
        let next = match style {
            "page" if empty => return pages[..pages.len() - 1].to_vec(),
            "offset" if empty || past_total || no_more => {
                return pages.into_iter().filter(|p| !p.is_empty()).collect()
            }
            _ if no_more || counted => return pages,
            "page" | "offset" => continue,
            "cursor" if p.get("last_item_path").is_some() => last_id
                .and_then(|id| id.as_str().map(str::to_string))
                .map(|id| format!("{start}?{}={id}", p["param"].as_str().unwrap())),
            "cursor" => body["meta"]["next_cursor"]
                .as_str()
                .map(|c| format!("{start}?cursor={c}")),
            "next_url" => at(&body, &headers, "next_path")
                .and_then(|u| u.as_str().map(|u| resolve(&base, &target, u))),
            "link_header" => link_next(&links).map(|u| resolve(&base, &target, &u)),
            _ => None,
        };
        match next {
            Some(next) => target = next,
            None => return pages,
        }
    }
    panic!("{start} did not end");
}

const ALL: [&str; 13] = [
    "id",
    "sku",
    "product_id",
    "uuid",
    "name",
    "title",
    "product_name",
    "price",
    "amount",
    "cost",
    "currency",
    "currency_code",
    "category",
];

/// SPEC §5 breadth-first lookup of one field with candidates `names`.
fn lookup<'a>(item: &'a Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    let mut level = vec![item];
    for _ in 0..3 {
        for name in names {
            if let Some(v) = level
                .iter()
                .find_map(|o| o.get(*name).filter(|v| !v.is_null()))
            {
                return Some(v);
            }
        }
        level = level
            .iter()
            .flat_map(|o| o.iter())
            .filter(|(k, _)| !ALL.contains(&k.as_str()) || names.contains(&k.as_str()))
            .filter_map(|(_, v)| v.as_object())
            .collect();
    }
    None
}

/// SPEC §5 price strings; `None` = bad_price.
fn parse_price(s: &str) -> Option<f64> {
    let mut t = s
        .trim()
        .trim_matches(|c| "$€£¥".contains(c))
        .trim()
        .to_string();
    for _ in 0..2 {
        let w = t.len();
        if w >= 3 && t[..3].chars().all(|c| c.is_ascii_alphabetic()) {
            t = t[3..].trim().to_string();
        } else if w >= 3 && t[w - 3..].chars().all(|c| c.is_ascii_alphabetic()) {
            t = t[..w - 3].trim().to_string();
        }
    }
    let t = t.trim_matches(|c| "$€£¥ ".contains(c));
    if t.is_empty() || !t.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if !t
        .chars()
        .all(|c| c.is_ascii_digit() || c == ',' || c == '.')
    {
        return None;
    }
    let norm = match (t.rfind(','), t.rfind('.')) {
        (Some(c), Some(d)) if c > d => t.replace('.', "").replace(',', "."),
        (Some(_), Some(_)) => t.replace(',', ""),
        (Some(_), None) if t.split(',').skip(1).all(|g| g.len() == 3) => t.replace(',', ""),
        (Some(_), None) if t.matches(',').count() == 1 => t.replace(',', "."),
        (Some(_), None) => return None,
        (None, _) if t.matches('.').count() > 1 => t.replace('.', ""),
        (None, _) => t.to_string(),
    };
    norm.parse().ok()
}

/// What a correct SPEC §5 normalizer makes of `item`.
fn classify(item: &Value) -> ItemTruth {
    let Some(obj) = item.as_object() else {
        return ItemTruth::Invalid("not_an_object");
    };
    let id = match lookup(obj, &["id", "sku", "product_id", "uuid"]) {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        _ => return ItemTruth::Invalid("missing_id"),
    };
    let price = match lookup(obj, &["price", "amount", "cost"]) {
        Some(Value::Object(p)) => ["amount", "value", "price"]
            .iter()
            .find_map(|k| p.get(*k).filter(|v| !v.is_null())),
        other => other,
    };
    let ok = match price {
        None => return ItemTruth::Invalid("missing_price"),
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f.is_finite() && f >= 0.0),
        Some(Value::String(s)) => parse_price(s).is_some(),
        Some(_) => false,
    };
    if ok {
        ItemTruth::Valid { id }
    } else {
        ItemTruth::Invalid("bad_price")
    }
}

#[test]
fn classifier_agrees_with_spec_examples() {
    for (s, v) in [
        ("$1,299.00", 1299.0),
        ("1.299,00", 1299.0),
        ("12,50 €", 12.5),
        ("¥1,200", 1200.0),
        ("EUR 12", 12.0),
        ("7", 7.0),
    ] {
        assert_eq!(parse_price(s), Some(v), "{s}");
    }
    for s in ["-5", "abc", "1e3", "NaN", "", "Infinity"] {
        assert_eq!(parse_price(s), None, "{s}");
    }
    let trap = serde_json::json!({"product": {"title": "x"}, "price": 1, "category": {"id": 5}});
    assert_eq!(classify(&trap), ItemTruth::Invalid("missing_id"));
}

#[test]
fn every_style_paginates_to_its_end_and_matches_truth() {
    let mut scenario = Scenario::clean(11, 4, 12);
    for (name, style) in [
        ("n", Style::NextUrl),
        ("l", Style::LinkHeader),
        ("o", Style::None),
    ] {
        scenario = scenario.with(MockSource::new(name, style, 4, 12));
    }
    let server = MockServer::start(scenario).unwrap();
    let truth = server.truth();
    let config = server.config_json();
    for cfg in config["sources"].as_array().unwrap() {
        let name = cfg["name"].as_str().unwrap();
        let pages = crawl(&server, cfg);
        let st = truth.source(name).unwrap();
        assert_eq!(pages.len(), st.pages.len(), "{name}: pages");
        for (i, (served, expected)) in pages.iter().zip(&st.pages).enumerate() {
            let got: Vec<ItemTruth> = served.iter().map(classify).collect();
            assert_eq!(&got, expected, "{name} page {}", i + 1);
        }
    }
    let e = truth.expected_all();
    assert_eq!(e.items, 5 * 48 + 12, "style none serves one page");
    assert!(e.duplicates > 0 && e.invalid.len() == 4, "{e:?}");
}

#[test]
fn api_shapes_paginate_to_their_end_and_match_truth() {
    let server = MockServer::start(Scenario::apis(5, 4, 7)).unwrap();
    let truth = server.truth();
    for cfg in server.config_json()["sources"].as_array().unwrap() {
        let st = truth.source(cfg["name"].as_str().unwrap()).unwrap();
        let pages = crawl(&server, cfg);
        assert_eq!(pages.len(), 4);
        for (i, served) in pages.iter().enumerate() {
            assert_eq!(served, &st.items(i + 1), "{} page {}", st.name, i + 1);
            let got: Vec<ItemTruth> = served.iter().map(classify).collect();
            assert_eq!(got, st.page(i + 1), "{} page {}", st.name, i + 1);
        }
    }
}

/// The styles of real APIs (DRF's counted pages, Stripe's lists,
/// flask-smorest's `X-Pagination`, `X-Total-Count`) and `has_more` on the
/// three styles that read it: each reaches its end by the key its config
/// names (in the body or in a header), never asking for a page past the
/// last.
#[test]
fn counted_and_has_more_styles_end_by_their_keys() {
    let mut scenario = Scenario::new(3);
    for (name, style) in [
        ("p", Style::Page),
        ("o", Style::Offset),
        ("c", Style::Cursor),
    ] {
        scenario = scenario.with(MockSource::new(name, style, 4, 5).has_more());
    }
    let scenario = scenario
        .with(MockSource::new("drf", Style::PageCount, 4, 5))
        .with(MockSource::new("stripe", Style::StartingAfter, 4, 5))
        .with(MockSource::new("smorest", Style::XPagination, 4, 5))
        .with(MockSource::new("counted", Style::XTotalCount, 4, 5));
    let server = MockServer::start(scenario).unwrap();
    let truth = server.truth();
    for cfg in server.config_json()["sources"].as_array().unwrap() {
        let st = truth.source(cfg["name"].as_str().unwrap()).unwrap();
        let pages = crawl(&server, cfg);
        assert_eq!(pages.len(), 4, "{}", st.name);
        for (i, served) in pages.iter().enumerate() {
            assert_eq!(served, &st.items(i + 1), "{} page {}", st.name, i + 1);
        }
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 7 * 4, "{requests:#?}");
    assert!(requests.iter().all(|r| (1..=4).contains(&r.page)));
}

/// A JSON:API server: the next link at `links.next`, followed to the
/// last page and not past it.
#[test]
fn jsonapi_links_next_is_followed_to_the_end() {
    let scenario = Scenario::new(4).with(MockSource::new("j", Style::JsonApi, 4, 5));
    let server = MockServer::start(scenario).unwrap();
    let truth = server.truth();
    let st = truth.source("j").unwrap();
    let cfg = &server.config_json()["sources"][0];
    let pages = crawl(&server, cfg);
    assert_eq!(pages.len(), 4);
    for (i, served) in pages.iter().enumerate() {
        assert_eq!(served, &st.items(i + 1), "page {}", i + 1);
        let got: Vec<ItemTruth> = served.iter().map(classify).collect();
        assert_eq!(got, st.page(i + 1), "page {}", i + 1);
    }
    let asked: Vec<usize> = server.requests().iter().map(|r| r.page).collect();
    assert_eq!(asked, [1, 2, 3, 4]);
}

#[test]
fn demo_data_matches_truth_at_default_size() {
    let server = MockServer::start(Scenario::clean(42, 10, 20)).unwrap();
    let truth = server.truth();
    for cfg in server.config_json()["sources"].as_array().unwrap() {
        let st = truth.source(cfg["name"].as_str().unwrap()).unwrap();
        let got: Vec<Vec<ItemTruth>> = crawl(&server, cfg)
            .iter()
            .map(|p| p.iter().map(classify).collect())
            .collect();
        assert_eq!(got, st.pages);
    }
}
