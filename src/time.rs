//! RFC 3339 timestamps in UTC, from the calendar math of one small
//! function (H. Hinnant's civil-from-days): the summary's `started_at` and
//! the log lines' `ts`.

use std::time::{SystemTime, UNIX_EPOCH};

/// `2026-11-28T12:00:00Z` (UTC, whole seconds).
pub fn rfc3339(t: SystemTime) -> String {
    let (date, secs, _) = civil(t);
    format!("{date}T{}Z", clock(secs))
}

/// `2026-11-28T12:00:00.123Z` (UTC, milliseconds), for log lines.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let (date, secs, millis) = civil(t);
    format!("{date}T{}.{millis:03}Z", clock(secs))
}

/// The UTC date of `t`, the seconds into its day, and the milliseconds.
fn civil(t: SystemTime) -> (String, u64, u32) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (H. Hinnant's algorithm), valid for all dates after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let date = format!("{year:04}-{month:02}-{day:02}");
    (date, rem, since.subsec_millis())
}

/// `hh:mm:ss` of seconds into a day.
fn clock(secs: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
