//! The one calendar of the crate: RFC 3339 timestamps in UTC, for the
//! clock (the summary's `started_at`, the log lines' `ts`, Singer's
//! `time_extracted`) and for the records' `timestamp` fields, through one
//! formatter ([`format_rfc3339_utc`]) and the proleptic Gregorian day
//! arithmetic beneath it.

use std::time::{SystemTime, UNIX_EPOCH};

/// First second of 0000-01-01 and last second of 9999-12-31, in UTC.
pub const MIN_SECS: i64 = -62_167_219_200;
pub const MAX_SECS: i64 = 253_402_300_799;

/// `YYYY-MM-DDThh:mm:ss[.frac]Z` for `secs` since the epoch, `frac` being
/// the fraction's digits (written as given; empty for none). `None` when
/// the year is outside 0000–9999 or `frac` is not ASCII digits.
///
/// One formatter for every UTC timestamp: the records' timestamps and
/// the clock stamps below.
pub fn format_rfc3339_utc(secs: i64, frac: &str) -> Option<String> {
    if !(MIN_SECS..=MAX_SECS).contains(&secs) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let (h, m, s) = (sod / 3600, sod % 3600 / 60, sod % 60);
    let dot = if frac.is_empty() { "" } else { "." };
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}{dot}{frac}Z"
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// days-from-civil), for any year.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number: the inverse of [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `2026-11-28T12:00:00Z` (UTC, whole seconds).
pub fn rfc3339(t: SystemTime) -> String {
    format(t, false)
}

/// `2026-11-28T12:00:00.123Z` (UTC, milliseconds), for log lines.
pub fn rfc3339_millis(t: SystemTime) -> String {
    format(t, true)
}

/// `t` through the one UTC formatter; a clock before 1970 reads as 1970,
/// one past the year 9999 as its last second.
fn format(t: SystemTime, millis: bool) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    let frac = match millis {
        true => format!("{:03}", since.subsec_millis()),
        false => String::new(),
    };
    format_rfc3339_utc(secs, &frac)
        .unwrap_or_else(|| format!("9999-12-31T23:59:59{}Z", if millis { ".999" } else { "" }))
}

/// Milliseconds since the Unix epoch (negative before it): the unit of
/// time windows.
pub fn epoch_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn civil_days_round_trip_at_the_edges() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(0, 1, 1) * 86_400, MIN_SECS);
        assert_eq!(days_from_civil(9999, 12, 31) * 86_400 + 86_399, MAX_SECS);
        for days in (MIN_SECS / 86_400..=MAX_SECS / 86_400).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=12).contains(&m) && (1..=days_in_month(y, m)).contains(&d));
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_867_200);
        assert_eq!(rfc3339(t), "2026-11-28T12:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400 + 86_399);
        assert_eq!(rfc3339(leap), "2000-02-29T23:59:59Z");
        let t = leap + Duration::from_millis(7);
        assert_eq!(rfc3339_millis(t), "2000-02-29T23:59:59.007Z");
        assert_eq!(
            rfc3339_millis(t + Duration::from_millis(993)),
            "2000-03-01T00:00:00.000Z"
        );
    }
}
