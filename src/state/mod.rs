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
//! file is written atomically, after the summary.
//!
//! A saved position holds no secret (`secrets.rs`: left out, and put back
//! from the config on the source's own origin); a timestamp bookmark never
//! goes past the run's start; and a file ingest did not write — a value
//! that does not parse for its source, a key given twice (`unique.rs`) —
//! is refused, naming the source and the field, never half used.

use std::collections::BTreeMap;

use log::info;
use serde_json::{json, Map, Value};

use crate::config::{ConfigError, Pagination, Partitions, SourceConfig};
use crate::record::bookmark::{Bookmark, BookmarkKind};
use crate::redact::Redactor;
use crate::url::set_query_param;
pub use partitions::{PartitionStart, PartitionsEnded};
pub use position::Position;

mod partitions;
pub mod position;
mod secrets;
mod unique;

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
    /// How a partitioned source's partitions ended.
    pub partitions: Option<PartitionsEnded>,
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
            partitions: None,
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
    /// A partitioned source's partitions (SPEC §12).
    partitions: partitions::Saved,
}

/// What is wrong with a state file: where (a dot path) and what.
pub(crate) type Refusal = (String, String);

/// How one source starts this run, by its saved state.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Where the fetcher starts.
    pub start: Start,
    /// The position resumed from, as the summary shows it.
    pub resumed_from: Option<Value>,
    /// The bookmark sent (after lookback), for an incremental source.
    pub bookmark_sent: Option<Bookmark>,
    /// Where a partitioned source starts in its partitions.
    pub partitions: PartitionStart,
    /// The greatest bookmark value the resumed pass saw before this run.
    prior_greatest: Option<Bookmark>,
    /// The saved entry this plan came from (dropped if stale).
    entry: Entry,
    /// What a saved position must not hold (the run's secrets).
    redactor: Redactor,
    /// The run's start: no timestamp bookmark is saved past it.
    signpost: Option<Bookmark>,
    /// Why the saved state was not used, if it was not.
    pub warning: Option<String>,
}

/// What the state holds for a source once its ending is recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recorded {
    /// The bookmark saved.
    pub bookmark: Option<Bookmark>,
    /// Why the position the source stopped at was not saved, if it was
    /// not: a warning for the summary.
    pub warning: Option<String>,
}

impl Plan {
    /// Starts the source from its first page whatever the state saved: a
    /// parent's records are what its children run for, so it is fetched
    /// whole in every run (a cut incremental parent still sends the cut
    /// pass's bookmark, which its children's done partitions belong to).
    pub fn restarted(mut self) -> Plan {
        if self.start.position.take().is_some() {
            self.resumed_from = None;
        }
        self
    }
}

impl State {
    /// The state the text of a state file holds, or what is wrong with it
    /// (not JSON, a key given twice, not a state of this version).
    pub fn from_slice(bytes: &[u8]) -> Result<State, String> {
        let doc: Value = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a state file (not valid JSON: {e})"))?;
        unique::check(bytes)?;
        State::from_json(&doc)
    }

