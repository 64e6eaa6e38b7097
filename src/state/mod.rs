//! The state file of `--state FILE` (SPEC §9): where each source stopped,
//! so that a cut run continues at the page it did not finish, and each
//! incremental source's bookmark, so that the next run asks only for what
//! changed.
//!
//! ```json
//! { "version": 1,
//!   "sources": { "alpha": {
//!       "fingerprint": "5f1c…",
//!       "resume": {"page": 7},
//!       "bookmark": "2026-11-01T08:00:00Z",
//!       "pass": {"sent": "2026-10-31T08:00:00Z", "greatest": "2026-11-01T07:59:00Z"} } } }
//! ```
//!
//! `resume` is the first page a stopped source did not finish, in its
//! style's terms (`page`, `offset`, `cursor` or `url`); `pass` is the pass
//! that position belongs to: the bookmark it sent (the resumed run sends it
//! again, so the window does not move under it) and the greatest bookmark
//! value it has seen so far. The bookmark itself only advances when a pass
//! reaches the end with no page given up, so nothing is ever skipped. A
//! fingerprint of the source's `url`, `pagination`, `query` and
//! `incremental` guards each entry: a changed config drops it. Entries of
//! sources this run does not run (`--source`) are kept as they are. The
//! file is written atomically, after the summary; a saved URL never holds
//! the values of secret query parameters (they are put back from the
//! config when the run resumes).

use std::collections::BTreeMap;

use log::info;
use serde_json::{json, Map, Value};

use crate::config::{ConfigError, Pagination, SourceConfig};
use crate::record::bookmark::Bookmark;
use crate::redact::{is_secret_name, Redactor};
use crate::url::{pieces, set_query_param};
pub use position::Position;

pub mod position;

/// Where a fetcher starts: the source's URL (with a bookmark parameter
/// set, for an incremental source) and the position a state file saved.
#[derive(Debug, Clone, Default)]
pub struct Start {
    /// The start URL, when it is not the source's own.
    pub url: Option<String>,
    /// The page to resume at, if any.
    pub position: Option<Position>,
}

/// How a source ended, as the state needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ended {
    /// It reached its end with no page given up.
    pub clean: bool,
    /// Where a later run resumes, when it stopped early.
    pub resume: Option<Position>,
    /// The greatest bookmark value among the items it received.
    pub greatest: Option<Bookmark>,
    /// Every record it made reached the records' output. False when
    /// stdout closed before some of them were written (`--stdout`): the
    /// source's entry then stays as it was, so that the next run fetches
    /// again what nobody received.
    pub delivered: bool,
}

impl Ended {
    /// A source whose pagination reached its end (`complete`) or not,
    /// with `failed_pages` pages given up and `resume` where its fetcher
    /// would go on; its greatest bookmark is added by whoever counted the
    /// items.
    pub fn new(complete: bool, failed_pages: u64, resume: Option<Position>) -> Ended {
        Ended {
            clean: complete && failed_pages == 0,
            resume: resume.filter(|_| !complete),
            greatest: None,
            delivered: true,
        }
    }
}

/// The state file format's version.
const VERSION: u64 = 1;

/// What a state file holds, for every source it names.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// Each source's entry, as read (sources this run leaves alone are
    /// written back unchanged).
    sources: Map<String, Value>,
}

/// One source's saved state.
#[derive(Debug, Clone, Default, PartialEq)]
struct Entry {
    fingerprint: String,
    resume: Option<Position>,
    bookmark: Option<Value>,
    pass_sent: Option<Value>,
    pass_greatest: Option<Value>,
}

/// How one source starts this run, by its saved state.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Where the fetcher starts.
    pub start: Start,
    /// The position resumed from, as the summary shows it.
    pub resumed_from: Option<Value>,
    /// The bookmark sent (after lookback), for an incremental source.
    pub bookmark_sent: Option<Bookmark>,
    /// The greatest bookmark value the resumed pass saw before this run.
    prior_greatest: Option<Bookmark>,
    /// The saved entry this plan came from (dropped if stale).
    entry: Entry,
    /// Why the saved state was not used, if it was not.
    pub warning: Option<String>,
}

impl State {
    /// The state a file holds, or what is wrong with it.
    pub fn from_json(doc: &Value) -> Result<State, String> {
        let doc = doc.as_object().ok_or("expected a JSON object")?;
        match doc.get("version").and_then(Value::as_u64) {
            Some(VERSION) => {}
            Some(v) => return Err(format!("version {v}; this ingest reads version {VERSION}")),
            None => return Err("expected \"version\": 1".into()),
        }
        let sources = doc
            .get("sources")
            .and_then(Value::as_object)
            .ok_or("expected \"sources\", an object of entries")?;
        for (name, entry) in sources {
            Entry::from_json(entry).map_err(|what| format!("sources.{}: {what}", clipped(name)))?;
        }
        Ok(State {
            sources: sources.clone(),
        })
    }

