//! Counters of a run, per source and in total (SPEC §6).
//!
//! One [`Stats`] lives behind an `Arc<Mutex<…>>` for the whole run. A
//! fetcher's counters and how it ended come back to the pipeline through
//! its join handle as a [`SourceOutcome`], and [`SourceStats::finish`]
//! files them. The processor writes the item-side
//! counters ([`ItemCounts`]) once per chunk. Nobody holds the lock across
//! I/O or a wait. Because the processor alone counts an item as it
//! classifies it, the accounting identity `items == records + invalid +
//! duplicates` holds by construction at every moment, not only at the end.

use serde_json::Value;

use crate::config::Config;
use crate::fetch::outcome::{FetchCounts, SourceOutcome, SourceStatus};
use crate::fetch::partitions::PartitionOutcome;
use crate::fetch::stop::StopReason;
use crate::record::bookmark::Bookmark;
use crate::record::schema::RecordSchema;
use crate::state::{Ended, Position};

/// The item-side counters, which the processor adds up per chunk.
///
/// The per-reason and per-field counters are indexed by the source's
/// schema (its `reason_names` and its fields), and grow as counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemCounts {
    /// Items handed to the processor.
    pub items: u64,
    /// Records made (valid, first of their key): written, or, on a
    /// closed stdout, counted in `undelivered` too.
    pub records: u64,
    /// Records not written because the reader of stdout had gone
    /// (`--stdout`); always part of `records`.
    pub undelivered: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Invalid items, by the schema's reason index.
    pub invalid: Vec<u64>,
    /// Per field: values its type could not take, nulled in a written
    /// record.
    pub bad_values: Vec<u64>,
    /// Per field: written records in which it has a value.
    pub filled: Vec<u64>,
    /// Per field: written records whose item had its path but no value
    /// there (`null`, blank text): a path that is right, unlike one that
    /// no item has (SPEC §6).
    pub nulls: Vec<u64>,
    /// The greatest bookmark value among the valid items (records and
    /// duplicates) of an incremental source.
    pub bookmark: Option<Bookmark>,
    /// Valid items whose bookmark field held a value of another kind.
    pub bookmark_bad: u64,
    /// Valid items whose timestamp bookmark was after the run's start:
    /// kept as records, but the bookmark goes no further than the start.
    pub future: u64,
    /// Records not written because they were fetched only for their
    /// children (`emit: false`, or a parent another shard writes);
    /// always part of `records`.
    pub fetched_for_children: u64,
    /// Parent records that had no value for one of this child's
    /// `fields`: partitions skipped.
    pub partitions_skipped: u64,
}

/// `counts[i] += n`, growing `counts` as needed.
fn bump(counts: &mut Vec<u64>, i: usize, n: u64) {
    if counts.len() <= i {
        counts.resize(i + 1, 0);
    }
    counts[i] += n;
}

impl ItemCounts {
    /// Invalid items of every reason.
    pub fn invalid_total(&self) -> u64 {
        self.invalid.iter().sum()
    }

    /// Counts one invalid item under reason `index`.
    pub fn add_invalid(&mut self, index: usize) {
        bump(&mut self.invalid, index, 1);
    }

    /// Counts one record written: the fields it filled, those whose bad
    /// value it nulled, and those present in its item without a value
    /// (by index).
    pub fn add_record_fields(&mut self, filled: &[u16], bad: &[u16], nulls: &[u16]) {
        self.records += 1;
        for (counts, fields) in [
            (&mut self.filled, filled),
            (&mut self.bad_values, bad),
            (&mut self.nulls, nulls),
        ] {
            for &i in fields {
                bump(counts, usize::from(i), 1);
            }
        }
    }

    /// Counts a valid item's bookmark field: its value, or a bad one. A
    /// timestamp after `signpost` (the run's start) is counted as in the
    /// future and taken as the signpost: a bookmark never runs ahead of
    /// the clock, or one item stamped 9999 would end every later pass.
    pub fn add_bookmark(&mut self, read: Result<Option<Bookmark>, ()>, signpost: Option<Bookmark>) {
        match read {
            Ok(value) => {
                let held = value.map(|v| v.at_most(signpost));
                if held != value {
                    self.future += 1;
                }
                self.bookmark = Bookmark::max(self.bookmark, held);
            }
            Err(()) => self.bookmark_bad += 1,
        }
    }

    fn add(&mut self, other: &ItemCounts) {
        self.bookmark = Bookmark::max(self.bookmark, other.bookmark);
        self.bookmark_bad += other.bookmark_bad;
        self.future += other.future;
        self.items += other.items;
        self.records += other.records;
        self.undelivered += other.undelivered;
        self.duplicates += other.duplicates;
        self.fetched_for_children += other.fetched_for_children;
        self.partitions_skipped += other.partitions_skipped;
        for (mine, theirs) in [
            (&mut self.invalid, &other.invalid),
            (&mut self.bad_values, &other.bad_values),
            (&mut self.filled, &other.filled),
            (&mut self.nulls, &other.nulls),
        ] {
            for (i, &n) in theirs.iter().enumerate() {
                bump(mine, i, n);
            }
        }
    }
}

