//! Sources whose items change between runs, and that answer `since=` the
//! way GitHub's issues API does: only the items updated at or after the
//! given instant (RFC 3339), paginated as usual over what is left.
//!
//! A source built with [`crate::MockSource::honouring_since`] serves
//! GitHub issues in issue-number order. Its generation 0 is the seeded
//! data, with the greatest `updated_at` given to two items, so that a
//! bookmark taken from it has a tie at its instant. Each
//! [`crate::MockServer::next_generation`] moves every such source on,
//! deterministically (seed, source, generation): about a fifth of the
//! items are edited — a later `updated_at`, a new title, one more comment
//! — never the ones at the greatest instant, and a tenth as many (at
//! least two) new issues are opened after them, the last one at the same
//! instant as the latest edit: a tie again. Every other source never
//! changes.

use std::collections::BTreeSet;

use fastrand::Rng;
use serde_json::{json, Value};

use crate::data::fnv;
use crate::shapes::{github_issue, rfc3339, TITLES};

/// What one call of [`crate::MockServer::next_generation`] did to one
/// source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// The source.
    pub source: String,
    /// The generation it is at now (the seeded data is generation 0).
    pub generation: u32,
    /// Ids (the `id` field's text, as records write it) of the items
    /// edited: each has a `updated_at` later than every item before.
    pub changed: BTreeSet<String>,
    /// Ids of the items added, after every item before.
    pub added: BTreeSet<String>,
}

/// One changing source's items at one generation, in served order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Issues {
    /// Each item with its `updated_at` in epoch seconds.
    items: Vec<(u64, Value)>,
}

impl Issues {
    /// Generation 0 from the seeded pages (each a JSON array of issues):
    /// the item updated second-latest is moved to the latest instant, a
    /// tie at the boundary.
    pub fn from_pages(pages: &[Box<str>]) -> Issues {
        let mut items: Vec<(u64, Value)> = Vec::new();
        for page in pages {
            let values: Vec<Value> = serde_json::from_str(page).unwrap_or_default();
            for v in values {
                let updated = updated_secs(&v);
                items.push((updated, v));
            }
        }
        let mut issues = Issues { items };
        if let Some(max) = issues.max_updated() {
            let second = (0..issues.items.len())
                .filter(|&i| issues.items[i].0 < max)
                .max_by_key(|&i| issues.items[i].0);
            if let Some(i) = second {
                issues.set_updated(i, max);
            }
        }
        issues
    }

    /// The greatest `updated_at`, in epoch seconds.
    pub fn max_updated(&self) -> Option<u64> {
        self.items.iter().map(|(u, _)| *u).max()
    }

    /// Every item, in served order.
    pub fn all(&self) -> impl Iterator<Item = &Value> {
        self.items.iter().map(|(_, v)| v)
    }

    /// The item arrays (JSON text) of the pages a request with `since`
    /// (nanoseconds since the epoch) gets, `per_page` items a page: at
    /// least one page, empty when nothing matches.
    pub fn pages(&self, since: Option<i128>, per_page: usize) -> (Vec<String>, u64) {
        let kept: Vec<&Value> = self
            .items
            .iter()
            .filter(|(u, _)| since.is_none_or(|s| i128::from(*u) * 1_000_000_000 >= s))
            .map(|(_, v)| v)
            .collect();
        let mut pages: Vec<String> = kept
            .chunks(per_page.max(1))
            .map(|chunk| Value::Array(chunk.iter().map(|v| (*v).clone()).collect()).to_string())
            .collect();
        if pages.is_empty() {
            pages.push("[]".to_string());
        }
        (pages, kept.len() as u64)
    }

    /// Moves item `i` to `updated` (epoch seconds); a `closed_at` or
    /// `merged_at` that was its update moves along.
    fn set_updated(&mut self, i: usize, updated: u64) {
        let (old, item) = &mut self.items[i];
        let was = json!(rfc3339(*old));
        let now = json!(rfc3339(updated));
        if item["closed_at"] == was {
            item["closed_at"] = now.clone();
        }
        if let Some(pr) = item.get_mut("pull_request") {
            if pr["merged_at"] == was {
                pr["merged_at"] = now.clone();
            }
        }
        if item["created_at"].as_str() > now.as_str() {
            item["created_at"] = now.clone();
        }
        item["updated_at"] = now;
        *old = updated;
    }

