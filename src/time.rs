//! RFC 3339 timestamps in UTC of the clock: the summary's `started_at`,
//! the log lines' `ts`, Singer's `time_extracted`. The calendar math is
//! the record coercion's ([`format_rfc3339_utc`]), so there is one.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::coerce::format_rfc3339_utc;

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
