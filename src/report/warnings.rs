//! Warnings: a run that looks fine but is not says so (SPEC §6).
//!
//! A source can end `complete`, exit 0, and still have produced garbage:
//! every item invalid because the API is not the product shape, half of
//! them duplicates because the server ignores the page parameter, a
//! declared field whose path matches nothing. Each warning here exists
//! because a plausible first config against a real API ended exactly like
//! that, silently. Each is one line naming the numbers and the likely fix;
//! they go to the log, the summary and under the end table, and `--strict`
//! turns any of them into a `partial` run.
//!
//! Pagination that stopped early but looked like an end is said first: a
//! configured envelope path that no page had (a typo, or the key is
//! elsewhere, as JSON:API's `links.next`), a `link_header` source whose
//! server sends no `Link` header, a server that sent fewer items per page
//! than `size` asked for. A path that is there with `null` is the server
//! saying "none", and a field that is null in every record is data, not
//! a wrong path: neither is a warning.

use log::debug;

use crate::fetch::outcome::SourceStatus;
use crate::process::stats::SourceStats;

/// The warnings of one finished source.
pub fn of_source(s: &SourceStats) -> Vec<String> {
    let c = &s.counts;
    let mut out = pagination(s);
    if s.fetch.auth.rotated {
        out.push(
            "the token endpoint rotated the refresh token: the new one was used for this run and is written nowhere, so the configured refresh token may no longer be valid; get a new one before the next run".to_string(),
        );
    }
    if let (n @ 1.., Some(first)) = &s.fetch.graphql_errors {
        out.push(format!(
            "{n} GraphQL errors came beside the data (the first: {first}): the pages were kept, but their records may lack what the errors are about"
        ));
    }
    let (items, invalid) = (c.items, c.invalid_total());
    if items > 0 && c.records == 0 {
        let fix = if s.declared {
            "check the record schema's id path and required fields"
        } else {
            "this is not the product shape; declare a record schema"
        };
        out.push(format!(
            "{invalid} of {items} items invalid ({}): {fix}",
            top_reason(s)
        ));
    } else if items > 0 && invalid * 2 >= items {
        out.push(format!(
            "{invalid} of {items} items invalid (most often {}): check the record schema",
            top_reason(s)
        ));
    }
    if items > 0 && c.duplicates * 2 >= items {
        // A child's ids may be unique only within their parent.
        let why = match &s.partitions {
            Some(_) => "ids may be unique only within their partition: set parent.key_with_parent, or check the pagination parameter",
            None => "the server may be ignoring the pagination parameter",
        };
        out.push(format!(
            "{} of {items} items were duplicates: {why}",
            c.duplicates
        ));
    }
    if let Some(p) = &s.partitions {
        let (skipped, seen) = (c.partitions_skipped, p.total + c.partitions_skipped);
        if skipped > 0 && skipped * 2 >= seen {
            out.push(format!(
                "{skipped} of {seen} parent records had no value for a path of parent.fields: their partitions were skipped; check the paths"
            ));
        }
    }
    if s.declared && c.records > 0 {
        for (i, field) in s.fields.iter().enumerate() {
            let count = |counts: &[u64]| counts.get(i).copied().unwrap_or(0);
            let (filled, bad, nulls) = (count(&c.filled), count(&c.bad_values), count(&c.nulls));
            if filled == 0 && bad == 0 && nulls == 0 {
                out.push(format!(
                    "field {field} had no value in any of the {} records: check its path",
                    c.records
                ));
            } else if filled == 0 && bad == 0 {
                // Its path is right; the data has no value there (a
                // `deleted_at` of rows never deleted).
                debug!(
                    source = s.name.as_str(), event = "field_null", field = field.as_str(),
                    records = c.records; ""
                );
            } else if bad * 2 >= filled + bad {
                // Found, but not of its type: the path is right, the
                // type is not (or the API is inconsistent).
                out.push(format!(
                    "field {field}: {bad} of the {} values found were not of its type \
                     and were written as null (see bad_values): check its type",
                    filled + bad
                ));
            }
        }
    }
    if c.future > 0 {
        let field = s.bookmark_field.as_deref().unwrap_or("the bookmark field");
        out.push(format!(
            "{} items had {field} after the run's start (in the future): kept as records, \
             but the bookmark stops at the run's start",
            c.future
        ));
    }
    if s.status == SourceStatus::Complete {
        if items == 0 {
            out.push(
                "ended complete with no items at all: check the url, items_path and query"
                    .to_string(),
            );
        } else if let Some(announced) = s
            .fetch
            .announced
            // A resumed source receives only the rest, by design.
            .filter(|&n| n > items && s.resumed_from.is_none())
        {
            out.push(format!(
                "received {items} of the {announced} items the server announced; \
                 the pagination may not be moving"
            ));
        }
    }
    out
}