    /// Generation `generation` from this one (see the module docs).
    pub fn next(&self, seed: u64, name: &str, generation: u32) -> (Issues, Changes) {
        let mut rng = Rng::with_seed(
            seed ^ fnv(name) ^ u64::from(generation).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        let mut next = self.clone();
        let max = self.max_updated().unwrap_or(crate::shapes::EPOCH_2026);
        let len = self.items.len();
        let mut candidates: Vec<usize> = (0..len).filter(|&i| self.items[i].0 < max).collect();
        rng.shuffle(&mut candidates);
        candidates.truncate((len / 5).max(1));
        candidates.sort_unstable();
        let mut latest = max;
        let mut changed = BTreeSet::new();
        for &i in &candidates {
            let updated = max + rng.u64(60..86_400);
            latest = latest.max(updated);
            next.set_updated(i, updated);
            let item = &mut next.items[i].1;
            item["title"] = json!(TITLES[rng.usize(..TITLES.len())]);
            let comments = item["comments"].as_u64().unwrap_or(0);
            item["comments"] = json!(comments + 1);
            changed.insert(item["id"].to_string());
        }
        let mut number = self
            .items
            .iter()
            .filter_map(|(_, v)| v["number"].as_u64())
            .max()
            .unwrap_or(0);
        let mut added = BTreeSet::new();
        let new = (len / 10).max(2);
        for k in 0..new {
            number += rng.u64(1..=3);
            let issue = github_issue(number, &mut rng);
            added.insert(issue["id"].to_string());
            next.items.push((0, issue));
            let i = next.items.len() - 1;
            let updated = if k + 1 == new {
                // The last one ties with the latest edit (or the latest
                // item added before it).
                latest
            } else {
                max + rng.u64(60..86_400)
            };
            latest = latest.max(updated);
            // Opened after everything before, then updated.
            next.items[i].1["created_at"] = json!(rfc3339(max + 1));
            next.items[i].0 = max + 1;
            next.set_updated(i, updated);
            let item = &mut next.items[i].1;
            if !item["closed_at"].is_null() {
                item["closed_at"] = json!(rfc3339(updated));
            }
            if let Some(pr) = item.get_mut("pull_request") {
                if !pr["merged_at"].is_null() {
                    pr["merged_at"] = json!(rfc3339(updated));
                }
            }
        }
        let changes = Changes {
            source: name.to_string(),
            generation,
            changed,
            added,
        };
        (next, changes)
    }
}

/// `updated_at` of an issue, in epoch seconds (0 when it has none).
fn updated_secs(item: &Value) -> u64 {
    item["updated_at"]
        .as_str()
        .and_then(parse_rfc3339)
        .and_then(|nanos| u64::try_from(nanos.div_euclid(1_000_000_000)).ok())
        .unwrap_or(0)
}

/// An RFC 3339 date-time (`2026-01-01T08:00:00Z`, a fraction and a
/// numeric offset allowed, `T` or a space) as nanoseconds since the
/// epoch, as GitHub reads `since`. Independent of ingest's own parser, so
/// that a test checks ingest against it.
pub fn parse_rfc3339(text: &str) -> Option<i128> {
    let b = text.as_bytes();
    let digits = |from: usize, n: usize| -> Option<i64> {
        let part = text.get(from..from + n)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut at = 19;
    let mut nanos: i128 = 0;
    if b.get(at) == Some(&b'.') {
        let start = at + 1;
        at = start;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        let frac = &text[start..at];
        if frac.is_empty() || frac.len() > 9 {
            return None;
        }
        nanos = format!("{frac:0<9}").parse().ok()?;
    }
    let offset_secs: i64 = match &text[at..] {
        "Z" | "z" => 0,
        rest if rest.len() == 6 && matches!(rest.as_bytes()[0], b'+' | b'-') => {
            if rest.as_bytes()[3] != b':' {
                return None;
            }
            let (h, m) = (digits(at + 1, 2)?, digits(at + 4, 2)?);
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `%XX` escapes of a query value decoded (`+` is a space, as forms
/// write it); malformed escapes are kept as they are.
pub(crate) fn percent_decode(value: &str) -> String {
    let b = value.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let hex = |c: &u8| (*c as char).to_digit(16);
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (b.get(i + 1).and_then(hex), b.get(i + 2).and_then(hex)) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Mounted;
    use crate::{MockSource, Scenario, Style};

    fn mounted(style: Style) -> Mounted {
        let scenario = Scenario::new(11)
            .with(MockSource::new("gh", style, 4, 5).honouring_since("since"))
            .with(MockSource::new("fixed", Style::Page, 2, 3));
        Mounted::new(scenario, "http://mock:1".into())
    }

    /// Items a request for `target` gets, and its Link header values.
    fn get(m: &Mounted, target: &str) -> (u16, Vec<Value>, Vec<String>) {
        let a = m.respond(target, 1);
        let body: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
        let items = body.as_array().cloned().unwrap_or_default();
        let links = a.headers.iter().filter(|(k, _)| k == "Link");
        (a.status, items, links.map(|(_, v)| v.clone()).collect())
    }

    fn updated(items: &[Value]) -> Vec<String> {
        items
            .iter()
            .map(|i| i["updated_at"].as_str().unwrap().to_string())
            .collect()
    }

    /// Every item a `link_header` client gets with `since` (none: all).
    fn crawl(m: &Mounted, since: Option<&str>) -> Vec<Value> {
        let mut target = match since {
            Some(s) => format!("/gh/list?since={}", s.replace(':', "%3A")),
            None => "/gh/list".to_string(),
        };
        let mut all = Vec::new();
        loop {
            let (status, items, links) = get(m, &target);
            assert_eq!(status, 200, "{target}");
            all.extend(items);
            let next = links.iter().flat_map(|l| l.split(", ")).find_map(|l| {
                let (url, rel) = l.split_once(">; ")?;
                rel.to_ascii_lowercase()
                    .contains("next")
                    .then(|| url[1..].to_string())
            });
            match next {
                Some(url) => {
                    if let Some(s) = since {
                        assert!(
                            url.contains(&format!("since={}", s.replace(':', "%3A"))),
                            "{url}"
                        );
                    }
                    target = url.trim_start_matches("http://mock:1").to_string();
                    if !target.starts_with('/') {
                        target = format!("/gh/{target}");
                    }
                }
                None => return all,
            }
        }
    }

    #[test]
    fn since_keeps_the_items_updated_at_or_after_with_a_tie_at_the_latest() {
        let m = mounted(Style::LinkHeader);
        let all = crawl(&m, None);
        assert_eq!(all.len(), 20);
        let mut times = updated(&all);
        times.sort();
        let max = times.last().unwrap().clone();
        assert_eq!(
            times[times.len() - 2],
            max,
            "two items at the latest instant"
        );
        let tied = crawl(&m, Some(&max));
        assert_eq!(updated(&tied), [max.clone(), max.clone()]);
        let third = &times[times.len() - 3];
        assert_eq!(crawl(&m, Some(third)).len(), 3, "at or after");
        let later = rfc3339(parse_rfc3339(&max).unwrap() as u64 / 1_000_000_000 + 1);
        assert_eq!(crawl(&m, Some(&later)), Vec::<Value>::new());
        // A fraction and an offset are instants too.
        let just_before = format!("{}.5-00:00", &third[..19]);
        assert_eq!(crawl(&m, Some(&just_before)).len(), 2);
        assert_eq!(m.respond("/gh/list?since=yesterday", 1).status, 422);
        assert_eq!(m.route("/gh/list?since=yesterday").page, 0);
        // The truth is every item, page by page.
        let t = m.truth();
        let t = t.source("gh").unwrap();
        let from_truth: Vec<Value> = (1..=t.pages.len()).flat_map(|p| t.items(p)).collect();
        assert_eq!(from_truth, all);
    }

    #[test]
    fn every_style_paginates_over_what_since_left() {
        for style in [Style::Page, Style::Offset, Style::Cursor, Style::NextUrl] {
            let m = mounted(style);
            let t = m.truth();
            let t = t.source("gh").unwrap();
            let all: Vec<Value> = (1..=t.pages.len()).flat_map(|p| t.items(p)).collect();
            let mut times = updated(&all);
            times.sort();
            let since = times[10].replace(':', "%3A");
            let first = format!("/gh/{}?since={since}", style.resource());
            let a = m.respond(&first, 1);
            assert_eq!(a.status, 200, "{style:?}");
            let body: Value = serde_json::from_slice(&a.body).unwrap();
            match style {
                Style::Offset => assert!(body["total"].as_u64().unwrap() < 20),
                Style::NextUrl => {
                    assert!(body["next"].as_str().unwrap().contains(&since), "{body}")
                }
                _ => {}
            }
        }
    }

    #[test]
    fn generations_edit_some_items_and_add_some_deterministically() {
        let m = mounted(Style::LinkHeader);
        let before = crawl(&m, None);
        let fixed = m.respond("/fixed/products?page=1", 1);
        let old_max = updated(&before).into_iter().max().unwrap();
        let changes = m.next_generation();
        assert_eq!(changes, mounted(Style::LinkHeader).next_generation());
        let [c] = &changes[..] else {
            panic!("{changes:?}")
        };
        assert_eq!((c.source.as_str(), c.generation), ("gh", 1));
        assert_eq!((c.changed.len(), c.added.len()), (4, 2));
        let after = crawl(&m, None);
        assert_eq!(after.len(), 22);
        let id = |i: &Value| i["id"].to_string();
        let ties: BTreeSet<String> = before
            .iter()
            .filter(|i| i["updated_at"] == json!(old_max))
            .map(id)
            .collect();
        assert_eq!(ties.len(), 2);
        // Asking since the old latest instant: exactly the edits, the new
        // ones, and the two that were at that instant.
        let got: BTreeSet<String> = crawl(&m, Some(&old_max)).iter().map(id).collect();
        let want: BTreeSet<String> = c
            .changed
            .iter()
            .chain(&c.added)
            .chain(&ties)
            .cloned()
            .collect();
        assert_eq!(got, want);
        for item in &after {
            let was = before.iter().find(|b| id(b) == id(item));
            match was {
                Some(was) if c.changed.contains(&id(item)) => {
                    assert!(item["updated_at"].as_str() > Some(old_max.as_str()));
                    assert_ne!(item["comments"], was["comments"]);
                }
                Some(was) => assert_eq!(item, was),
                None => assert!(c.added.contains(&id(item))),
            }
        }
        let mut times = updated(&after);
        times.sort();
        assert_eq!(
            times[times.len() - 1],
            times[times.len() - 2],
            "a tie again"
        );
        assert_eq!(
            m.respond("/fixed/products?page=1", 1),
            fixed,
            "others never change"
        );
        assert_eq!(m.next_generation()[0].generation, 2);
    }

    #[test]
    fn rfc3339_parses_what_github_accepts() {
        let t = |s: &str| parse_rfc3339(s).map(|n| n / 1_000_000_000);
        assert_eq!(t("2026-01-01T00:00:00Z"), Some(1_767_225_600));
        assert_eq!(t("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(t("2026-01-01T02:00:00+02:00"), Some(1_767_225_600));
        assert_eq!(t("2025-12-31T23:00:00-01:00"), Some(1_767_225_600));
        assert_eq!(
            parse_rfc3339("2025-12-31T23:59:58.5Z"),
            Some(1_767_225_598 * 1_000_000_000 + 500_000_000)
        );
        for bad in [
            "",
            "2026-01-01",
            "2026-01-01T00:00:00",
            "2026-13-01T00:00:00Z",
            "2026-01-01T00:00:00.Z",
            "yesterday",
            "2026-01-01T00:00:00+0200",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        for secs in [
            0,
            1_767_225_600,
            1_767_225_600 + 59 * 86_400 - 1,
            4_102_444_800,
        ] {
            assert_eq!(t(&rfc3339(secs)), Some(secs as i128), "{secs}");
        }
    }

    #[test]
    fn percent_escapes_are_decoded() {
        assert_eq!(
            percent_decode("2026-01-01T00%3A00%3A00Z"),
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(percent_decode("a+b%2Bc"), "a b+c");
        assert_eq!(percent_decode("50%"), "50%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
