//! The two baselines' walkers. [`walk`] is *parse to `Value`*: walk one
//! mock source's pages the way ingest does (same URLs, same end
//! conditions, same body limit), with a plain ureq agent, and only parse
//! each body with serde_json. No rate limit, no retries, no normalizing,
//! no output. It returns the URLs it fetched, which [`fetch_only`] then
//! requests again and only reads: the same pages, bodies read in full,
//! nothing parsed (it cannot find a cursor or a total without parsing, so
//! it replays a walk instead of paginating). Both read a body the way
//! ingest does, into one buffer sized from `Content-Length`, so the only
//! difference between them is the parse.
//!
//! Only the three styles the `clean` scenario serves are supported: `page`
//! (ends on 204 or an empty array), `offset` (ends at `total` or an empty
//! array) and `cursor` (ends on a null/missing/empty cursor).

use std::time::Duration;

use serde_json::Value;

/// What one walk fetched.
#[derive(Debug, Default, Clone, Copy)]
pub struct Walked {
    pub requests: u64,
    pub items: u64,
    /// Response body bytes.
    pub bytes: u64,
}

impl Walked {
    pub fn add(&mut self, other: Walked) {
        self.requests += other.requests;
        self.items += other.items;
        self.bytes += other.bytes;
    }
}

/// The same limit ingest applies by default (`max_body_bytes`).
const BODY_LIMIT: u64 = 10 * 1024 * 1024;

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn pointer(dot_path: &str) -> String {
    dot_path.split('.').map(|seg| format!("/{seg}")).collect()
}

fn with_query(url: &str, pairs: &[(&str, String)]) -> String {
    let mut out = url.to_string();
    for (i, (k, v)) in pairs.iter().enumerate() {
        let sep = if i == 0 && !url.contains('?') {
            '?'
        } else {
            '&'
        };
        out.push_str(&format!("{sep}{k}={v}"));
    }
    out
}

/// GETs `url` and reads its body whole; `None` for a 204.
fn get_bytes(agent: &ureq::Agent, url: &str) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut resp = agent
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("baseline GET {url}: {e}"));
    let status = resp.status().as_u16();
    if status == 204 {
        return None;
    }
    assert_eq!(status, 200, "baseline GET {url}");
    let announced = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let mut bytes = Vec::with_capacity(announced.min(BODY_LIMIT) as usize);
    resp.body_mut()
        .with_config()
        .limit(BODY_LIMIT)
        .reader()
        .read_to_end(&mut bytes)
        .unwrap_or_else(|e| panic!("baseline GET {url}: {e}"));
    Some(bytes)
}

/// GETs `url`; `None` for a 204, else the parsed body and its length.
fn get(agent: &ureq::Agent, url: &str) -> (Option<Value>, u64) {
    let Some(bytes) = get_bytes(agent, url) else {
        return (None, 0);
    };
    let body: Value =
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("baseline GET {url}: {e}"));
    (Some(body), bytes.len() as u64)
}

/// Requests each of `urls` and reads its body whole, parsing nothing.
pub fn fetch_only(agent: &ureq::Agent, urls: &[String]) -> Walked {
    let mut walked = Walked::default();
    for url in urls {
        let bytes = get_bytes(agent, url);
        walked.requests += 1;
        walked.bytes += bytes.map_or(0, |b| b.len() as u64);
    }
    walked
}

fn str_key<'a>(cfg: &'a Value, key: &str, default: &'a str) -> &'a str {
    cfg.get(key).and_then(Value::as_str).unwrap_or(default)
}

fn num_key(cfg: &Value, key: &str, default: u64) -> u64 {
    cfg.get(key).and_then(Value::as_u64).unwrap_or(default)
}

/// Walks every page of `source` (an entry of the mock's config), handing
/// each item to `sink`; returns what it fetched and the URLs, in order.
pub fn walk(
    agent: &ureq::Agent,
    source: &Value,
    mut sink: impl FnMut(Value),
) -> (Walked, Vec<String>) {
    let url = source["url"].as_str().expect("source url");
    let items_at = pointer(source["items_path"].as_str().expect("items_path"));
    let pg = &source["pagination"];
    let mut walked = Walked::default();
    let mut urls = Vec::new();
    // Returns the page's item count, or None at a 204.
    let mut fetch = |url: &str, walked: &mut Walked| -> Option<(usize, Value)> {
        urls.push(url.to_string());
        let (body, bytes) = get(agent, url);
        walked.requests += 1;
        walked.bytes += bytes;
        let mut body = body?;
        let items = match body.pointer_mut(&items_at).map(Value::take) {
            Some(Value::Array(items)) => items,
            other => panic!("baseline GET {url}: no item array at {items_at}: {other:?}"),
        };
        let n = items.len();
        walked.items += n as u64;
        items.into_iter().for_each(&mut sink);
        Some((n, body))
    };
    match pg["style"].as_str() {
        Some("page") => {
            let size = (str_key(pg, "size_param", "limit"), num_key(pg, "size", 0));
            let mut page = num_key(pg, "start", 1);
            loop {
                let query = [
                    (str_key(pg, "param", "page"), page.to_string()),
                    (size.0, size.1.to_string()),
                ];
                match fetch(&with_query(url, &query), &mut walked) {
                    Some((n, _)) if n > 0 => page += 1,
                    _ => break,
                }
            }
        }
        Some("offset") => {
            let limit = (str_key(pg, "limit_param", "limit"), num_key(pg, "limit", 0));
            let total_at = pointer(str_key(pg, "total_path", "total"));
            let mut offset = num_key(pg, "start", 0);
            loop {
                let query = [
                    (str_key(pg, "offset_param", "offset"), offset.to_string()),
                    (limit.0, limit.1.to_string()),
                ];
                let Some((n, body)) = fetch(&with_query(url, &query), &mut walked) else {
                    break;
                };
                offset += n as u64;
                let total = body.pointer(&total_at).and_then(Value::as_u64);
                if n == 0 || total.is_some_and(|t| offset >= t) {
                    break;
                }
            }
        }
        Some("cursor") => {
            let cursor_at = pointer(pg["cursor_path"].as_str().expect("cursor_path"));
            let param = str_key(pg, "param", "cursor");
            let mut next = url.to_string();
            while let Some((_, body)) = fetch(&next, &mut walked) {
                match body.pointer(&cursor_at).and_then(Value::as_str) {
                    Some(c) if !c.is_empty() => next = with_query(url, &[(param, c.to_string())]),
                    _ => break,
                }
            }
        }
        other => panic!("baseline: pagination style {other:?} is not supported"),
    }
    (walked, urls)
}
