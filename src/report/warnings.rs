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

use crate::fetch::outcome::SourceStatus;
use crate::process::stats::SourceStats;

/// The warnings of one finished source.
pub fn of_source(s: &SourceStats) -> Vec<String> {
    let c = &s.counts;
    let mut out = Vec::new();
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
        out.push(format!(
            "{} of {items} items were duplicates: the server may be ignoring the pagination parameter",
            c.duplicates
        ));
    }
    if s.declared && c.records > 0 {
        for (i, field) in s.fields.iter().enumerate() {
            let filled = c.filled.get(i).copied().unwrap_or(0);
            let bad = c.bad_values.get(i).copied().unwrap_or(0);
            if filled == 0 && bad == 0 {
                out.push(format!(
                    "field {field} had no value in any of the {} records: check its path",
                    c.records
                ));
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
