//! Time windows (SPEC §12): ISO 8601 steps, the half-open windows
//! `[from, to)` that tile a partitioned source's time range, how their
//! bounds are written into requests, and the merged set of completed
//! intervals the state keeps.
//!
//! Windows are half-open with no granularity: Airbyte's users lost every
//! record at a window edge when an inclusive end of coarser precision
//! (`23:59:59`) missed `23:59:59.412` (airbyte#82686). Here each `to` is
//! the next `from`, and a format too coarse for the bounds is refused.
//! Completed windows are kept as intervals, so they may finish out of order.

use crate::text::shorten;
use crate::time::{civil_from_days, days_from_civil, days_in_month, format_rfc3339_utc};
use crate::time::{MAX_SECS, MIN_SECS};
use serde_json::Value;

const SECOND: i64 = 1000;
const DAY: i64 = 86_400 * SECOND;
/// Longer steps are refused: no window of the calendar (0000–9999) needs one.
const MAX_MONTHS: u64 = 10_000 * 12;
const MAX_MILLIS: u64 = 10_000 * 366 * DAY as u64;

/// An ISO 8601 duration as a window step: calendar months (years are 12)
/// and a fixed number of milliseconds (a day is 24 hours, in UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    months: u32,
    millis: i64,
}

impl Step {
    /// `PnYnMnWnDTnHnMnS` (designators in that order, each at most once;
    /// a fraction on seconds only, to the millisecond), not zero.
    pub fn parse(text: &str) -> Result<Step, String> {
        let found = shorten(text, 40);
        let expected = || {
            let like = r#""P1D", "PT1H" or "PT15M""#;
            format!("expected an ISO 8601 duration like {like}, found {found:?}")
        };
        let too_long = || format!("a window step is at most 10000 years, found {found:?}");
        let body = text.strip_prefix('P').ok_or_else(expected)?;
        let (date, time) = match body.split_once('T') {
            Some((_, "")) => return Err(expected()),
            Some(parts) => parts,
            None => (body, ""),
        };
        let date = components(date, &DATE_UNITS).ok_or_else(expected)?;
        let time = components(time, &TIME_UNITS).ok_or_else(expected)?;
        if date.is_empty() && time.is_empty() {
            return Err(expected());
        }
        let (mut months, mut millis) = (0u64, 0u64);
        for (number, (_, per_month, per_ms)) in date.into_iter().chain(time) {
            let (whole, fraction) = number.split_once(['.', ',']).unwrap_or((number, ""));
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            let fraction_ok = whole == number || (per_ms == 1000 && digits(fraction));
            if !digits(whole) || !fraction_ok {
                return Err(expected());
            }
            let (ms, finer) = fraction.split_at(fraction.len().min(3));
            if finer.bytes().any(|b| b != b'0') {
                return Err(format!(
                    "a window step is whole milliseconds, found {found:?}"
                ));
            }
            let ms: u64 = format!("{ms:0<3}").parse().unwrap_or(0);
            let n: u64 = whole.parse().map_err(|_| too_long())?;
            let add = |total: u64, per: u64, extra: u64, max: u64| {
                let sum = n.checked_mul(per)?.checked_add(total + extra)?;
                (sum <= max).then_some(sum)
            };
            months = add(months, per_month, 0, MAX_MONTHS).ok_or_else(too_long)?;
            millis = add(millis, per_ms, ms, MAX_MILLIS).ok_or_else(too_long)?;
        }
        if months == 0 && millis == 0 {
            return Err(format!(
                "a window step must be longer than zero, found {found:?}"
            ));
        }
        // Both fit: they are capped above.
        let (months, millis) = (months as u32, millis as i64);
        Ok(Step { months, millis })
    }

    /// The canonical text: `P1Y2M3DT4H5M6.5S` with zero parts left out
    /// (weeks are written as days, twelve months as a year).
    pub fn to_iso(self) -> String {
        let (time, ms) = (self.millis % DAY, self.millis % SECOND);
        let months = i64::from(self.months);
        let date = [
            (months / 12, 'Y'),
            (months % 12, 'M'),
            (self.millis / DAY, 'D'),
        ];
        let clock = [
            (time / 3_600_000, 'H'),
            (time / 60_000 % 60, 'M'),
            (time / 1000 % 60, 'S'),
        ];
        let mut out = String::from("P");
        for (n, unit) in date.into_iter().chain(clock) {
            if unit == 'H' && time != 0 {
                out.push('T');
            }
            match unit {
                'S' if ms != 0 => {
                    out += &format!("{n}.{}S", format!("{ms:03}").trim_end_matches('0'))
                }
                _ if n != 0 => out += &format!("{n}{unit}"),
                _ => {}
            }
        }
        out
    }