    /// The state a file holds, or what is wrong with it.
    pub fn from_json(doc: &Value) -> Result<State, String> {
        let doc = doc.as_object().ok_or("expected a JSON object")?;
        // `{}` is what Singer orchestrators hand over before a first run.
        if doc.is_empty() {
            return Ok(State::default());
        }
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
            Entry::from_json(entry).map_err(|refusal| at_source(name, refusal))?;
        }
        Ok(State {
            sources: sources.clone(),
        })
    }

    /// How `source` starts this run, which started at `signpost`; or, for
    /// an entry whose values do not parse for this source, what is wrong
    /// (a usage error: a file ingest did not write is not half used).
    pub fn plan(
        &self,
        source: &SourceConfig,
        redactor: &Redactor,
        signpost: Option<Bookmark>,
    ) -> Result<Plan, String> {
        let fingerprint = fingerprint(source, redactor);
        let refused = |refusal| at_source(&source.name, refusal);
        let saved = match self.sources.get(&source.name) {
            Some(v) => Some(Entry::from_json(v).map_err(refused)?),
            None => None,
        };
        let mut warning = None;
        let entry = match saved {
            Some(e) if e.fingerprint == fingerprint => {
                e.check(source).map_err(refused)?;
                e
            }
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
        let kind = source.incremental.as_ref().map(|i| i.kind);
        let read = |v: &Option<Value>| kind?.read_json(v.as_ref()?);
        let bookmark_sent = match (&source.incremental, entry.in_a_pass()) {
            (None, _) => None,
            (Some(_), true) => read(&entry.pass_sent),
            (Some(inc), false) => read(&entry.bookmark)
                .map(|b| b.minus(inc.lookback))
                .or(inc.start),
        };
        let mut url = source.url.clone();
        if let (Some(inc), Some(sent)) = (&source.incremental, bookmark_sent) {
            url = set_query_param(&url, &inc.param, &sent.to_text());
        }
        let position = entry.resume.clone().map(|p| secrets::restore(p, source));
        let resumed_from = position.as_ref().map(|p| shown_position(p, redactor));
        // A partitioned source's position is its cut partition's.
        let (position, partitions) = match source.partitions {
            None => (position, PartitionStart::default()),
            Some(_) => (
                None,
                PartitionStart {
                    done: entry.partitions.done.clone(),
                    at: entry.partitions.at.zip(position),
                    windows: entry.partitions.windows.clone(),
                },
            ),
        };
        let name = source.name.as_str();
        if let Some(shown) = &resumed_from {
            info!(source = name, event = "resume", position = shown.to_string(); "");
        }
        if let Some(sent) = bookmark_sent {
            info!(source = name, event = "bookmark_sent", value = sent.to_text(); "");
        }
        Ok(Plan {
            resumed_from,
            start: Start {
                url: Some(url),
                position,
            },
            bookmark_sent,
            partitions,
            prior_greatest: read(&entry.pass_greatest),
            entry: Entry {
                fingerprint,
                ..entry
            },
            redactor: redactor.clone(),
            signpost,
            warning,
        })
    }

    /// Records how `source` ended under `plan`: the bookmark the state now
    /// holds for it, and why its position was not saved, if it was not.
    pub fn record(&mut self, source: &SourceConfig, plan: &Plan, ended: &Ended) -> Recorded {
        let kind = source.incremental.as_ref().map(|i| i.kind);
        let old = kind.and_then(|k| k.read_json(plan.entry.bookmark.as_ref()?));
        let strip = |p: &Position| secrets::strip(p.clone(), source, &plan.redactor);
        if !ended.delivered {
            let entry = Entry {
                resume: plan.entry.resume.as_ref().and_then(strip),
                partitions: plan.entry.partitions.clone(),
                ..plan.entry.clone()
            };
            self.sources.insert(source.name.clone(), entry.to_json());
            return Recorded {
                bookmark: old,
                warning: None,
            };
        }
        let held = |b: Bookmark| b.at_most(plan.signpost);
        let greatest = Bookmark::max(plan.prior_greatest, ended.greatest).map(held);
        let mut entry = Entry {
            fingerprint: plan.entry.fingerprint.clone(),
            bookmark: plan.entry.bookmark.clone(),
            ..Entry::default()
        };
        let mut recorded = Recorded {
            bookmark: old,
            warning: None,
        };
        if let Some(parts) = &ended.partitions {
            let resumes = ended.resume.is_some();
            entry.partitions = plan.entry.partitions.after(parts, ended.clean, resumes);
            if !ended.clean && !entry.partitions.done.is_empty() {
                // The pass goes on next run: it sends the same bookmark.
                entry.pass_sent = plan.bookmark_sent.map(Bookmark::to_json);
                entry.pass_greatest = greatest.map(Bookmark::to_json);
            }
        }
        if ended.clean {
            recorded.bookmark = Bookmark::max(old, greatest).map(held);
            entry.bookmark = recorded.bookmark.map(Bookmark::to_json);
        } else if let Some(position) = &ended.resume {
            match strip(position) {
                Some(kept) => {
                    entry.resume = Some(kept);
                    entry.pass_sent = plan.bookmark_sent.map(Bookmark::to_json);
                    entry.pass_greatest = greatest.map(Bookmark::to_json);
                }
                None => {
                    entry.partitions.at = None;
                    recorded.warning = Some(
                        "the position to resume at was not saved: it holds a secret of the \
                         config outside its query; the next run starts this source from the \
                         beginning"
                            .to_string(),
                    )
                }
            }
        }
        self.sources.insert(source.name.clone(), entry.to_json());
        recorded
    }

    /// The state as the file holds it (and a Singer STATE's `value`).
    pub fn to_json(&self) -> Value {
        json!({ "version": VERSION, "sources": self.sources })
    }
}