/// Everything counted about one source.
#[derive(Debug, Clone)]
pub struct SourceStats {
    /// The source's name.
    pub name: String,
    /// How its pagination ended ([`SourceStatus::Running`] until filed).
    pub status: SourceStatus,
    /// Request-side counters, filed when the fetcher ends.
    pub fetch: FetchCounts,
    /// Item-side counters.
    pub counts: ItemCounts,
    /// The schema's invalid reasons, in summary order.
    pub reasons: Vec<String>,
    /// The schema's field names, in record order.
    pub fields: Vec<String>,
    /// Whether the fields were declared by the user (not the product
    /// schema's).
    pub declared: bool,
    /// Pages given up, redacted.
    pub failed_page_urls: Vec<String>,
    /// What went wrong with each page given up.
    pub failed_page_errors: Vec<String>,
    /// Why the source did not end cleanly (null when it did).
    pub stop_reason: Option<StopReason>,
    /// Where the source would have gone on, when it stopped early; redacted.
    pub stopped_at_url: Option<String>,
    /// What looks wrong about the source's results (filled at the end).
    pub warnings: Vec<String>,
    /// The page a later run resumes at (from the fetcher's outcome).
    pub resume: Option<Position>,
    /// The saved position this run resumed from, as shown.
    pub resumed_from: Option<Value>,
    /// The bookmark this run sent, for an incremental source.
    pub bookmark_sent: Option<Value>,
    /// The bookmark the state holds after this run.
    pub bookmark_saved: Option<Value>,
    /// Whether the run kept state (`--state`): the summary then says
    /// `resumed_from` and the bookmarks.
    pub stateful: bool,
    /// The incremental source's bookmark field (its `bad_values` key).
    pub bookmark_field: Option<String>,
    /// The source has `auth`: the summary's `errors` says `auth`.
    pub authenticated: bool,
    /// The source fetches OAuth2 tokens: the summary says `auth`.
    pub oauth2: bool,
    /// The source reads GraphQL answers: the summary's `errors` says
    /// `graphql`.
    pub graphql: bool,
    /// How a partitioned source's partitions went (from the fetcher's
    /// outcome).
    pub partitions: Option<PartitionOutcome>,
    /// It has more than one request in flight (`concurrency` > 1): the
    /// summary says `speculative_requests`.
    pub concurrent: bool,
}

impl SourceStats {
    fn new(name: &str, schema: &RecordSchema) -> Self {
        Self {
            name: name.to_string(),
            reasons: schema.reason_names(),
            fields: schema.fields.iter().map(|f| f.name.clone()).collect(),
            declared: !schema.product,
            status: SourceStatus::Running,
            fetch: FetchCounts::default(),
            counts: ItemCounts::default(),
            failed_page_urls: Vec::new(),
            failed_page_errors: Vec::new(),
            stop_reason: None,
            stopped_at_url: None,
            warnings: Vec::new(),
            resume: None,
            resumed_from: None,
            bookmark_sent: None,
            bookmark_saved: None,
            stateful: false,
            bookmark_field: None,
            authenticated: false,
            oauth2: false,
            graphql: false,
            partitions: None,
            concurrent: false,
        }
    }

    /// Files a finished fetcher's outcome, its URLs as `show` shows them
    /// (redacted).
    pub fn finish(&mut self, outcome: SourceOutcome, show: impl Fn(&str) -> String) {
        self.status = outcome.status;
        self.resume = outcome.resume;
        self.stopped_at_url = outcome.stopped_at.map(|r| r.shown(&show));
        self.failed_page_urls = outcome
            .failed_pages
            .iter()
            .map(|(r, _)| r.shown(&show))
            .collect();
        self.failed_page_errors = outcome.failed_pages.into_iter().map(|(_, e)| e).collect();
        self.stop_reason = outcome.stop_reason;
        self.fetch = outcome.counts;
        self.partitions = outcome.partitions;
    }

    /// How the source ended, as the state needs it, with what its items
    /// said: the greatest bookmark value, and whether every record
    /// reached the output.
    pub fn ended(&self) -> Ended {
        Ended {
            greatest: self.counts.bookmark,
            delivered: self.counts.undelivered == 0,
            partitions: self.partitions.as_ref().map(|p| p.ended()),
            ..Ended::new(
                self.status == SourceStatus::Complete,
                self.fetch.failed_pages,
                self.resume.clone(),
            )
        }
    }

    /// Marks a source whose fetcher never ran or failed: status `error`.
    pub fn fail(&mut self) {
        self.status = SourceStatus::Error;
    }
}