    /// Whether every boundary from a midnight start is a midnight.
    pub fn is_whole_days(&self) -> bool {
        self.millis % DAY == 0
    }

    /// Whether every boundary from a whole-second start is a whole second.
    pub fn is_whole_seconds(&self) -> bool {
        self.millis % SECOND == 0
    }

    /// The `k`-th boundary after `start_ms`: `start + k·step`, months
    /// added by the calendar (the day clamped to the month's length) and
    /// always counted from `start`, so that a clamped day never carries
    /// into the next boundary (Jan 31, Feb 28, Mar 31). `None` past the
    /// range of `i64`.
    pub fn boundary(&self, start_ms: i64, k: u64) -> Option<i64> {
        let months = i64::try_from(k.checked_mul(u64::from(self.months))?).ok()?;
        let millis = i64::try_from(k).ok()?.checked_mul(self.millis)?;
        add_months(start_ms, months)?.checked_add(millis)
    }
}

/// A designator of a duration with the months and milliseconds it counts.
type Unit = (char, u64, u64);
const DATE_UNITS: [Unit; 4] = [
    ('Y', 12, 0),
    ('M', 1, 0),
    ('W', 0, 7 * DAY as u64),
    ('D', 0, DAY as u64),
];
const TIME_UNITS: [Unit; 3] = [('H', 0, 3_600_000), ('M', 0, 60_000), ('S', 0, 1000)];

/// The numbers of one part of a duration (its date or its time) with
/// their units, which come in the order of `units`, each at most once.
fn components<'a>(mut part: &'a str, units: &[Unit]) -> Option<Vec<(&'a str, Unit)>> {
    let mut allowed = units;
    let mut out = Vec::new();
    while !part.is_empty() {
        let at = part.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))?;
        let designator = part[at..].chars().next()?;
        let index = allowed.iter().position(|u| u.0 == designator)?;
        out.push((&part[..at], allowed[index]));
        allowed = &allowed[index + 1..];
        part = &part[at + designator.len_utf8()..];
    }
    Some(out)
}

/// `t_ms` plus `months` calendar months, at the same time of day, the day
/// clamped to the last of the month.
fn add_months(t_ms: i64, months: i64) -> Option<i64> {
    let days = t_ms.div_euclid(DAY);
    let (year, month, day) = civil_from_days(days);
    let index = (year.checked_mul(12)? + i64::from(month) - 1).checked_add(months)?;
    let (year, month) = (index.div_euclid(12), index.rem_euclid(12) as u32 + 1);
    let day = day.min(days_in_month(year, month));
    // Moved by whole days from `t_ms`, never through midnight of its own
    // day, which may lie before i64's first millisecond.
    (days_from_civil(year, month, day) - days)
        .checked_mul(DAY)?
        .checked_add(t_ms)
}

/// How window bounds are written into a request (`format` in SPEC §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowFormat {
    /// `2026-01-01T00:00:00Z`, with `.123` when the milliseconds are not zero.
    Rfc3339,
    /// `2026-01-01`.
    Date,
    /// Seconds since the epoch.
    Epoch,
    /// Milliseconds since the epoch.
    EpochMs,
}

impl WindowFormat {
    /// The format a config names: `rfc3339`, `date`, `epoch` or `epoch_ms`.
    pub fn parse(name: &str) -> Option<WindowFormat> {
        [Self::Rfc3339, Self::Date, Self::Epoch, Self::EpochMs]
            .into_iter()
            .find(|f| f.as_str() == name)
    }