    /// How `source` starts this run.
    pub fn plan(&self, source: &SourceConfig, redactor: &Redactor) -> Plan {
        let fingerprint = fingerprint(source, redactor);
        let saved = self
            .sources
            .get(&source.name)
            .and_then(|v| Entry::from_json(v).ok());
        let mut warning = None;
        let entry = match saved {
            Some(e) if e.fingerprint == fingerprint => e,
            Some(_) => {
                warning = Some(
                    "the saved position and bookmark were dropped: the source's url, \
                     pagination, query or incremental changed since they were saved"
                        .to_string(),
                );
                Entry::default()
            }
            None => Entry::default(),
        };
        // Only a hand-edited file holds another style's position: said,
        // and not shown as where the source resumed.
        let mut entry = entry;
        if let Some(position) = entry
            .resume
            .as_ref()
            .filter(|p| !fits(p, &source.pagination))
        {
            warning = Some(format!(
                "the saved position {} was dropped: it is not a position of pagination \
                 style {}; the source starts from the beginning",
                clipped(&position.to_json().to_string()),
                source.pagination.to_json()["style"]
            ));
            entry.resume = None;
            entry.pass_sent = None;
            entry.pass_greatest = None;
        }
        let kind = source.incremental.as_ref().map(|i| i.kind);
        let read = |v: &Option<Value>| kind?.read_json(v.as_ref()?);
        let bookmark_sent = match (&source.incremental, &entry.resume) {
            (None, _) => None,
            (Some(_), Some(_)) => read(&entry.pass_sent),
            (Some(inc), None) => read(&entry.bookmark)
                .map(|b| b.minus(inc.lookback))
                .or(inc.start),
        };
        let mut url = source.url.clone();
        if let (Some(inc), Some(sent)) = (&source.incremental, bookmark_sent) {
            url = set_query_param(&url, &inc.param, &sent.to_text());
        }
        let position = entry.resume.clone().map(|p| restore_secrets(p, &url));
        let resumed_from = position.as_ref().map(|p| shown_position(p, redactor));
        let name = source.name.as_str();
        if let Some(shown) = &resumed_from {
            info!(source = name, event = "resume", position = shown.to_string(); "");
        }
        if let Some(sent) = bookmark_sent {
            info!(source = name, event = "bookmark_sent", value = sent.to_text(); "");
        }
        Plan {
            resumed_from,
            start: Start {
                url: Some(url),
                position,
            },
            bookmark_sent,
            prior_greatest: read(&entry.pass_greatest),
            entry: Entry {
                fingerprint,
                ..entry
            },
            warning,
        }
    }

    /// Records how `source` ended under `plan`; returns the bookmark the
    /// state now holds for it.
    pub fn record(
        &mut self,
        source: &SourceConfig,
        plan: &Plan,
        ended: &Ended,
    ) -> Option<Bookmark> {
        let kind = source.incremental.as_ref().map(|i| i.kind);
        let old = kind.and_then(|k| k.read_json(plan.entry.bookmark.as_ref()?));
        if !ended.delivered {
            self.sources
                .insert(source.name.clone(), plan.entry.to_json());
            return old;
        }
        let greatest = Bookmark::max(plan.prior_greatest, ended.greatest);
        let mut entry = Entry {
            fingerprint: plan.entry.fingerprint.clone(),
            bookmark: plan.entry.bookmark.clone(),
            ..Entry::default()
        };
        let mut saved = old;
        if ended.clean {
            saved = Bookmark::max(old, greatest);
            entry.bookmark = saved.map(Bookmark::to_json);
        } else if let Some(position) = &ended.resume {
            entry.resume = Some(strip_secrets(position.clone()));
            entry.pass_sent = plan.bookmark_sent.map(Bookmark::to_json);
            entry.pass_greatest = greatest.map(Bookmark::to_json);
        }
        self.sources.insert(source.name.clone(), entry.to_json());
        saved
    }

    /// The state as the file holds it (and a Singer STATE's `value`).
    pub fn to_json(&self) -> Value {
        json!({ "version": VERSION, "sources": self.sources })
    }
}