/// `refusal` of the entry of source `name`: `sources.<name>.<field>: …`.
fn at_source(name: &str, (field, what): Refusal) -> String {
    let field = match field.as_str() {
        "" => String::new(),
        field => format!(".{field}"),
    };
    format!("sources.{}{field}: {what}", clipped(name))
}

/// A refusal of `field`: what was expected there, and what was found.
pub(crate) fn expected(field: &str, what: &str, found: &Value) -> Refusal {
    let found = clipped(&found.to_string());
    (field.to_string(), format!("expected {what}, found {found}"))
}

impl Entry {
    /// An entry as a state file holds it, checked for its shape (what it
    /// means for its source is [`check`](Self::check)'s business).
    fn from_json(v: &Value) -> Result<Entry, Refusal> {
        let o = v.as_object().ok_or_else(|| expected("", "an object", v))?;
        for key in o.keys() {
            if !["fingerprint", "resume", "bookmark", "pass", "partitions"].contains(&key.as_str())
            {
                let what = format!("unknown key {}", clipped(&format!("{key:?}")));
                return Err((String::new(), what));
            }
        }
        let fingerprint = match o.get("fingerprint") {
            Some(Value::String(f)) => f.clone(),
            found => {
                return Err(expected(
                    "fingerprint",
                    "a string",
                    found.unwrap_or(&Value::Null),
                ))
            }
        };
        let resume = match o.get("resume") {
            None | Some(Value::Null) => None,
            Some(p) => Some(Position::from_json(p).ok_or_else(|| not_a_position(p))?),
        };
        let scalar = |v: Option<&Value>, field: &str| match v {
            None | Some(Value::Null) => Ok(None),
            Some(v @ (Value::String(_) | Value::Number(_))) => Ok(Some(v.clone())),
            Some(v) => Err(expected(field, "a string or a number", v)),
        };
        let bookmark = scalar(o.get("bookmark"), "bookmark")?;
        let partitions = match o.get("partitions") {
            None | Some(Value::Null) => partitions::Saved::default(),
            Some(p) => partitions::Saved::from_json(p)?,
        };
        let unfinished = resume.is_some() || !partitions.done.is_empty();
        let (pass_sent, pass_greatest) = match o.get("pass") {
            None | Some(Value::Null) => (None, None),
            Some(p) if !unfinished => {
                return Err(expected("pass", "null where there is no resume", p))
            }
            Some(Value::Object(p)) => {
                if let Some(key) = p
                    .keys()
                    .find(|k| !["sent", "greatest"].contains(&k.as_str()))
                {
                    let what = format!("unknown key {}", clipped(&format!("{key:?}")));
                    return Err(("pass".to_string(), what));
                }
                (
                    scalar(p.get("sent"), "pass.sent")?,
                    scalar(p.get("greatest"), "pass.greatest")?,
                )
            }
            Some(p) => return Err(expected("pass", "an object", p)),
        };
        Ok(Entry {
            fingerprint,
            resume,
            bookmark,
            pass_sent,
            pass_greatest,
            partitions,
        })
    }