    /// The name a config gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rfc3339 => "rfc3339",
            Self::Date => "date",
            Self::Epoch => "epoch",
            Self::EpochMs => "epoch_ms",
        }
    }

    /// `t_ms` in this format. A bound [`check`] accepted is written
    /// exactly; `Date` and `Epoch` otherwise drop what they cannot show.
    /// Outside the years 0000–9999 (which [`parse_instant`] never gives)
    /// the two calendar formats write the epoch milliseconds instead.
    pub fn format(self, t_ms: i64) -> String {
        let (secs, ms) = (t_ms.div_euclid(SECOND), t_ms.rem_euclid(SECOND));
        let calendar = match self {
            Self::Epoch => return secs.to_string(),
            Self::EpochMs => return t_ms.to_string(),
            Self::Rfc3339 if ms == 0 => format_rfc3339_utc(secs, ""),
            Self::Rfc3339 => format_rfc3339_utc(secs, &format!("{ms:03}")),
            Self::Date => format_rfc3339_utc(secs, "").map(|s| s[..10].to_string()),
        };
        calendar.unwrap_or_else(|| t_ms.to_string())
    }

    /// `t_ms` rounded down to what this format shows: the end of the last
    /// window when the end (`now`) is finer than the format, so that the
    /// rest of the day (or second) waits for the next run rather than
    /// being written as done.
    pub fn floor(self, t_ms: i64) -> i64 {
        match self {
            Self::Date => t_ms - t_ms.rem_euclid(DAY),
            Self::Epoch => t_ms - t_ms.rem_euclid(SECOND),
            Self::Rfc3339 | Self::EpochMs => t_ms,
        }
    }
}

/// Whether every window bound from `start_ms` by `step` is written exactly
/// in `format`: a coarser format would make windows overlap or leave gaps.
pub fn check(format: WindowFormat, start_ms: i64, step: &Step) -> Result<(), String> {
    let (unit, exact) = match format {
        WindowFormat::Date => ("whole days from midnight UTC", DAY),
        WindowFormat::Epoch => ("whole seconds", SECOND),
        WindowFormat::Rfc3339 | WindowFormat::EpochMs => return Ok(()),
    };
    let whole = step.millis % exact == 0;
    if whole && start_ms.rem_euclid(exact) == 0 {
        return Ok(());
    }
    let what = match whole {
        true => format!("the start {}", WindowFormat::Rfc3339.format(start_ms)),
        false => format!("the step {}", step.to_iso()),
    };
    Err(format!(
        "format {:?} writes {unit} only, but {what} is not: windows would overlap or leave gaps",
        format.as_str()
    ))
}

/// An RFC 3339 time (`2026-01-01T00:00:00Z`, a fraction, a `+02:00`
/// offset, `t` and `z` in lower case) or a date (`2026-01-01`, midnight
/// UTC), as milliseconds since the epoch; a finer fraction is cut to the
/// millisecond. `None` for anything else, an impossible date, a leap
/// second, or a time outside the years 0000–9999 in UTC.
pub fn parse_instant(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        b.get(from..from + len)?.iter().try_fold(0, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0, 4)?, num(5, 2)? as u32, num(8, 2)? as u32);
    let dashes = b.get(4) == Some(&b'-') && b.get(7) == Some(&b'-');
    if !dashes || !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    let midnight = days_from_civil(year, month, day) * DAY;
    if b.len() == 10 {
        return Some(midnight);
    }
    let colons = b.get(13) == Some(&b':') && b.get(16) == Some(&b':');
    if !matches!(b.get(10), Some(b'T' | b't')) || !colons {
        return None;
    }
    let (h, m, s) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    let (mut at, mut ms) = (19, 0);
    if b.get(at) == Some(&b'.') {
        let digits = b[at + 1..]
            .iter()
            .take_while(|d| d.is_ascii_digit())
            .count();
        let kept = digits.min(3);
        ms = num(at + 1, kept).filter(|_| digits > 0)? * 10_i64.pow(3 - kept as u32);
        at += 1 + digits;
    }
    let offset = match &b[at..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (num(at + 1, 2)?, num(at + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            (oh * 60 + om) * if *sign == b'-' { -1 } else { 1 }
        }
        _ => return None,
    };
    let t = midnight + ((h * 60 + m - offset) * 60 + s) * SECOND + ms;
    (MIN_SECS * SECOND..=MAX_SECS * SECOND + 999)
        .contains(&t)
        .then_some(t)
}