/// The counters of every source of a run, in config order.
#[derive(Debug, Clone)]
pub struct Stats {
    /// One entry per source, in config order.
    pub sources: Vec<SourceStats>,
    /// The run's start, as a timestamp bookmark: no item's bookmark
    /// counts past it. Set by the pipeline before the processor starts,
    /// read by the processor; `None` holds nothing back.
    pub signpost: Option<Bookmark>,
}

impl Stats {
    /// Zeroed counters for the named sources, all of the product schema.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let product = RecordSchema::product(&Default::default());
        Self {
            sources: names
                .into_iter()
                .map(|name| SourceStats::new(name, &product))
                .collect(),
            signpost: None,
        }
    }

    /// Zeroed counters for the sources of `config`, each by its schema.
    pub fn for_config(config: &Config) -> Self {
        Self {
            sources: config
                .sources
                .iter()
                .map(|s| SourceStats {
                    bookmark_field: s.incremental.as_ref().map(|i| i.field.to_string()),
                    authenticated: s.auth.is_some(),
                    oauth2: matches!(s.auth, Some(crate::config::Auth::OAuth2(_))),
                    graphql: s.graphql,
                    concurrent: s.policies.concurrency > 1,
                    ..SourceStats::new(&s.name, &s.record)
                })
                .collect(),
            signpost: None,
        }
    }

    /// Adds a chunk's item counts, `per_source[i]` to source `i`.
    pub fn add_items(&mut self, per_source: &[ItemCounts]) {
        for (stats, counts) in self.sources.iter_mut().zip(per_source) {
            stats.counts.add(counts);
        }
    }

    /// Totals over all sources.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for s in &self.sources {
            t.requests += s.fetch.requests;
            t.pages += s.fetch.pages;
            t.failed_pages += s.fetch.failed_pages;
            t.retries += s.fetch.retries;
            t.counts.add(&s.counts);
        }
        t
    }
}

/// Run-wide sums.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// HTTP attempts sent.
    pub requests: u64,
    /// Successful responses.
    pub pages: u64,
    /// Pages given up.
    pub failed_pages: u64,
    /// Retries.
    pub retries: u64,
    /// Item-side counters.
    pub counts: ItemCounts,
}

/// `num / den`, or `None` when `den` is 0.
pub fn rate(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::bookmark::BookmarkKind;

    #[test]
    fn totals_add_every_source_and_keep_the_identity() {
        let mut stats = Stats::new(["a", "b"]);
        let mut a = ItemCounts {
            items: 5,
            records: 2,
            duplicates: 1,
            ..Default::default()
        };
        a.add_invalid(3);
        // The third record: field 0 filled, 2 nulled as bad, 1 null.
        a.add_record_fields(&[0], &[2], &[1]);
        let b = ItemCounts {
            items: 2,
            records: 2,
            ..Default::default()
        };
        stats.add_items(&[a.clone(), b]);
        stats.add_items(&[a, ItemCounts::default()]);
        assert_eq!(stats.sources[0].counts.invalid, [0, 0, 0, 2]);
        let fields = &stats.sources[0].counts;
        assert_eq!(
            (
                &fields.filled[..],
                &fields.nulls[..],
                &fields.bad_values[..]
            ),
            (&[2][..], &[0, 2][..], &[0, 0, 2][..])
        );
        let t = stats.totals().counts;
        assert_eq!(
            (t.items, t.records, t.duplicates, t.invalid_total()),
            (12, 8, 2, 2)
        );
        assert_eq!(t.items, t.records + t.invalid_total() + t.duplicates);
        assert_eq!(rate(1, 0), None);
        assert_eq!(rate(1, 4), Some(0.25));
    }

    #[test]
    fn bookmarks_past_the_runs_start_are_counted_and_held_there() {
        let at = |s: &str| BookmarkKind::Timestamp.read_json(&serde_json::json!(s));
        let start = at("2026-06-01T00:00:00Z");
        let mut c = ItemCounts::default();
        c.add_bookmark(Ok(at("2026-01-01T00:00:00Z")), start);
        assert_eq!((c.bookmark, c.future), (at("2026-01-01T00:00:00Z"), 0));
        c.add_bookmark(Ok(at("9999-12-31T00:00:00Z")), start);
        c.add_bookmark(Ok(at("2026-06-01T00:00:01Z")), start);
        c.add_bookmark(Ok(None), start);
        assert_eq!((c.bookmark, c.future), (start, 2));
        let mut total = ItemCounts::default();
        total.add(&c);
        total.add(&c);
        assert_eq!(total.future, 4);
        let mut free = ItemCounts::default();
        free.add_bookmark(Ok(at("9999-12-31T00:00:00Z")), None);
        assert_eq!(free.future, 0, "no signpost, nothing held back");
    }
}