/// What the answers said about the pagination's own keys: a configured
/// path no page had, no `Link` header, a page size the server capped.
fn pagination(s: &SourceStats) -> Vec<String> {
    let e = &s.fetch.envelope;
    let ended = format!("pagination ended after page {}", s.fetch.pages);
    let mut out = Vec::new();
    if e.bodies > 0 {
        for path in e.paths.iter().filter(|p| p.present == 0) {
            let place = if path.in_header {
                "an answer"
            } else {
                "a page"
            };
            out.push(format!(
                "{} `{}` never appeared in {place} ({}): {ended}",
                path.key,
                path.path,
                e.where_words(path)
            ));
        }
    }
    if e.link_headers == Some(0) {
        out.push(format!(
            "link_header: no answer carried a `Link` header ({}): {ended}",
            e.keys_words()
        ));
    }
    if let Some((asked, sent)) = e.page_size.filter(|&(asked, sent)| sent < asked) {
        out.push(format!(
            "asked for {asked} per page, the server sent {sent}: \
             pages are counted by what it sent; set size to {sent}"
        ));
    }
    out
}

/// The invalid reason counted most often (the first such in summary order).
fn top_reason(s: &SourceStats) -> &str {
    let counts = &s.counts.invalid;
    let mut best: Option<(usize, u64)> = None;
    for (i, &n) in counts.iter().enumerate() {
        if n > 0 && best.is_none_or(|(_, m)| n > m) {
            best = Some((i, n));
        }
    }
    best.and_then(|(i, _)| s.reasons.get(i))
        .map_or("unknown", String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::stats::Stats;

    fn source(items: u64, records: u64, duplicates: u64) -> SourceStats {
        let mut s = Stats::new(["a"]).sources.remove(0);
        s.status = SourceStatus::Complete;
        s.counts.items = items;
        s.counts.records = records;
        s.counts.duplicates = duplicates;
        // All invalid items are missing_price (the product's third reason).
        s.counts.invalid = vec![0, 0, items - records - duplicates];
        s
    }

    #[test]
    fn a_clean_source_has_none() {
        assert!(of_source(&source(100, 90, 5)).is_empty());
    }

    #[test]
    fn no_records_names_the_reason_and_the_fix() {
        assert_eq!(
            of_source(&source(50, 0, 0)),
            ["50 of 50 items invalid (missing_price): this is not the product shape; declare a record schema"]
        );
        let mut declared = source(50, 0, 0);
        declared.declared = true;
        assert!(of_source(&declared)[0].contains("record schema's id path"));
    }

    #[test]
    fn half_invalid_or_half_duplicates() {
        let w = of_source(&source(100, 50, 0));
        assert_eq!(w.len(), 1);
        assert!(
            w[0].starts_with("50 of 100 items invalid (most often missing_price)"),
            "{w:?}"
        );
        let w = of_source(&source(100, 2, 98));
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("98 of 100 items were duplicates"), "{w:?}");
    }

    #[test]
    fn a_field_null_in_every_record_is_no_warning_but_an_absent_one_is() {
        let mut s = source(10, 10, 0);
        s.declared = true;
        s.fields = vec!["title".into(), "deleted_at".into(), "archived_at".into()];
        s.counts.filled = vec![10];
        s.counts.nulls = vec![0, 10];
        assert_eq!(
            of_source(&s),
            ["field archived_at had no value in any of the 10 records: check its path"]
        );
        s.counts.nulls = vec![0, 10, 1];
        assert!(of_source(&s).is_empty(), "present once: the path is right");
    }

    #[test]
    fn pagination_keys_no_page_had_are_named_with_the_keys_it_had() {
        use crate::fetch::outcome::{Envelope, PathSeen, Seen};
        let mut s = source(4, 4, 0);
        s.fetch.pages = 1;
        let path = |key, path: &str, present| PathSeen {
            key,
            path: path.into(),
            in_header: path.starts_with("header:"),
            present,
            first: Seen::Absent,
        };
        s.fetch.envelope = Envelope {
            bodies: 1,
            first_keys: Some(vec!["count".into(), "next".into(), "results".into()]),
            paths: vec![
                path("next_path", "nxt", 0),
                path("has_more_path", "more", 1),
            ],
            ..Envelope::default()
        };
        assert_eq!(
            of_source(&s),
            [
                "next_path `nxt` never appeared in a page (top-level keys: count, next, \
              results): pagination ended after page 1"
            ]
        );
        // Present, even as null: the server's "none", not a wrong path.
        s.fetch.envelope.paths[0].present = 1;
        assert!(of_source(&s).is_empty());
        // No body to judge by (a 204): nothing said.
        s.fetch.envelope.paths[0].present = 0;
        s.fetch.envelope.bodies = 0;
        assert!(of_source(&s).is_empty());

        // A header path no answer had is said with the headers they had.
        let mut s = source(4, 4, 0);
        s.fetch.pages = 1;
        s.fetch.envelope = Envelope {
            bodies: 1,
            first_headers: Some(vec!["content-type".into(), "x-total-count".into()]),
            paths: vec![path("total_items_path", "header:X-Pagination.total", 0)],
            ..Envelope::default()
        };
        assert_eq!(
            of_source(&s),
            [
                "total_items_path `header:X-Pagination.total` never appeared in an answer \
              (response headers: content-type, x-total-count): pagination ended after page 1"
            ]
        );

        let mut s = source(4, 4, 0);
        s.fetch.pages = 1;
        s.fetch.envelope = Envelope {
            bodies: 1,
            link_headers: Some(0),
            ..Envelope::default()
        };
        assert_eq!(
            of_source(&s),
            [
                "link_header: no answer carried a `Link` header (the body is not an object): \
              pagination ended after page 1"
            ]
        );
        s.fetch.envelope.link_headers = Some(1);
        assert!(of_source(&s).is_empty());
    }

    #[test]
    fn fewer_items_per_page_than_asked_for_is_said_more_is_not() {
        let mut s = source(120, 120, 0);
        s.fetch.envelope.page_size = Some((50, 10));
        assert_eq!(
            of_source(&s),
            [
                "asked for 50 per page, the server sent 10: pages are counted by what it \
              sent; set size to 10"
            ]
        );
        s.fetch.envelope.page_size = Some((5, 10));
        assert!(of_source(&s).is_empty(), "the count follows the server");
        s.fetch.envelope.page_size = Some((10, 10));
        assert!(of_source(&s).is_empty());
    }

    #[test]
    fn empty_fields_empty_sources_and_short_counts() {
        let mut s = source(10, 10, 0);
        s.declared = true;
        s.fields = vec!["title".into(), "state".into()];
        s.counts.filled = vec![10];
        assert_eq!(
            of_source(&s),
            ["field state had no value in any of the 10 records: check its path"]
        );
        // Found but never of the declared type: the type is what is wrong.
        s.counts.filled = vec![10, 0];
        s.counts.bad_values = vec![0, 10];
        assert_eq!(
            of_source(&s),
            [
                "field state: 10 of the 10 values found were not of its type \
              and were written as null (see bad_values): check its type"
            ]
        );
        s.counts.filled = vec![10, 6];
        s.counts.bad_values = vec![0, 4];
        assert!(of_source(&s).is_empty(), "under half: counted, not warned");
        s.counts.filled = vec![10, 5];
        s.counts.bad_values = vec![0, 5];
        assert!(of_source(&s)[0].starts_with("field state: 5 of the 10 values"));
        assert!(of_source(&source(0, 0, 0))[0].contains("no items at all"));
        let mut short = source(100, 100, 0);
        short.fetch.announced = Some(5000);
        assert_eq!(
            of_source(&short),
            ["received 100 of the 5000 items the server announced; the pagination may not be moving"]
        );
        short.status = SourceStatus::Deadline;
        assert!(
            of_source(&short).is_empty(),
            "a cut source says so by its status"
        );
    }

    #[test]
    fn items_stamped_in_the_future_are_counted_under_their_field() {
        let mut s = source(10, 10, 0);
        s.bookmark_field = Some("updated_at".into());
        s.counts.future = 2;
        assert_eq!(
            of_source(&s),
            [
                "2 items had updated_at after the run's start (in the future): kept as records, \
              but the bookmark stops at the run's start"
            ]
        );
    }
}