/// The half-open windows `[from, to)` tiling `[start_ms, end_ms)` by
/// `step`: each `to` is the next `from`, the last ends at `end_ms`
/// (shorter when the step does not divide the range); none when
/// `end_ms <= start_ms`. Lazy: one window at a time.
pub fn windows(start_ms: i64, end_ms: i64, step: &Step) -> Windows {
    Windows {
        start: start_ms,
        end: end_ms,
        step: *step,
        k: 0,
        from: start_ms,
    }
}

/// The iterator of [`windows`].
#[derive(Debug, Clone)]
pub struct Windows {
    start: i64,
    end: i64,
    step: Step,
    k: u64,
    from: i64,
}

impl Iterator for Windows {
    type Item = (i64, i64);

    fn next(&mut self) -> Option<(i64, i64)> {
        if self.from >= self.end {
            return None;
        }
        self.k += 1;
        // Past i64's range the boundary would be past the end anyway.
        let to = self
            .step
            .boundary(self.start, self.k)
            .map_or(self.end, |to| to.min(self.end));
        let window = (self.from, to);
        self.from = to;
        Some(window)
    }
}

impl std::iter::FusedIterator for Windows {}

/// A set of completed half-open intervals `[a, b)`, sorted and merged
/// (overlapping or touching intervals become one): the state of a
/// windowed source, a few entries however many windows completed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Intervals {
    /// Sorted, each non-empty, each ending before the next one starts.
    spans: Vec<(i64, i64)>,
}

impl Intervals {
    /// Adds `[a, b)`, merging it with every interval it overlaps or
    /// touches. An empty interval (`a >= b`) adds nothing.
    pub fn insert(&mut self, a: i64, b: i64) {
        if a >= b {
            return;
        }
        let first = self.spans.partition_point(|&(_, end)| end < a);
        let last = first + self.spans[first..].partition_point(|&(start, _)| start <= b);
        let (mut a, mut b) = (a, b);
        if first < last {
            a = a.min(self.spans[first].0);
            b = b.max(self.spans[last - 1].1);
        }
        self.spans.splice(first..last, [(a, b)]);
    }

    /// Whether all of `[a, b)` lies in one interval (an empty one always does).
    pub fn covers(&self, a: i64, b: i64) -> bool {
        let before = self.spans.partition_point(|&(start, _)| start <= a);
        a >= b || (before > 0 && self.spans[before - 1].1 >= b)
    }

    /// The parts of `[start, end)` no interval covers, in order.
    pub fn gaps(&self, start: i64, end: i64) -> Vec<(i64, i64)> {
        let mut gaps = Vec::new();
        let mut from = start;
        for &(a, b) in &self.spans {
            if a >= end {
                break;
            }
            if a > from {
                gaps.push((from, a));
            }
            from = from.max(b);
        }
        if from < end {
            gaps.push((from, end));
        }
        gaps
    }

    /// The intervals, in order.
    pub fn iter(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.spans.iter().copied()
    }

    /// How many separate intervals there are.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether no interval is completed.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// `[["2026-01-01T00:00:00Z", "2026-01-08T00:00:00Z"], …]`, for the state file.
    pub fn to_json(&self) -> Value {
        let time = |t| Value::String(WindowFormat::Rfc3339.format(t));
        Value::Array(
            self.iter()
                .map(|(a, b)| Value::Array(vec![time(a), time(b)]))
                .collect(),
        )
    }