impl Entry {
    fn from_json(v: &Value) -> Result<Entry, String> {
        let o = v.as_object().ok_or("expected an object")?;
        for key in o.keys() {
            if !["fingerprint", "resume", "bookmark", "pass"].contains(&key.as_str()) {
                return Err(format!("unknown key {}", clipped(&format!("{key:?}"))));
            }
        }
        let fingerprint = o
            .get("fingerprint")
            .and_then(Value::as_str)
            .ok_or("expected a fingerprint string")?
            .to_string();
        let resume = match o.get("resume") {
            None | Some(Value::Null) => None,
            Some(p) => Some(Position::from_json(p).ok_or_else(|| {
                match p.as_object().filter(|o| o.len() == 1).and_then(|o| o.get("url")) {
                    Some(Value::String(u)) => format!(
                        "resume.url: expected an http(s) URL, found {}",
                        clipped(&format!("{u:?}"))
                    ),
                    _ => format!(
                        "resume: expected {{\"page\"|\"offset\": n}}, {{\"cursor\": …}} or {{\"url\": …}}, found {}",
                        clipped(&p.to_string())
                    ),
                }
            })?),
        };
        let scalar = |v: Option<&Value>, what: &str| match v {
            None | Some(Value::Null) => Ok(None),
            Some(v @ (Value::String(_) | Value::Number(_))) => Ok(Some(v.clone())),
            Some(v) => Err(format!(
                "{what}: expected a string or a number, found {}",
                clipped(&v.to_string())
            )),
        };
        let bookmark = scalar(o.get("bookmark"), "bookmark")?;
        let (pass_sent, pass_greatest) = match o.get("pass") {
            None | Some(Value::Null) => (None, None),
            Some(Value::Object(p)) => (
                scalar(p.get("sent"), "pass.sent")?,
                scalar(p.get("greatest"), "pass.greatest")?,
            ),
            Some(p) => {
                return Err(format!(
                    "pass: expected an object, found {}",
                    clipped(&p.to_string())
                ))
            }
        };
        Ok(Entry {
            fingerprint,
            resume,
            bookmark,
            pass_sent,
            pass_greatest,
        })
    }

    fn to_json(&self) -> Value {
        let pass = (self.resume.is_some())
            .then(|| json!({ "sent": self.pass_sent, "greatest": self.pass_greatest }));
        json!({
            "fingerprint": self.fingerprint,
            "resume": self.resume.as_ref().map(Position::to_json),
            "bookmark": self.bookmark,
            "pass": pass,
        })
    }
}

/// `text` cut to its first 60 characters: what a hostile state file holds
/// is quoted in an error message, and must not make it megabytes long.
fn clipped(text: &str) -> String {
    const SHOWN: usize = 60;
    match text.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("{}… ({} bytes)", &text[..at], text.len()),
        None => text.to_string(),
    }
}