    /// Whether this entry's values parse for `source`: a position of its
    /// pagination style, bookmarks of its incremental type (none when it
    /// is not incremental). Checked for an entry this run uses, the
    /// same way for every value.
    fn check(&self, source: &SourceConfig) -> Result<(), Refusal> {
        if let Some(position) = self
            .resume
            .as_ref()
            .filter(|p| !fits(p, &source.pagination))
        {
            let style = source.pagination.to_json()["style"].clone();
            let what = format!(
                "{} (the source's pagination is {style})",
                position_of(&source.pagination)
            );
            return Err(expected("resume", &what, &position.to_json()));
        }
        let kind = source.incremental.as_ref().map(|i| i.kind);
        for (field, value) in [
            ("bookmark", &self.bookmark),
            ("pass.sent", &self.pass_sent),
            ("pass.greatest", &self.pass_greatest),
        ] {
            let Some(value) = value else { continue };
            match kind {
                None => {
                    return Err(expected(
                        field,
                        "null (the source is not incremental)",
                        value,
                    ))
                }
                Some(kind) if kind.read_json(value).is_none() => {
                    return Err(expected(field, bookmark_of(kind), value))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn to_json(&self) -> Value {
        let pass = self
            .in_a_pass()
            .then(|| json!({ "sent": self.pass_sent, "greatest": self.pass_greatest }));
        let mut out = json!({
            "fingerprint": self.fingerprint,
            "resume": self.resume.as_ref().map(Position::to_json),
            "bookmark": self.bookmark,
            "pass": pass,
        });
        // Written for partitioned sources only: other entries read as before.
        if !self.partitions.is_empty() {
            out["partitions"] = self.partitions.to_json();
        }
        out
    }

    /// Whether a pass is unfinished: cut at a position, or some of its
    /// partitions done.
    fn in_a_pass(&self) -> bool {
        self.resume.is_some() || !self.partitions.done.is_empty()
    }
}

/// Why `p` is not a position of any style.
fn not_a_position(p: &Value) -> Refusal {
    match p
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.get("url"))
    {
        Some(u @ Value::String(_)) => expected("resume.url", "an http(s) URL", u),
        _ => expected(
            "resume",
            "{\"page\"|\"offset\": n}, {\"cursor\": \"…\"} or {\"url\": \"…\"}",
            p,
        ),
    }
}

/// What a position of `style` looks like.
fn position_of(style: &Pagination) -> &'static str {
    match style {
        Pagination::Page { .. } => "{\"page\": n}",
        Pagination::Offset { .. } => "{\"offset\": n}",
        Pagination::Cursor { .. } => "{\"cursor\": \"…\"}",
        Pagination::NextUrl { .. } | Pagination::LinkHeader => "{\"url\": \"http(s)://…\"}",
        Pagination::None => "null",
    }
}

/// What a bookmark of `kind` looks like.
fn bookmark_of(kind: BookmarkKind) -> &'static str {
    match kind {
        BookmarkKind::Timestamp => {
            "a timestamp, like \"2026-01-01T00:00:00Z\" (the source's incremental type)"
        }
        BookmarkKind::Integer => "an integer (the source's incremental type)",
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
    let mut what = json!({
        "url": redactor.redact_url(&source.url),
        "pagination": source.pagination.to_json(),
        "query": query,
        "incremental": source.incremental.as_ref().map(|i| i.to_json()),
    });
    // What names a partition decides what a saved one means.
    if let Some(partitions) = &source.partitions {
        what["partitions"] = json!(partitions.names());
        if let crate::config::Partitions::Parent(p) = partitions {
            what["parent"] = json!(p.source);
        }
    }
    // What a request body says decides what a saved position means too;
    // added only where there is one, so a GET source's fingerprint (and
    // every state file saved before bodies existed) stays as it was.
    if source.method != crate::config::Method::Get || source.body.is_some() {
        what["request"] = json!({
            "method": source.method.as_str(),
            "body": source.body.as_deref().map(|b| redactor.redact_text(b)),
            "in_body": source.params_in_body,
        });
    }
    let hash = crate::partition::stable_hash(what.to_string().as_bytes());
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
    // A child's parents run too, for its partitions, without writing
    // their records.
    let mut kept: Vec<String> = wanted.to_vec();
    let mut fetched_for_children: Vec<String> = Vec::new();
    let mut i = 0;
    while i < kept.len() {
        let parent = sources
            .iter()
            .find(|s| s.name == kept[i])
            .and_then(|s| match &s.partitions {
                Some(Partitions::Parent(p)) => Some(p.source.clone()),
                _ => None,
            });
        if let Some(parent) = parent.filter(|p| !kept.contains(p)) {
            info!(source = parent.as_str(), event = "fetched_for_children", child = kept[i].as_str(); "");
            fetched_for_children.push(parent.clone());
            kept.push(parent);
        }
        i += 1;
    }
    sources.retain(|s| kept.contains(&s.name));
    for source in sources.iter_mut() {
        if fetched_for_children.contains(&source.name) {
            source.emit = false;
        }
    }
    relink_parents(sources);
    Ok(())
}

/// Keeps the sources of shard `shard` (SPEC §12): a source that runs
/// once, by a stable hash of its name; every partitioned source (its
/// partitions are shared out as they come); and every parent, whose
/// records only the shard that owns it writes (the others fetch them for
/// their children's partitions).
pub fn shard_sources(sources: &mut Vec<SourceConfig>, shard: crate::partition::Shard) {
    let parents: Vec<String> = sources
        .iter()
        .filter_map(|s| match &s.partitions {
            Some(Partitions::Parent(p)) => Some(p.source.clone()),
            _ => None,
        })
        .collect();
    sources.retain(|s| {
        s.partitions.is_some() || parents.contains(&s.name) || shard.owns_source(&s.name)
    });
    for source in sources.iter_mut() {
        if source.partitions.is_none() && !shard.owns_source(&source.name) {
            source.emit = false;
        }
    }
    relink_parents(sources);
}

/// Sets each child's parent index again, after sources were left out.
fn relink_parents(sources: &mut [SourceConfig]) {
    let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
    for source in sources.iter_mut() {
        if let Some(Partitions::Parent(p)) = &mut source.partitions {
            if let Some(i) = names.iter().position(|n| *n == p.source) {
                p.index = i;
            }
        }
    }
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
        // `{}` (a Singer orchestrator's "no state yet") is a first run.
        assert!(State::from_json(&json!({})).unwrap().to_json()["sources"]
            .as_object()
            .unwrap()
            .is_empty());
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
                "sources.a.resume: expected",
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

    /// An incremental `next_url` source, its config's redactor, and a
    /// state holding `entry` for it under its real fingerprint.
    fn incremental(entry: Value) -> (SourceConfig, Redactor, State) {
        let config = crate::config::Config::parse(
            "t",
            r#"{"sources": [{"name": "s", "url": "http://h/a?token=k3y-s3cret",
                "pagination": {"style": "next_url"},
                "incremental": {"field": "t", "param": "since"}}]}"#,
        )
        .unwrap();
        let (source, redactor) = (config.sources[0].clone(), config.redactor());
        let mut entry = entry;
        entry["fingerprint"] = json!(fingerprint(&source, &redactor));
        let doc = json!({"version": 1, "sources": {"s": entry}});
        (source, redactor, State::from_json(&doc).unwrap())
    }

    #[test]
    fn values_that_do_not_parse_for_the_source_are_refused_by_field() {
        for (entry, said) in [
            (
                json!({"resume": {"page": 2}}),
                "sources.s.resume: expected {\"url\"",
            ),
            (
                json!({"bookmark": "soon"}),
                "sources.s.bookmark: expected a timestamp",
            ),
            (
                json!({"resume": {"url": "http://h/b"}, "pass": {"sent": 5.5, "greatest": null}}),
                "sources.s.pass.sent: expected a timestamp",
            ),
        ] {
            let (source, redactor, state) = incremental(entry);
            let err = state.plan(&source, &redactor, None).unwrap_err();
            assert!(err.starts_with(said), "{err}");
        }
        // A stale fingerprint drops the entry, whatever it holds.
        let (source, redactor, mut state) = incremental(json!({"bookmark": "soon"}));
        state.sources["s"]["fingerprint"] = json!("0");
        let plan = state.plan(&source, &redactor, None).unwrap();
        assert!(plan.warning.unwrap().contains("dropped"));
    }

    #[test]
    fn what_is_recorded_keeps_no_secret_and_no_future() {
        let (source, redactor, state) = incremental(json!({}));
        let now = BookmarkKind::Timestamp.read_json(&json!("2026-06-01T00:00:00Z"));
        let future = BookmarkKind::Timestamp.read_json(&json!("9999-12-31T00:00:00Z"));
        let plan = state.plan(&source, &redactor, now).unwrap();
        let mut state = state;
        let ended = Ended {
            greatest: future,
            ..Ended::new(true, 0, None)
        };
        let recorded = state.record(&source, &plan, &ended);
        assert_eq!(recorded.bookmark, now, "held at the run's start");
        assert_eq!(
            state.to_json()["sources"]["s"]["bookmark"],
            "2026-06-01T00:00:00Z"
        );
        // Cut at a URL with a secret in its path: not saved, and said.
        let ended = Ended::new(
            false,
            0,
            Some(Position::Url("http://h/k3y-s3cret/2".into())),
        );
        let recorded = state.record(&source, &plan, &ended);
        assert!(recorded.warning.unwrap().contains("not saved"));
        assert_eq!(state.to_json()["sources"]["s"]["resume"], Value::Null);
        let ended = Ended::new(
            false,
            0,
            Some(Position::Url("http://h/b?token=k3y-s3cret".into())),
        );
        assert_eq!(state.record(&source, &plan, &ended).warning, None);
        assert_eq!(
            state.to_json()["sources"]["s"]["resume"]["url"],
            "http://h/b"
        );
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