    /// The set [`Intervals::to_json`] wrote. Overlapping or unsorted
    /// pairs are merged; anything else is refused, saying where.
    pub fn from_json(value: &Value) -> Result<Intervals, String> {
        let shown = |v: &Value| shorten(&v.to_string(), 60).into_owned();
        let Value::Array(pairs) = value else {
            return Err(format!(
                "expected an array of [start, end] pairs, found {}",
                shown(value)
            ));
        };
        let mut set = Intervals::default();
        for (i, pair) in pairs.iter().enumerate() {
            let Some([Value::String(a), Value::String(b)]) = pair.as_array().map(Vec::as_slice)
            else {
                let found = shown(pair);
                return Err(format!(
                    "entry {i}: expected [start, end] as two RFC 3339 times, found {found}"
                ));
            };
            let time = |s: &str| {
                parse_instant(s).ok_or_else(|| {
                    format!(
                        "entry {i}: expected an RFC 3339 time, found {:?}",
                        shorten(s, 40)
                    )
                })
            };
            let (from, to) = (time(a)?, time(b)?);
            if from >= to {
                return Err(format!(
                    "entry {i}: the start {a:?} is not before the end {b:?}"
                ));
            }
            set.insert(from, to);
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use WindowFormat::{Date, Epoch, EpochMs, Rfc3339};

    /// Milliseconds of an instant these tests spell out.
    fn at(text: &str) -> i64 {
        parse_instant(text).unwrap_or_else(|| panic!("bad instant in a test: {text}"))
    }

    fn step(text: &str) -> Step {
        Step::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn steps_parse_to_months_and_millis_and_print_canonically() {
        let (h, m) = (3_600_000, 60_000);
        let table = [
            ("PT15M", 0, 15 * m, "PT15M"),
            ("PT1H", 0, h, "PT1H"),
            ("P1D", 0, DAY, "P1D"),
            ("P7D", 0, 7 * DAY, "P7D"),
            ("P1W", 0, 7 * DAY, "P7D"),
            ("P1M", 1, 0, "P1M"),
            ("P12M", 12, 0, "P1Y"),
            ("P1Y", 12, 0, "P1Y"),
            ("PT30S", 0, 30_000, "PT30S"),
            ("P1DT12H", 0, DAY + 12 * h, "P1DT12H"),
            ("PT36H", 0, DAY + 12 * h, "P1DT12H"),
            ("PT0.5S", 0, 500, "PT0.5S"),
            ("PT1,250S", 0, 1250, "PT1.25S"),
            ("PT0.001000S", 0, 1, "PT0.001S"),
            ("P0DT1M", 0, m, "PT1M"),
            (
                "P1Y2M3DT4H5M6S",
                14,
                3 * DAY + 4 * h + 5 * m + 6000,
                "P1Y2M3DT4H5M6S",
            ),
        ];
        for (text, months, millis, canonical) in table {
            let got = step(text);
            assert_eq!((got.months, got.millis), (months, millis), "{text}");
            assert_eq!(got.to_iso(), canonical, "{text}");
            assert_eq!(step(canonical), got, "{canonical}");
        }
    }

    #[test]
    fn bad_steps_are_refused_saying_what_was_expected() {
        let garbage = "1d P PT P1DT -P1D P-1D P+1D p1d P1H PT1D P1D1M PT1M1H P1D1D P1.5D PT.5S \
                       PT1.S PT1,S P1DT1H_ P１D";
        for text in garbage.split(' ').chain(["", "P1D ", " P1D"]) {
            let err = Step::parse(text).expect_err(text);
            assert!(
                err.starts_with("expected an ISO 8601 duration"),
                "{text:?}: {err}"
            );
        }
        for (text, message) in [
            ("PT0S", "longer than zero"),
            ("P0Y0M0D", "longer than zero"),
            ("PT0.0001S", "whole milliseconds"),
            ("P10001Y", "at most 10000 years"),
            ("P4000000D", "at most 10000 years"),
            ("P99999999999999999999D", "at most 10000 years"),
        ] {
            let err = Step::parse(text).expect_err(text);
            assert!(err.contains(message), "{text:?}: {err}");
        }
        let err = Step::parse("1d").unwrap_err();
        let want = r#"expected an ISO 8601 duration like "P1D", "PT1H" or "PT15M", found "1d""#;
        assert_eq!(err, want);
    }

    #[test]
    fn month_steps_count_from_the_start_and_clamp_each_boundary() {
        let all = windows(at("2026-01-31T06:00:00Z"), at("2026-07-01"), &step("P1M"));
        let got: Vec<String> = all.map(|(from, _)| Rfc3339.format(from)).collect();
        let days = ["01-31", "02-28", "03-31", "04-30", "05-31", "06-30"];
        let want: Vec<String> = days.iter().map(|d| format!("2026-{d}T06:00:00Z")).collect();
        assert_eq!(got, want);
        let leap = windows(at("2024-02-29"), at("2029-01-01"), &step("P1Y"));
        let got: Vec<String> = leap.map(|(from, _)| Date.format(from)).collect();
        let want = [
            "2024-02-29",
            "2025-02-28",
            "2026-02-28",
            "2027-02-28",
            "2028-02-29",
        ];
        assert_eq!(got, want);
        let mixed = step("P1M1D").boundary(at("2026-01-30"), 2);
        assert_eq!(mixed, Some(at("2026-04-01")), "Jan 30 + 2 months + 2 days");
    }

    #[test]
    fn a_record_at_the_edge_of_a_day_falls_in_exactly_one_window() {
        let all: Vec<_> = windows(at("2026-01-01"), at("2026-01-04"), &step("P1D")).collect();
        let holding = |t: i64| -> Vec<(i64, i64)> {
            all.iter()
                .copied()
                .filter(|&(a, b)| a <= t && t < b)
                .collect()
        };
        let first = (at("2026-01-01"), at("2026-01-02"));
        assert_eq!(holding(at("2026-01-01T23:59:59.412Z")), [first]);
        assert_eq!(
            holding(at("2026-01-02")),
            [(at("2026-01-02"), at("2026-01-03"))]
        );
    }

    #[test]
    fn windows_end_at_the_end_and_stop_at_the_edges_of_i64() {
        let w: Vec<_> = windows(0, 2500, &step("PT1S")).collect();
        assert_eq!(w, [(0, 1000), (1000, 2000), (2000, 2500)]);
        assert_eq!(windows(5, 5, &step("PT1S")).count(), 0);
        assert_eq!(windows(9, 5, &step("PT1S")).count(), 0);
        let max = i64::MAX;
        let top: Vec<_> = windows(max - 1500, max, &step("PT1S")).collect();
        assert_eq!(top, [(max - 1500, max - 500), (max - 500, max)]);
        for (s, count) in [("P1D", 40), ("P1M", 2), ("P1Y", 1)] {
            let high: Vec<_> = windows(max - 40 * DAY, max, &step(s)).collect();
            let low: Vec<_> = windows(i64::MIN, i64::MIN + 40 * DAY, &step(s)).collect();
            assert_eq!(
                (high.len(), high.last().map(|w| w.1)),
                (count, Some(max)),
                "{s}"
            );
            let end = Some(i64::MIN + 40 * DAY);
            assert_eq!((low.len(), low.last().map(|w| w.1)), (count, end), "{s}");
        }
        let quarters = windows(at("2016-01-01"), at("2026-01-01"), &step("PT15M"));
        assert_eq!(quarters.count(), 3653 * 96);
    }

    #[test]
    fn formats_write_bounds_and_refuse_coarser_ones() {
        let t = at("2026-01-02T03:04:05.067Z");
        for (format, want) in [
            (Rfc3339, "2026-01-02T03:04:05.067Z"),
            (Date, "2026-01-02"),
            (Epoch, "1767323045"),
            (EpochMs, "1767323045067"),
        ] {
            assert_eq!(WindowFormat::parse(format.as_str()), Some(format));
            assert_eq!(format.format(t), want);
        }
        assert_eq!(Rfc3339.format(at("2026-01-01")), "2026-01-01T00:00:00Z");
        assert_eq!(Epoch.format(-1), "-1", "floored, not truncated");
        assert_eq!(Rfc3339.format(i64::MAX), i64::MAX.to_string());
        assert_eq!(WindowFormat::parse("RFC3339"), None);
        let floors = [Date, Epoch, Rfc3339, EpochMs].map(|f| f.floor(t));
        assert_eq!(floors, [at("2026-01-02"), t - 67, t, t]);

        let (midnight, noon) = (at("2026-01-01"), at("2026-01-01T12:00:00Z"));
        for (format, start, s) in [
            (Date, midnight, "P1D"),
            (Date, midnight, "P1M"),
            (Epoch, noon, "PT15M"),
            (Rfc3339, t, "PT0.5S"),
            (EpochMs, t, "PT0.5S"),
        ] {
            assert_eq!(check(format, start, &step(s)), Ok(()), "{format:?} {s}");
        }
        for (format, start, s, names) in [
            (Date, midnight, "P1DT12H", "the step P1DT12H"),
            (Date, noon, "P1D", "the start 2026-01-01T12:00:00Z"),
            (Epoch, midnight, "PT0.5S", "the step PT0.5S"),
            (Epoch, t, "PT1S", "the start 2026-01-02T03:04:05.067Z"),
        ] {
            let err = check(format, start, &step(s)).unwrap_err();
            assert!(
                err.contains(names) && err.contains("overlap or leave gaps"),
                "{err}"
            );
        }
    }

    #[test]
    fn instants_are_rfc3339_or_dates() {
        for (text, want) in [
            ("2026-01-01", "2026-01-01T00:00:00Z"),
            ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
            ("2026-01-01t10:20:30z", "2026-01-01T10:20:30Z"),
            ("2026-01-01T10:20:30.5Z", "2026-01-01T10:20:30.500Z"),
            ("2026-01-01T10:20:30.123456789Z", "2026-01-01T10:20:30.123Z"),
            ("2026-01-01T02:00:00+02:00", "2026-01-01T00:00:00Z"),
            ("2026-01-01T00:00:00-05:30", "2026-01-01T05:30:00Z"),
            ("2024-02-29T23:59:59.999+00:00", "2024-02-29T23:59:59.999Z"),
            ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z"),
            ("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),
        ] {
            let got = parse_instant(text).map(|t| Rfc3339.format(t));
            assert_eq!(got.as_deref(), Some(want), "{text}");
        }
        // Out of range after the offset, impossible dates and times, and
        // forms RFC 3339 does not have.
        let bad = "2026 2026-1-01 2026-02-30 2025-02-29 2026-13-01 2026-00-10 2026-01-01Z \
                   +2026-01-01 ２026-01-01 now 2026-01-01T00:00:00 2026-01-01T24:00:00Z \
                   2026-01-01T00:60:00Z 2026-12-31T23:59:60Z 2026-01-01T00:00Z \
                   2026-01-01T00:00:00.Z 2026-01-01T00:00:00+0200 2026-01-01T00:00:00+24:00 \
                   2026-01-01T00:00:00Zjunk 0000-01-01T00:00:00+01:00 9999-12-31T23:00:00-01:00";
        for text in bad.split_whitespace().chain(["", "2026-01-01 00:00:00Z"]) {
            assert_eq!(parse_instant(text), None, "{text:?}");
        }
    }

    #[test]
    fn intervals_merge_touching_and_overlapping_ones() {
        let mut set = Intervals::default();
        assert!(set.is_empty() && set.covers(3, 3) && !set.covers(0, 1));
        for (a, b) in [(10, 20), (30, 40), (20, 25), (50, 60), (5, 6), (7, 7)] {
            set.insert(a, b);
        }
        let spans = |set: &Intervals| set.iter().collect::<Vec<_>>();
        assert_eq!(spans(&set), [(5, 6), (10, 25), (30, 40), (50, 60)]);
        set.insert(24, 55);
        assert_eq!((spans(&set), set.len()), (vec![(5, 6), (10, 60)], 2));
        assert!(set.covers(10, 60) && set.covers(5, 6) && set.covers(59, 60));
        assert!(!set.covers(5, 7) && !set.covers(9, 11) && !set.covers(59, 61));
        assert_eq!(set.gaps(0, 100), [(0, 5), (6, 10), (60, 100)]);
        assert_eq!(set.gaps(12, 40), []);
        assert_eq!(set.gaps(5, 12), [(6, 10)]);
        assert_eq!(set.gaps(70, 80), [(70, 80)]);
        set.insert(0, 100);
        assert_eq!(spans(&set), [(0, 100)]);
    }

    #[test]
    fn intervals_round_trip_through_json_and_refuse_anything_else() {
        let mut set = Intervals::default();
        set.insert(at("2026-01-01"), at("2026-01-08"));
        set.insert(at("2026-02-01T00:00:00.250Z"), at("2026-02-02"));
        let value = set.to_json();
        let want = json!([
            ["2026-01-01T00:00:00Z", "2026-01-08T00:00:00Z"],
            ["2026-02-01T00:00:00.250Z", "2026-02-02T00:00:00Z"]
        ]);
        assert_eq!(value, want);
        assert_eq!(Intervals::from_json(&value), Ok(set));
        assert_eq!(Intervals::from_json(&json!([])), Ok(Intervals::default()));
        let unsorted = json!([["2026-01-05", "2026-01-09"], ["2026-01-01", "2026-01-06"]]);
        let merged: Vec<_> = Intervals::from_json(&unsorted).unwrap().iter().collect();
        assert_eq!(merged, [(at("2026-01-01"), at("2026-01-09"))]);
        let pair = "entry 0: expected [start, end]";
        for (bad, message) in [
            (
                json!({}),
                "expected an array of [start, end] pairs, found {}",
            ),
            (json!(null), "expected an array"),
            (json!(["2026-01-01"]), pair),
            (json!([["2026-01-01"]]), pair),
            (json!([["2026-01-01", "2026-01-02", "2026-01-03"]]), pair),
            (json!([["2026-01-01", 5]]), pair),
            (
                json!([["2026-01-01", "2026-01-02"], ["x", "2026-01-02"]]),
                "entry 1: expected an RFC 3339 time, found \"x\"",
            ),
            (
                json!([["2026-01-02", "2026-01-01"]]),
                "is not before the end",
            ),
            (
                json!([["2026-01-02", "2026-01-02"]]),
                "is not before the end",
            ),
        ] {
            let err = Intervals::from_json(&bad).unwrap_err();
            assert!(err.contains(message), "{bad}: {err}");
        }
        let long = json!([[format!("2026-01-01{}", "x".repeat(500)), "2026-01-02"]]);
        assert!(Intervals::from_json(&long).unwrap_err().chars().count() < 100);
    }

    /// A step for the properties: fixed milliseconds or calendar months
    /// (with some hours, so that both parts move the boundaries).
    fn any_step() -> impl Strategy<Value = Step> {
        let fixed = (1i64..40 * DAY).prop_map(|millis| Step { months: 0, millis });
        let calendar = (1u32..30, 0i64..3).prop_map(|(months, h)| Step {
            months,
            millis: h * 3_600_000,
        });
        prop_oneof![fixed, calendar]
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config())]

        /// Windows tile the range: the first starts at the start, each
        /// starts at start + k·step and ends where the next starts, the
        /// last ends at the end, none is empty, and a fixed step gives
        /// ⌈length / step⌉ of them.
        #[test]
        fn windows_tile_the_range(
            start in at("1900-01-01")..at("2100-01-01"),
            length in 0i64..3 * 366 * DAY,
            step in any_step(),
        ) {
            let length = length % (5000 * (step.millis + i64::from(step.months) * 28 * DAY));
            let mut edge = start;
            let mut count = 0;
            for (from, to) in windows(start, start + length, &step) {
                prop_assert_eq!(Some(from), step.boundary(start, count));
                prop_assert!(from == edge && from < to);
                (edge, count) = (to, count + 1);
            }
            prop_assert_eq!(edge, start + length);
            if step.months == 0 {
                prop_assert_eq!(count as i64, (length + step.millis - 1) / step.millis);
            }
            prop_assert_eq!(Step::parse(&step.to_iso()), Ok(step));
        }

        /// The set agrees with a plain list of covered points.
        #[test]
        fn intervals_agree_with_a_model(spans in prop::collection::vec((0i64..60, 0i64..12), 0..12)) {
            let mut set = Intervals::default();
            let mut covered = [false; 80];
            for (a, len) in spans {
                set.insert(a, a + len);
                covered[a as usize..(a + len) as usize].fill(true);
            }
            let pairs: Vec<_> = set.iter().collect();
            prop_assert!(pairs.windows(2).all(|p| p[0].1 < p[1].0), "{:?}", pairs);
            let gaps: Vec<i64> = set.gaps(0, 80).iter().flat_map(|&(a, b)| a..b).collect();
            let model: Vec<i64> = (0..80).filter(|&t| !covered[t as usize]).collect();
            prop_assert_eq!(gaps, model);
            for (a, b) in [(0, 80), (3, 9), (20, 21), (40, 60)] {
                let inside = covered[a as usize..b as usize].iter().all(|&c| c);
                prop_assert_eq!(set.covers(a, b), inside, "[{}, {})", a, b);
            }
            prop_assert_eq!(Intervals::from_json(&set.to_json()), Ok(set));
        }
    }
}