/// A fingerprint of what decides which pages a source's positions name:
/// its URL (secrets hidden, so a rotated token keeps the state), its
/// pagination, query names and incremental settings. FNV-1a, so it is the
/// same in every run and on every machine.
fn fingerprint(source: &SourceConfig, redactor: &Redactor) -> String {
    let query: Vec<&str> = source.query.iter().map(|q| q.name.as_str()).collect();
    let what = json!({
        "url": redactor.redact_url(&source.url),
        "pagination": source.pagination.to_json(),
        "query": query,
        "incremental": source.incremental.as_ref().map(|i| i.to_json()),
    });
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in what.to_string().bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Whether `style` can resume at `position`.
fn fits(position: &Position, style: &Pagination) -> bool {
    matches!(
        (style, position),
        (Pagination::Page { .. }, Position::Page(_))
            | (Pagination::Offset { .. }, Position::Offset(_))
            | (Pagination::Cursor { .. }, Position::Cursor(_))
            | (
                Pagination::NextUrl { .. } | Pagination::LinkHeader,
                Position::Url(_)
            )
    )
}

/// A position to save: a URL without the values of secret query
/// parameters (they are the config's, put back on resume).
fn strip_secrets(position: Position) -> Position {
    match position {
        Position::Url(url) => {
            let (base, query, _) = pieces(&url);
            let kept: Vec<&str> = query
                .into_iter()
                .flat_map(|q| q.split('&'))
                .filter(|pair| !pair.split('=').next().is_some_and(is_secret_name))
                .collect();
            let mut out = base.to_string();
            if !kept.is_empty() {
                out.push('?');
                out.push_str(&kept.join("&"));
            }
            Position::Url(out)
        }
        other => other,
    }
}

/// A saved position with the secret query parameters of `start` (the
/// source's configured URL) put back.
fn restore_secrets(position: Position, start: &str) -> Position {
    match position {
        Position::Url(mut url) => {
            let (_, query, _) = pieces(start);
            let pairs = query.into_iter().flat_map(|q| q.split('&'));
            for (name, value) in pairs.filter_map(|p| p.split_once('=')) {
                if is_secret_name(name) {
                    url = set_query_param(&url, name, &crate::url::percent_decode(value));
                }
            }
            Position::Url(url)
        }
        other => other,
    }
}

/// A position as the summary shows it (URLs redacted).
fn shown_position(position: &Position, redactor: &Redactor) -> Value {
    match position {
        Position::Url(u) => json!({ "url": redactor.shown_url(u) }),
        other => other.to_json(),
    }
}

/// What `--source` asked for, checked against the config: an unknown name
/// is a usage error naming the known ones.
pub fn select_sources(
    sources: &mut Vec<SourceConfig>,
    wanted: &[String],
) -> Result<(), ConfigError> {
    if wanted.is_empty() {
        return Ok(());
    }
    let known: BTreeMap<&str, ()> = sources.iter().map(|s| (s.name.as_str(), ())).collect();
    if let Some(unknown) = wanted.iter().find(|w| !known.contains_key(w.as_str())) {
        let names: Vec<&str> = known.keys().copied().collect();
        return Err(ConfigError(format!(
            "--source: no source named {unknown:?} in the config (its sources: {})",
            names.join(", ")
        )));
    }
    sources.retain(|s| wanted.contains(&s.name));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_state_files_are_refused_with_a_reason() {
        let long = "x".repeat(1 << 20);
        for (doc, what) in [
            (
                json!({"version": 1, "sources": {"a": {"fingerprint": "f", "resume": {"page": long}}}}),
                "resume",
            ),
            (
                json!({"version": 1, "sources": {"a": {"fingerprint": "f", "resume": {"url": long}}}}),
                "resume.url",
            ),
            (
                json!({"version": 1, "sources": {"a": {"fingerprint": "f", "bookmark": [long]}}}),
                "bookmark",
            ),
            (
                json!({"version": 1, "sources": {"a": {"fingerprint": "f", "pass": [long]}}}),
                "pass",
            ),
            (
                json!({"version": 1, "sources": {"a": {"fingerprint": "f", long.as_str(): 1}}}),
                "unknown key",
            ),
            (
                json!({"version": 1, "sources": {long.as_str(): 5}}),
                "expected an object",
            ),
        ] {
            let err = State::from_json(&doc).unwrap_err();
            assert!(
                err.contains(what) && err.len() < 300,
                "{what}: {} bytes",
                err.len()
            );
            assert!(err.contains("… (10485"), "{err}");
        }
        for (doc, gist) in [
            (json!([]), "expected a JSON object"),
            (json!({"version": 2, "sources": {}}), "version 2"),
            (json!({"sources": {}}), "\"version\": 1"),
            (json!({"version": 1}), "\"sources\""),
            (
                json!({"version": 1, "sources": {"a": 5}}),
                "sources.a: expected an object",
            ),
            (
                json!({"version": 1, "sources": {"a": {"fingerprint": "f", "resume": {"page": "x"}}}}),
                "sources.a: resume",
            ),
            (
                json!({"version": 1, "sources": {"a": {"fingerprint": "f", "resume": {"url": "file:///etc"}}}}),
                "resume.url: expected an http(s) URL, found \"file:///etc\"",
            ),
            (
                json!({"version": 1, "sources": {"a": {"fingerprint": "f", "bookmark": [1]}}}),
                "bookmark",
            ),
            (json!({"version": 1, "sources": {"a": {}}}), "fingerprint"),
            (
                json!({"version": 1, "sources": {"a": {"fingerprint": "f", "extra": 1}}}),
                "unknown key",
            ),
        ] {
            let err = State::from_json(&doc).unwrap_err();
            assert!(err.contains(gist), "{doc}: {err}");
        }
    }

    #[test]
    fn saved_urls_lose_their_secrets_and_get_them_back() {
        let saved = strip_secrets(Position::Url("http://h/p?page=2&api_key=s3cret&x=1".into()));
        assert_eq!(saved, Position::Url("http://h/p?page=2&x=1".into()));
        let back = restore_secrets(saved, "http://h/start?api_key=s3cret");
        assert_eq!(
            back,
            Position::Url("http://h/p?page=2&x=1&api_key=s3cret".into())
        );
        assert_eq!(strip_secrets(Position::Page(3)), Position::Page(3));
    }

    #[test]
    fn unknown_sources_are_named_with_the_known_ones() {
        let config = crate::config::Config::parse(
            "t",
            r#"{"sources": [{"name": "a", "url": "http://x/"}, {"name": "b", "url": "http://y/"}]}"#,
        )
        .unwrap();
        let mut sources = config.sources.clone();
        let err = select_sources(&mut sources, &["c".into()]).unwrap_err();
        assert!(err.0.contains("\"c\"") && err.0.contains("a, b"), "{err}");
        select_sources(&mut sources, &["b".into()]).unwrap();
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].name, "b");
    }
}
