//! The quota a server announces in its response headers (SPEC §4), so a
//! source waits for the reset instead of learning the quota by being
//! refused.
//!
//! Three families are read, the first one present wins:
//! - `RateLimit` (IETF draft -08 on: `"default";r=50;t=30`, one item per
//!   policy — the one with the least left counts; and draft -07's
//!   `limit=100, remaining=50, reset=5`);
//! - `RateLimit-Remaining` + `RateLimit-Reset` (seconds);
//! - `X-RateLimit-Remaining` + `X-RateLimit-Reset` (and `X-Rate-Limit-*`):
//!   seconds, or epoch seconds when the value is past 10^9, as GitHub and X
//!   send.
//!
//! Malformed values are ignored (the draft says so): a header that cannot
//! be read says nothing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Values above this in a reset header are epoch seconds, not a delay.
const EPOCH_ABOVE: f64 = 1e9;

/// What the server says is left of its quota.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// Requests left in the current window.
    pub remaining: u64,
    /// Time until the window resets, when the server says.
    pub reset: Option<Duration>,
}

impl Quota {
    /// The quota the headers announce; `get` looks a header up by its
    /// lower-case name.
    pub fn read<'h>(get: impl Fn(&str) -> Option<&'h str>, now: SystemTime) -> Option<Quota> {
        if let Some(q) = get("ratelimit").and_then(draft) {
            return Some(q);
        }
        for (remaining, reset) in [
            ("ratelimit-remaining", "ratelimit-reset"),
            ("x-ratelimit-remaining", "x-ratelimit-reset"),
            ("x-rate-limit-remaining", "x-rate-limit-reset"),
        ] {
            if let Some(left) = get(remaining).and_then(count) {
                return Some(Quota {
                    remaining: left,
                    reset: get(reset).and_then(|v| reset_in(v, now)),
                });
            }
        }
        None
    }

    /// Whether nothing may be sent before the reset.
    pub fn exhausted(&self) -> bool {
        self.remaining == 0
    }
}

/// A remaining count: a non-negative integer (a decimal is floored).
fn count(v: &str) -> Option<u64> {
    let v = v.trim();
    v.parse::<u64>().ok().or_else(|| {
        v.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

/// A reset value: seconds from now, or an epoch instant past 10^9.
fn reset_in(v: &str, now: SystemTime) -> Option<Duration> {
    let secs = v
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && *f >= 0.0)?;
    if secs > EPOCH_ABOVE {
        let at = UNIX_EPOCH + Duration::try_from_secs_f64(secs).ok()?;
        Some(at.duration_since(now).unwrap_or(Duration::ZERO))
    } else {
        Duration::try_from_secs_f64(secs).ok()
    }
}

/// `RateLimit`: the draft's structured list (`"name";r=…;t=…`, several
/// policies allowed: the one with the least left), or draft -07's
/// `limit=…, remaining=…, reset=…`.
fn draft(value: &str) -> Option<Quota> {
    if value.contains("remaining=") {
        let mut remaining = None;
        let mut reset = None;
        for pair in value.split([',', ';']) {
            match pair.trim().split_once('=') {
                Some(("remaining", v)) => remaining = count(v),
                Some(("reset", v)) => reset = v.trim().parse::<f64>().ok(),
                _ => {}
            }
        }
        return Some(Quota {
            remaining: remaining?,
            reset: reset.and_then(|s| Duration::try_from_secs_f64(s).ok()),
        });
    }
    value
        .split(',')
        .filter_map(|item| {
            let mut remaining = None;
            let mut reset = None;
            for param in item.split(';').skip(1) {
                match param.trim().split_once('=') {
                    Some(("r", v)) => remaining = count(v),
                    Some(("t", v)) => {
                        reset = v
                            .trim()
                            .parse::<f64>()
                            .ok()
                            .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    }
                    _ => {}
                }
            }
            Some(Quota {
                remaining: remaining?,
                reset,
            })
        })
        .min_by_key(|q| q.remaining)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(headers: &[(&str, &str)]) -> Option<Quota> {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        Quota::read(
            |name| headers.iter().find(|(k, _)| *k == name).map(|(_, v)| *v),
            now,
        )
    }

    fn q(remaining: u64, reset_ms: Option<u64>) -> Option<Quota> {
        Some(Quota {
            remaining,
            reset: reset_ms.map(Duration::from_millis),
        })
    }

    #[test]
    fn every_family_is_read() {
        assert_eq!(
            read(&[("ratelimit", "\"default\";r=50;t=30")]),
            q(50, Some(30_000))
        );
        assert_eq!(
            read(&[("ratelimit", "\"burst\";r=5;t=1, \"daily\";r=0;t=3600")]),
            q(0, Some(3_600_000))
        );
        assert_eq!(
            read(&[("ratelimit", "limit=100, remaining=0, reset=5")]),
            q(0, Some(5000))
        );
        assert_eq!(
            read(&[("ratelimit-remaining", "0"), ("ratelimit-reset", "2.5")]),
            q(0, Some(2500))
        );
        // GitHub: the reset is an epoch second.
        assert_eq!(
            read(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1700000040")
            ]),
            q(0, Some(40_000))
        );
        assert_eq!(
            read(&[
                ("x-rate-limit-remaining", "7"),
                ("x-rate-limit-reset", "60")
            ]),
            q(7, Some(60_000))
        );
        // A reset already past is no wait.
        assert_eq!(
            read(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1600000000")
            ]),
            q(0, Some(0))
        );
    }

    #[test]
    fn malformed_values_say_nothing() {
        assert_eq!(read(&[]), None);
        assert_eq!(read(&[("ratelimit", "garbage")]), None);
        assert_eq!(read(&[("ratelimit", "\"p\";t=5")]), None);
        assert_eq!(read(&[("x-ratelimit-remaining", "-1")]), None);
        assert_eq!(
            read(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "soon")
            ]),
            q(0, None)
        );
        assert!(!read(&[("ratelimit-remaining", "3")]).unwrap().exhausted());
    }
}
